import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Authenticator, addUser, roleAllows } from '../../src/security/users.js';

const dir = mkdtempSync(join(tmpdir(), 'placestore-users-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('users', () => {
  it('the file keeps a salted scrypt hash, never the password, readable by its owner only', async () => {
    const file = join(dir, 'a.json');
    await addUser(file, 'alice', 'admin', 'correct horse', false);
    await addUser(file, 'bob', 'read', 'correct horse', false);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('correct horse');
    const users = JSON.parse(text).users;
    expect(users.map((u: { name: string; role: string }) => [u.name, u.role])).toEqual([
      ['alice', 'admin'],
      ['bob', 'read'],
    ]);
    // Same password, different salts: different hashes.
    expect(users[0].hash).not.toBe(users[1].hash);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await expect(addUser(file, 'bob', 'write', 'x', false)).rejects.toThrow(/already in .*--force/);
    await addUser(file, 'bob', 'write', 'new one', true);
    const auth = new Authenticator(file);
    expect(await auth.verify('a', 'bob', 'new one')).toEqual({ role: 'write' });
    await expect(addUser(file, 'no spaces', 'read', 'x', false)).rejects.toThrow(/is not a user name/);
  });

  it('checks passwords, and answers each further failure from one source later than the last', async () => {
    const file = join(dir, 'b.json');
    await addUser(file, 'carol', 'write', 'pw', false);
    const auth = new Authenticator(file);
    expect(await auth.verify('10.0.0.1', 'carol', 'pw')).toEqual({ role: 'write' });
    expect(await auth.verify('10.0.0.1', 'nobody', 'pw')).toEqual({
      role: null,
      why: 'wrong user name or password',
    });
    const took: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      expect((await auth.verify('10.0.0.1', 'carol', 'wrong')).role).toBeNull();
      took.push(performance.now() - t);
    }
    // The 2nd, 3rd and 4th failures from that source: at least 200, 400 and 800 ms.
    expect(took[0]).toBeGreaterThanOrEqual(195);
    expect(took[1]).toBeGreaterThanOrEqual(395);
    expect(took[2]).toBeGreaterThanOrEqual(795);
    // The right password still works, and resets the count.
    expect(await auth.verify('10.0.0.1', 'carol', 'pw')).toEqual({ role: 'write' });
    const t = performance.now();
    expect((await auth.verify('10.0.0.1', 'carol', 'wrong')).role).toBeNull();
    expect(performance.now() - t).toBeLessThan(took[2]!);
  });

  it('a source inside its delay is refused at once, unchecked, so parallel guesses are no faster', async () => {
    const file = join(dir, 'c.json');
    await addUser(file, 'dan', 'read', 'pw', false);
    const auth = new Authenticator(file);
    const first = auth.verify('10.0.0.2', 'dan', 'wrong');
    // While the first failure's delay runs, the right password from the same source is not checked.
    await vi.waitFor(() => expect(auth.retryAfterMs('10.0.0.2')).toBeGreaterThan(0), {
      timeout: 5000,
      interval: 5,
    });
    expect(await auth.verify('10.0.0.2', 'dan', 'pw')).toEqual({
      role: null,
      why: expect.stringMatching(/^too many wrong passwords from this address: retry in 1 s$/),
    });
    // Another source is not held up.
    expect(await auth.verify('10.0.0.3', 'dan', 'pw')).toEqual({ role: 'read' });
    expect((await first).role).toBeNull();
    expect(await auth.verify('10.0.0.2', 'dan', 'pw')).toEqual({ role: 'read' });
    expect(auth.roleOf('dan')).toBe('read');
    expect(auth.roleOf('nobody')).toBeNull();
  });

  it('roles: read gets and asks; write also changes; admin does anything', () => {
    expect(roleAllows('read', 'op', 'get')).toBe(true);
    expect(roleAllows('read', 'status', undefined)).toBe(true);
    expect(roleAllows('read', 'events', undefined)).toBe(true);
    for (const o of ['put', 'cas', 'del', 'submit']) {
      expect(roleAllows('read', 'op', o)).toBe(false);
      expect(roleAllows('write', 'op', o)).toBe(true);
    }
    expect(roleAllows('write', 'scale', undefined)).toBe(false);
    expect(roleAllows('admin', 'scale', undefined)).toBe(true);
  });
});
