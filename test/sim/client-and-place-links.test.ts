import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../src/sim/SimCluster.js';
import type { PeerRole, WireMessage } from '../../src/transport/Transport.js';

async function cluster(): Promise<SimCluster> {
  const sim = new SimCluster({ partitionCount: 4, minPlaces: 3 });
  await sim.start(3);
  await sim.net.runFor(500);
  return sim;
}

/** A connection to the leader dialled as role (from name); collects what comes back and notices the close. */
function connection(sim: SimCluster, role: PeerRole, name = `${role}-${Math.random()}`) {
  const t = sim.net.transport(name, role);
  const replies: WireMessage[] = [];
  let closed = false;
  t.onMessage((_l, m) => replies.push(m));
  t.onLinkClosed(() => {
    closed = true;
  });
  const link = t.linkTo(sim.leader()!.address, 'control');
  return { link, replies, isClosed: () => closed };
}

/** Forged place-protocol messages that would each change a place's state if believed. */
function forgeries(sim: SimCluster): WireMessage[] {
  const t = sim.leaderTable()!;
  const huge = 1_000_000;
  const taken = { ...t, term: huge, version: huge, valid: false, invalidReason: 'forged' };
  return [
    { t: 'invalid', tv: huge, term: huge, reason: 'forged' },
    { t: 'tableUpdate', tv: huge, table: taken },
    { t: 'tablePush', tv: huge, table: taken },
    { t: 'vote', tv: huge, term: huge, id: 2, table: t },
    { t: 'hb', tv: huge, term: huge, id: 1, ts: 0, lead: true },
    { t: 'launch-missiles' },
  ];
}

describe('client connections and place connections', () => {
  it('a client connection that sends anything but a client request is told why and closed; nothing changes', async () => {
    const sim = await cluster();
    const c = sim.client();
    await sim.settle(c.put('k', 'before'));
    const before = sim.leaderTable()!;
    for (const forged of forgeries(sim)) {
      const conn = connection(sim, 'client');
      conn.link.send(forged);
      await sim.net.runUntil(() => conn.isClosed(), 2000);
      expect(conn.replies).toHaveLength(1);
      expect(conn.replies[0]).toMatchObject({ t: 'err', code: 'not_a_client_request' });
      expect(String(conn.replies[0]!.msg)).toContain(`'${forged.t}' is not a client request`);
    }
    await sim.net.runFor(2000);
    const after = sim.leaderTable()!;
    expect([after.term, after.valid]).toEqual([before.term, true]);
    expect(sim.places.every((p) => p.node.place.invalid === null)).toBe(true);
    expect(await sim.settle(c.get('k'))).toBe('before');
  });

  it('a client connection may ask for the table and the status, and operate', async () => {
    const sim = await cluster();
    const conn = connection(sim, 'client');
    conn.link.send({ t: 'tableGet', tv: 0 });
    conn.link.send({ t: 'status', id: 7, tv: 0 });
    conn.link.send({ t: 'op', id: 8, c: 'raw', tv: 0, o: 'get', k: 'nothing' });
    await sim.net.runUntil(() => conn.replies.length === 3, 2000);
    expect(conn.isClosed()).toBe(false);
    const answers = conn.replies.filter((r) => r.t !== 'err' && r.t !== 'res');
    expect(answers.map((r) => r.t).sort()).toEqual(['statusReply', 'table']);
    // The operation is answered as any: a redirect, when the leader is not the key's primary.
    const op = conn.replies.find((r) => r.t === 'err' || r.t === 'res')!;
    expect(op.id).toBe(8);
    expect(op.code).not.toBe('not_a_client_request');
  });

  it("an invalid notice, even over a member's connection, does not make a valid store invalid", async () => {
    const sim = await cluster();
    const member = sim.places.find((p) => p !== sim.leader())!;
    const conn = connection(sim, 'place', member.address);
    conn.link.send({ t: 'invalid', tv: 1_000_000, term: 1_000_000, reason: 'forged' });
    // The notice is only a hint: the place asks the sender for its table, which this one never sends.
    await sim.net.runUntil(() => conn.replies.some((r) => r.t === 'tableGet'), 2000);
    await sim.net.runFor(1000);
    expect(sim.places.every((p) => p.node.place.invalid === null)).toBe(true);
    expect(sim.leaderTable()!.valid).toBe(true);
  });

  it('a connection that claims to be a place the table does not list is refused, message by message', async () => {
    const sim = await cluster();
    const before = sim.leaderTable()!;
    const conn = connection(sim, 'place', 'stranger:7400');
    for (const forged of forgeries(sim)) conn.link.send(forged);
    await sim.net.runUntil(() => conn.replies.length === forgeries(sim).length, 2000);
    expect(conn.replies.every((r) => r.t === 'err' && r.code === 'not_a_member')).toBe(true);
    expect(String(conn.replies[0]!.msg)).toMatch(/'stranger:7400' is not a member of this cluster's table/);
    await sim.net.runFor(2000);
    const after = sim.leaderTable()!;
    expect([after.term, after.valid]).toEqual([before.term, true]);
    expect(sim.places.every((p) => p.node.place.invalid === null)).toBe(true);
  });

  it('a new place may still join: the join handshake is the way in', async () => {
    const sim = await cluster();
    const conn = connection(sim, 'place', 'newcomer:7400');
    conn.link.send({ t: 'join', tv: 0, address: 'newcomer:7400', pid: 4242, zone: null, spare: true });
    await sim.net.runUntil(() => conn.replies.length > 0, 2000);
    expect(conn.replies[0]!.code).not.toBe('not_a_member');
  });
});
