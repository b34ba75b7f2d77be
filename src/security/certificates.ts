import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** The files `placestore certs` writes, and `--certs-dir` reads. */
export const CERT_FILES = {
  ca: 'ca.crt',
  caKey: 'ca.key',
  placeCert: 'place.crt',
  placeKey: 'place.key',
  clientCert: 'client.crt',
  clientKey: 'client.key',
} as const;

/** The organizational unit that marks a certificate as a place's (links between places need one). */
export const PLACE_UNIT = 'place';
export const CLIENT_UNIT = 'client';

/** What `placestore certs` was asked for. */
export interface CertsRequest {
  dir: string;
  /** Host names and IP addresses the places are reached at: the place certificate's SANs. */
  hosts: string[];
  days: number;
  /** Overwrite files already there. */
  force: boolean;
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('openssl is not installed (Debian package openssl)');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
}

/** A SAN entry for a host: IP addresses as IP, anything else as DNS. */
function san(host: string): string {
  if (isIP(host) !== 0) return `IP:${host}`;
  if (!/^[A-Za-z0-9*]([A-Za-z0-9.-]{0,252})$/.test(host))
    throw new Error(`'${host}' is neither an IP address nor a host name`);
  return `DNS:${host}`;
}

/**
 * Writes a CA and, signed by it, a place certificate (SANs: the hosts; usable to serve and to dial,
 * as places do both) and a client certificate, with P-256 keys readable by their owner only. The
 * places' certificates say OU=place; only those may speak the places' protocol.
 */
export function writeCertificates(req: CertsRequest): string[] {
  if (req.hosts.length === 0) throw new Error('--hosts needs at least one host name or IP address');
  const sans = req.hosts.map(san).join(',');
  mkdirSync(req.dir, { recursive: true });
  const path = (f: string) => join(req.dir, f);
  const written = Object.values(CERT_FILES);
  const present = written.filter((f) => existsSync(path(f)));
  if (present.length > 0 && !req.force)
    throw new Error(`${req.dir} already holds ${present.join(', ')}; use --force to replace them`);
  const days = String(req.days);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    '-new',
    ...key,
    '-keyout',
    path(CERT_FILES.caKey),
    '-out',
    path(CERT_FILES.ca),
    '-days',
    days,
    '-subj',
    '/O=placestore/CN=placestore CA',
  ]);
  const sign = (unit: string, certFile: string, keyFile: string, extensions: string) => {
    const csr = path(`${unit}.csr`);
    const ext = path(`${unit}.ext`);
    try {
      writeFileSync(ext, `${extensions}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n`);
      openssl([
        'req',
        '-new',
        ...key,
        '-keyout',
        path(keyFile),
        '-out',
        csr,
        '-subj',
        `/O=placestore/OU=${unit}/CN=placestore ${unit}`,
      ]);
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        path(CERT_FILES.ca),
        '-CAkey',
        path(CERT_FILES.caKey),
        '-set_serial',
        `0x${Date.now().toString(16)}${unit === PLACE_UNIT ? '1' : '2'}`,
        '-out',
        path(certFile),
        '-days',
        days,
        '-extfile',
        ext,
      ]);
    } finally {
      rmSync(csr, { force: true });
      rmSync(ext, { force: true });
    }
  };
  sign(
    PLACE_UNIT,
    CERT_FILES.placeCert,
    CERT_FILES.placeKey,
    `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth`,
  );
  sign(CLIENT_UNIT, CERT_FILES.clientCert, CERT_FILES.clientKey, 'extendedKeyUsage=clientAuth');
  for (const f of [CERT_FILES.caKey, CERT_FILES.placeKey, CERT_FILES.clientKey]) chmodSync(path(f), 0o600);
  return written.map(path);
}

/** TLS material as the transport takes it: the CA to trust, and this side's certificate and key. */
export interface TlsMaterial {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Reads what a place (its certificate is required) or a client (its certificate is optional: a
 * cluster may accept clients without one) needs from a certs directory, with errors that name the
 * missing file.
 */
export function readCertsDir(dir: string, who: 'place' | 'client'): TlsMaterial {
  const read = (f: string, required: boolean): Buffer | undefined => {
    const p = join(dir, f);
    if (!existsSync(p)) {
      if (required) throw new Error(`--certs-dir ${dir}: no ${f} there (placestore certs writes it)`);
      return undefined;
    }
    return readFileSync(p);
  };
  const ca = read(CERT_FILES.ca, true)!;
  const [certFile, keyFile] =
    who === 'place'
      ? [CERT_FILES.placeCert, CERT_FILES.placeKey]
      : [CERT_FILES.clientCert, CERT_FILES.clientKey];
  const cert = read(certFile, who === 'place');
  const key = read(keyFile, who === 'place' || cert !== undefined);
  return { ca, cert, key };
}

/** Writes text to a file readable by its owner only. */
export function writePrivate(path: string, text: string): void {
  // A new file, private from its first byte, then renamed over the old: never readable by others.
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/** Reads a cluster secret file (surrounding white space dropped); at least 16 bytes. */
export function readSecretFile(file: string): Buffer {
  if (!existsSync(file)) throw new Error(`--cluster-secret-file ${file}: no such file`);
  const secret = Buffer.from(readFileSync(file, 'utf8').trim(), 'utf8');
  if (secret.length < 16)
    throw new Error(`--cluster-secret-file ${file}: the secret must be at least 16 bytes`);
  return secret;
}

/** Writes a new random cluster secret (32 bytes, as hex) to file, readable by its owner only. */
export function writeSecretFile(file: string): void {
  writePrivate(file, `${randomBytes(32).toString('hex')}\n`);
}
