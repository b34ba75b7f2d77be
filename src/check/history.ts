import { readFileSync } from 'node:fs';

/** Operations of the register workload. */
export type Fn = 'read' | 'write' | 'cas' | 'delete';

/** One line of a history file (docs/contract.md). */
export interface HistoryEvent {
  process: number;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  f: Fn;
  key: string;
  value: unknown;
  /** Nanoseconds from the start of the run, monotonic. */
  time: number;
}

/** The last line: the final read of every key (null = absent). */
export interface FinalEvent {
  type: 'final';
  values: Record<string, unknown>;
}

/** An invoke paired with its completion. */
export interface Operation {
  id: number;
  process: number;
  f: Fn;
  key: string;
  /** What was asked: the written value, [expected, new] for cas, null for read and delete. */
  input: unknown;
  /** What came back: the value read (ok reads), else null. */
  output: unknown;
  type: 'ok' | 'fail' | 'info';
  /** Positions of the invoke and completion events in the history (completion Infinity for info). */
  invokeIndex: number;
  completeIndex: number;
  invokeTime: number;
  /** Completion time in ns; Infinity when the outcome is unknown. */
  completeTime: number;
}

/** A parsed history: its events, the final values, and the operations paired up. */
export interface History {
  events: HistoryEvent[];
  final: Record<string, unknown> | null;
  operations: Operation[];
}

/** Reads a JSON Lines history file; throws naming the line of any malformed event. */
export function readHistory(file: string): History {
  const lines = readFileSync(file, 'utf8').split('\n');
  const events: HistoryEvent[] = [];
  let final: Record<string, unknown> | null = null;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${i + 1}: not JSON`);
    }
    const e = parsed as HistoryEvent | FinalEvent;
    if (e.type === 'final') {
      final = (e as FinalEvent).values ?? {};
      return;
    }
    const ev = e as HistoryEvent;
    if (
      typeof ev.process !== 'number' ||
      !['invoke', 'ok', 'fail', 'info'].includes(ev.type) ||
      !['read', 'write', 'cas', 'delete'].includes(ev.f) ||
      typeof ev.key !== 'string' ||
      typeof ev.time !== 'number'
    ) {
      throw new Error(`${file}:${i + 1}: not a history event: ${line.slice(0, 200)}`);
    }
    events.push(ev);
  });
  return { events, final, operations: pairOperations(events) };
}

/** Pairs each invoke with the next completion of the same process; an invoke never completed counts as info. */
export function pairOperations(events: readonly HistoryEvent[]): Operation[] {
  const open = new Map<number, Operation>();
  const ops: Operation[] = [];
  events.forEach((e, index) => {
    if (e.type === 'invoke') {
      if (open.has(e.process))
        throw new Error(`process ${e.process} invoked at event ${index} with an operation in flight`);
      const op: Operation = {
        id: ops.length,
        process: e.process,
        f: e.f,
        key: e.key,
        input: e.value,
        output: null,
        type: 'info',
        invokeIndex: index,
        completeIndex: Number.POSITIVE_INFINITY,
        invokeTime: e.time,
        completeTime: Number.POSITIVE_INFINITY,
      };
      open.set(e.process, op);
      ops.push(op);
      return;
    }
    const op = open.get(e.process);
    if (op === undefined)
      throw new Error(`process ${e.process} completed at event ${index} with nothing in flight`);
    open.delete(e.process);
    op.type = e.type;
    if (e.type === 'info') return;
    op.completeIndex = index;
    op.completeTime = e.time;
    if (e.f === 'read') op.output = e.value ?? null;
  });
  return ops;
}

/** Records a history in memory, stamping events with a monotonic clock from the start. */
export class HistoryRecorder {
  readonly events: HistoryEvent[] = [];
  private readonly clock: () => number;
  /** Called with every event as it is recorded (the simulator traces them). */
  onRecord: ((e: HistoryEvent) => void) | null = null;

  /** With no clock, times come from process.hrtime from now on; the simulator gives its virtual one (ns). */
  constructor(clock?: () => number) {
    if (clock !== undefined) {
      this.clock = clock;
    } else {
      const start = process.hrtime.bigint();
      this.clock = () => Number(process.hrtime.bigint() - start);
    }
  }

  /** Nanoseconds since the recorder was made. */
  now(): number {
    return this.clock();
  }

  /** Appends one event. */
  record(process: number, type: HistoryEvent['type'], f: Fn, key: string, value: unknown): void {
    const e: HistoryEvent = {
      process,
      type,
      f,
      key,
      value: value === undefined ? null : value,
      time: this.now(),
    };
    this.events.push(e);
    this.onRecord?.(e);
  }

  /** The history as JSON Lines, ending with the final read. */
  toJsonLines(final: Record<string, unknown>): string {
    const lines = this.events.map((e) => JSON.stringify(e));
    lines.push(JSON.stringify({ type: 'final', values: final }));
    return lines.join('\n') + '\n';
  }
}
