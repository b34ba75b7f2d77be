import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';
import { processorRegistry } from '../../src/protocol/requests/processors.js';
import { bootstrapTable, formTable, type TableData } from '../../src/protocol/table/PartitionTable.js';
import { decodePlaceMessage, Rejection } from '../../src/protocol/wire/decode.js';
import type { WireMessage } from '../../src/protocol/wire/messages.js';

const rules = { limits: DEFAULT_LIMITS, processors: processorRegistry() };

function table(): TableData {
  const t = bootstrapTable({ id: 0, address: 'a:1', zone: null, pid: 1, state: 'active' }, 4, 2, 3);
  return formTable({
    ...t,
    members: [...t.members, { id: 1, address: 'b:1', zone: null, pid: 2, state: 'active' }],
  });
}

/** One well-formed message of every type a place acts on. */
const VALID: WireMessage[] = [
  { t: 'op', id: 1, c: 'c', tv: 0, o: 'put', k: 'k', v: Buffer.from([0xa1, 0x78]) },
  { t: 'repl', tv: 1, p: 0, e: 1, s: 1, k: 'k', v: null },
  { t: 'replBatch', tv: 1, es: [0, 1, 1, 'k', Buffer.from([1]), 'c', 4, 0, { ok: true }] },
  { t: 'replAcks', tv: 1, id: 1, as: [0, 1, 5] },
  { t: 'replReject', tv: 1, p: 0, e: 2, msg: 'newer' },
  {
    t: 'snap',
    tv: 1,
    p: 0,
    e: 1,
    s: 3,
    from: 0,
    i: 0,
    last: true,
    g: 1,
    kv: ['k', Buffer.from([1])],
    rs: ['c', 1, {}],
  },
  { t: 'snapAck', tv: 1, p: 0, e: 1, i: 0, g: 1, id: 1 },
  { t: 'copied', tv: 1, p: 0, to: 1, e: 1 },
  { t: 'handedOver', tv: 1, p: 0, from: 0, e: 1 },
  { t: 'hb', tv: 1, term: 1, id: 1, ts: 12.5 },
  { t: 'hbAck', tv: 1, term: 1, id: 0, ts: 12.5, lr: 400 },
  { t: 'join', tv: 0, address: 'c:1', zone: null, spare: true, pid: 3 },
  { t: 'joined', tv: 1, id: 2, table: table() },
  { t: 'tablePush', tv: 1, table: table() },
  { t: 'tableAck', tv: 1, term: 1, id: 2 },
  { t: 'vote', tv: 1, term: 2, id: 1 },
  { t: 'voteReply', tv: 1, term: 2, id: 2, granted: true, table: table() },
  { t: 'tableUpdate', tv: 1, table: table() },
  { t: 'tableGet', tv: 0 },
  { t: 'table', tv: 1, id: null, table: table() },
  { t: 'invalid', tv: 1, term: 1, reason: 'lost' },
  { t: 'status', tv: 0, id: 7 },
  { t: 'err', code: 'redirect', msg: 'not the leader', to: 'a:1' },
];

describe('messages are checked at the edge', () => {
  it('passes every well-formed message through as the same object', () => {
    for (const m of VALID) expect(decodePlaceMessage(m, rules), m.t).toBe(m);
  });

  it('names the field that is wrong', () => {
    const cases: [WireMessage, RegExp][] = [
      [{ t: 'hb', tv: 1, term: 1, id: 'one', ts: 1 }, /'hb' message: 'id' must be a place id/],
      [{ t: 'hb', tv: 1, term: -1, id: 1, ts: 1 }, /'term' must be a term/],
      [{ t: 'replAcks', tv: 1, id: 1, as: [0, 1] }, /'as' must be acknowledgements/],
      [{ t: 'replBatch', tv: 1, es: [0, 1, 1, 42, null, null, null, 0, null] }, /'es'/],
      [{ t: 'snap', tv: 1, p: 0, e: 1, s: 3, from: 0, i: 0, last: true, g: 1, kv: ['k'], rs: [] }, /'kv'/],
      [{ t: 'invalid', tv: 1, term: 1e300, reason: 'x' }, /'term'/],
      [{ t: 'tableGet' }, /'tv' must be a table version/],
      [{ t: 'op', id: 1, c: 'c', tv: 0, o: 'put', k: 'k' }, /put needs a value/],
    ];
    for (const [m, why] of cases) {
      const r = decodePlaceMessage(m, rules);
      expect(r, JSON.stringify(m)).toBeInstanceOf(Rejection);
      expect((r as Rejection).text).toMatch(why);
      expect((r as Rejection).code).toBe('bad_request');
    }
  });

  it('refuses a table that puts one place on both copies of a partition', () => {
    const t = table();
    const bad = { ...t, partitions: t.partitions.map((a, p) => (p === 2 ? { ...a, backup: a.primary } : a)) };
    expect(decodePlaceMessage({ t: 'tableUpdate', tv: 1, table: t }, rules)).not.toBeInstanceOf(Rejection);
    expect(decodePlaceMessage({ t: 'tableUpdate', tv: 1, table: bad }, rules)).toBeInstanceOf(Rejection);
  });

  it('answers an unknown type as an unknown command, even one named like an object property', () => {
    for (const t of ['launch', 'toString', '__proto__', 'res']) {
      const r = decodePlaceMessage({ t }, rules);
      expect(r).toBeInstanceOf(Rejection);
      expect((r as Rejection).code).toBe('unknown_command');
    }
  });

  it('never throws, whatever the fields hold', () => {
    const types = [...new Set(VALID.map((m) => m.t))];
    fc.assert(
      fc.property(
        fc.constantFrom(...types),
        fc.dictionary(
          fc.constantFrom('tv', 'id', 'p', 'e', 's', 'k', 'v', 'es', 'as', 'table', 'term', 'ts'),
          fc.anything(),
        ),
        (t, fields) => {
          const r = decodePlaceMessage({ ...fields, t }, rules);
          expect(r instanceof Rejection || r.t === t).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
