import net from 'node:net';

/**
 * A raw RESP connection for tests: sends bytes, and reads whole replies as the exact bytes the server
 * wrote (so replies of two servers can be compared byte for byte).
 */
export class RawResp {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  /** Connects to host:port. */
  static connect(address: string): Promise<RawResp> {
    const [host, port] = [address.replace(/:\d+$/, ''), Number(address.replace(/^.*:/, ''))];
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new RawResp(s)));
      s.once('error', reject);
    });
  }

  /** Sends a command as an array of bulk strings. */
  send(...args: (string | Buffer)[]): void {
    this.socket.write(encodeCommand(args));
  }

  /** Sends raw bytes. */
  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** The next whole reply's bytes (waits up to timeoutMs); null when the connection closed first. */
  async reply(timeoutMs = 5000): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = replyEnd(this.buf, 0);
      if (end > 0) {
        const r = this.buf.subarray(0, end);
        this.buf = this.buf.subarray(end);
        return r;
      }
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no whole reply within ${timeoutMs} ms; have ${JSON.stringify(this.buf.toString())}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a command and returns its reply as text. */
  async call(...args: (string | Buffer)[]): Promise<string> {
    this.send(...args);
    return (await this.reply())?.toString('latin1') ?? '(closed)';
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A command as RESP: an array of bulk strings. */
export function encodeCommand(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Where the reply starting at off ends (exclusive), or -1 when it is not all there. */
function replyEnd(b: Buffer, off: number): number {
  if (off >= b.length) return -1;
  const lf = b.indexOf(10, off);
  if (lf < 0) return -1;
  const type = String.fromCharCode(b[off]!);
  const n = Number(b.toString('latin1', off + 1, lf - 1));
  switch (type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
      return lf + 1;
    case '$':
    case '=':
    case '!':
      if (n < 0) return lf + 1;
      return lf + 1 + n + 2 <= b.length ? lf + 1 + n + 2 : -1;
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      if (n < 0) return lf + 1;
      const items = type === '%' || type === '|' ? n * 2 : n;
      let at = lf + 1;
      for (let i = 0; i < items; i++) {
        at = replyEnd(b, at);
        if (at < 0) return -1;
      }
      return at;
    }
    default:
      throw new Error(`not a RESP reply at ${off}: ${JSON.stringify(b.toString('latin1', off, off + 40))}`);
  }
}
