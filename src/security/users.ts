import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writePrivate } from './certificates.js';

/** What a user may do: read (get, status), write (read + put, cas, del, submit), admin (everything). */
export type Role = 'read' | 'write' | 'admin';
export const ROLES: readonly Role[] = ['read', 'write', 'admin'];

/** scrypt's cost, as stored with each hash (so it can grow without breaking older entries). */
const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32 } as const;

/** One user as the users file keeps it: never the password, only its scrypt hash and salt. */
export interface StoredUser {
  name: string;
  role: Role;
  salt: string;
  hash: string;
  N: number;
  r: number;
  p: number;
}

interface UsersFile {
  users: StoredUser[];
}

function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      password,
      salt,
      SCRYPT.keylen,
      { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/** Reads a users file; a missing file is an empty list. Throws, naming the file, when it is malformed. */
export function readUsers(file: string): StoredUser[] {
  if (!existsSync(file)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`users file ${file}: not JSON (${(err as Error).message})`);
  }
  const users = (parsed as UsersFile | null)?.users;
  if (!Array.isArray(users)) throw new Error(`users file ${file}: expected {"users": [...]}`);
  for (const [i, u] of users.entries()) {
    const ok =
      typeof u === 'object' &&
      u !== null &&
      typeof u.name === 'string' &&
      NAME.test(u.name) &&
      ROLES.includes(u.role) &&
      typeof u.salt === 'string' &&
      typeof u.hash === 'string' &&
      Number.isInteger(u.N) &&
      Number.isInteger(u.r) &&
      Number.isInteger(u.p);
    if (!ok)
      throw new Error(`users file ${file}: entry ${i} is not a user (name, role, salt, hash, N, r, p)`);
  }
  return users;
}

/** Adds (or with replace, replaces) a user in the file, with a fresh salt; the password itself is never stored. */
export async function addUser(
  file: string,
  name: string,
  role: Role,
  password: string,
  replace: boolean,
): Promise<void> {
  if (!NAME.test(name)) throw new Error(`'${name}' is not a user name (1 to 64 of A-Z a-z 0-9 _ . @ -)`);
  if (password.length === 0) throw new Error('the password is empty');
  const users = readUsers(file);
  const existing = users.findIndex((u) => u.name === name);
  if (existing >= 0 && !replace)
    throw new Error(`user '${name}' is already in ${file}; use --force to replace it`);
  const salt = randomBytes(16);
  const hash = await derive(password, salt, SCRYPT);
  const user: StoredUser = {
    name,
    role,
    salt: salt.toString('base64'),
    hash: hash.toString('base64'),
    N: SCRYPT.N,
    r: SCRYPT.r,
    p: SCRYPT.p,
  };
  if (existing >= 0) users[existing] = user;
  else users.push(user);
  writePrivate(file, `${JSON.stringify({ users }, null, 2)}\n`);
}

/** Failed logins remembered per source, for the delay before the next answer. */
const MAX_SOURCES = 10_000;
const BASE_DELAY_MS = 100;
const MAX_DELAY_MS = 10_000;

/**
 * Checks passwords against the users file: in constant time (the hashes compared with
 * timingSafeEqual, and an unknown name costs a scrypt all the same), and with failures from one
 * source answered ever later (100 ms doubling to 10 s) so that guessing is slow.
 */
export class Authenticator {
  private users = new Map<string, StoredUser>();
  private readonly failures = new Map<string, { count: number; until: number }>();
  private readonly decoy = { salt: randomBytes(16), hash: randomBytes(SCRYPT.keylen) };

  constructor(
    private readonly file: string,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.reload();
  }

  /** Reads the file again (SIGHUP); on error the users stay as they were and the error is thrown. */
  reload(): void {
    this.users = new Map(readUsers(this.file).map((u) => [u.name, u]));
  }

  /** How many users it knows. */
  get size(): number {
    return this.users.size;
  }

  /** How long logins from source are refused unchecked (after a wrong password), ms; 0 when not. */
  retryAfterMs(source: string): number {
    const f = this.failures.get(source);
    return f === undefined ? 0 : Math.max(0, f.until - this.nowMs());
  }

  /** The role a user has now, or null when the file no longer lists it. */
  roleOf(name: string): Role | null {
    return this.users.get(name)?.role ?? null;
  }

  /**
   * The user's role when password is its own; else null and why, answered only after this source's
   * delay. A source inside the delay of its last failure is refused at once, without a check (so
   * many connections at once guess no faster, and cost no scrypt).
   */
  async verify(
    source: string,
    name: string,
    password: string,
  ): Promise<{ role: Role } | { role: null; why: string }> {
    const now = this.nowMs();
    const before = this.failures.get(source);
    if (before !== undefined && now < before.until) {
      const s = Math.ceil((before.until - now) / 1000);
      return { role: null, why: `too many wrong passwords from this address: retry in ${s} s` };
    }
    const user = this.users.get(name);
    const cost = user ?? SCRYPT;
    const salt = user === undefined ? this.decoy.salt : Buffer.from(user.salt, 'base64');
    const expected = user === undefined ? this.decoy.hash : Buffer.from(user.hash, 'base64');
    const got = await derive(password, salt, cost);
    const match = got.length === expected.length && timingSafeEqual(got, expected) && user !== undefined;
    if (match) {
      this.failures.delete(source);
      return { role: user.role };
    }
    const count = (before?.count ?? 0) + 1;
    const delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (count - 1));
    this.failures.delete(source);
    this.failures.set(source, { count, until: this.nowMs() + delay });
    // Bounded: the oldest source is forgotten first.
    if (this.failures.size > MAX_SOURCES) this.failures.delete(this.failures.keys().next().value!);
    await new Promise((r) => setTimeout(r, delay));
    return { role: null, why: 'wrong user name or password' };
  }
}

/** True when role may send a request of type t (an op of kind o): read, write or admin. */
export function roleAllows(role: Role, t: string, o: unknown): boolean {
  if (role === 'admin') return true;
  if (t !== 'op') return t === 'status' || t === 'tableGet' || t === 'events';
  if (o === 'get') return true;
  return role === 'write';
}
