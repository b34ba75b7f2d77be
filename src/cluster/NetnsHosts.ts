import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One host: a network namespace with its own address on the bridge. */
export interface NetnsHost {
  /** The namespace's name (`ip netns exec NAME ...`). */
  ns: string;
  /** Its address on the bridge. */
  ip: string;
}

/**
 * Hosts on one machine for tests of what crosses a network (Jepsen's setup, in small): N network
 * namespaces, each with a veth pair on one bridge in the root namespace, which holds the bridge's
 * first address and reaches every host (clients run there). Links between hosts are cut with nftables
 * drop rules inside the namespaces, one way or both; nothing else is touched. Every address is inside
 * a subnet of 10.0.0.0/8 the hosts own, and `destroy` removes everything they made.
 */
export class NetnsHosts {
  /** One-way cuts, as "from>to" host indexes. */
  private readonly cuts = new Set<string>();

  private constructor(
    readonly hosts: NetnsHost[],
    readonly rootIp: string,
    private readonly bridge: string,
  ) {}

  /** Why namespaced hosts cannot be made here (not root, no `ip` or `nft`), or null when they can. */
  static unavailable(): string | null {
    if (process.platform !== 'linux') return 'network namespaces need Linux';
    if (process.getuid?.() !== 0) return 'network namespaces need root';
    for (const tool of ['/usr/sbin/ip', '/usr/sbin/nft'])
      if (!existsSync(tool) && !existsSync(tool.replace('/usr/sbin', '/sbin')))
        return `${tool.split('/').pop()} is not installed (Debian: iproute2, nftables)`;
    return null;
  }

  /**
   * Makes count hosts. name (up to 6 letters and digits) prefixes every namespace and interface, so
   * that several sets can live side by side; the subnet is chosen from it.
   */
  static async create(count: number, name = `p${process.pid % 100_000}`): Promise<NetnsHosts> {
    if (!/^[a-z0-9]{1,6}$/.test(name))
      throw new Error(`host set name '${name}' must be 1-6 lowercase letters or digits`);
    if (count < 1 || count > 200) throw new Error(`host count must be 1..200, got ${count}`);
    let h = 0;
    for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 65_536;
    const prefix = `10.${100 + (h % 150)}.${Math.floor(h / 150) % 250}`;
    const bridge = `${name}br`;
    const hosts = Array.from({ length: count }, (_, i) => ({
      ns: `${name}h${i}`,
      ip: `${prefix}.${10 + i}`,
    }));
    const set = new NetnsHosts(hosts, `${prefix}.1`, bridge);
    try {
      await ip('link', 'add', bridge, 'type', 'bridge');
      await ip('addr', 'add', `${prefix}.1/24`, 'dev', bridge);
      await ip('link', 'set', bridge, 'up');
      for (const [i, host] of hosts.entries()) {
        const outside = `${name}v${i}`;
        await ip('netns', 'add', host.ns);
        await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns);
        await ip('link', 'set', outside, 'master', bridge);
        await ip('link', 'set', outside, 'up');
        await ip('-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0');
        await ip('-n', host.ns, 'link', 'set', 'eth0', 'up');
        await ip('-n', host.ns, 'link', 'set', 'lo', 'up');
        await set.writeRules(i);
      }
    } catch (err) {
      await set.destroy();
      throw err;
    }
    return set;
  }

  /** The argv prefix that runs a command inside host i. */
  exec(i: number): string[] {
    return ['ip', 'netns', 'exec', this.host(i).ns];
  }

  /** The index of the host with this address, or -1. */
  indexOf(ipAddress: string): number {
    return this.hosts.findIndex((h) => h.ip === ipAddress);
  }

  /** Cuts what host from sends to host to (one way); to cut both ways, cut each. */
  async cut(from: number, to: number): Promise<void> {
    this.host(from);
    this.host(to);
    this.cuts.add(`${from}>${to}`);
    await this.writeRules(from);
  }

  /** Heals a one-way cut. */
  async heal(from: number, to: number): Promise<void> {
    if (!this.cuts.delete(`${from}>${to}`)) return;
    await this.writeRules(from);
  }

  /** Heals every cut. */
  async healAll(): Promise<void> {
    const from = new Set([...this.cuts].map((c) => Number(c.split('>')[0])));
    this.cuts.clear();
    for (const i of from) await this.writeRules(i);
  }

  /** The cuts in place, as [from, to] host indexes. */
  get cutLinks(): [number, number][] {
    return [...this.cuts].map((c) => c.split('>').map(Number) as [number, number]);
  }

  /** Removes every namespace, interface and rule this set made. */
  async destroy(): Promise<void> {
    for (const [i, host] of this.hosts.entries()) {
      // The outside end goes at once (a namespace lingers while a process still runs in it).
      await ip('link', 'del', `${this.bridge.slice(0, -2)}v${i}`).catch(() => {});
      await ip('netns', 'del', host.ns).catch(() => {});
    }
    await ip('link', 'del', this.bridge).catch(() => {});
  }

  private host(i: number): NetnsHost {
    const h = this.hosts[i];
    if (h === undefined) throw new Error(`no host ${i} (there are ${this.hosts.length})`);
    return h;
  }

  /** Rewrites host i's table in one go: a drop rule per host it may not send to. */
  private async writeRules(i: number): Promise<void> {
    const drops = [...this.cuts]
      .filter((c) => c.startsWith(`${i}>`))
      .map((c) => this.host(Number(c.split('>')[1])).ip);
    const lines = [
      'table inet placestore {}',
      'delete table inet placestore',
      'table inet placestore {',
      '  chain out {',
      '    type filter hook output priority 0; policy accept;',
      ...drops.map((d) => `    ip daddr ${d} drop`),
      '  }',
      '}',
    ];
    await runWithInput('ip', ['netns', 'exec', this.host(i).ns, 'nft', '-f', '-'], lines.join('\n'));
  }
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000 });
}

function runWithInput(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve();
    });
    child.stdin?.end(input);
  });
}
