/**
 * Known defects the simulator can switch on in a place, to show that it catches each (as FoundationDB's
 * BUGGIFY does): every one is a plain test of a flag at the one place where the defect lives. Places
 * outside the simulator run with none.
 */
export const DEFECTS = [
  'stale-epoch',
  'lease-ignored',
  'no-deputy-ack',
  'copy-skips-updates',
  'ack-before-replication',
  'copy-burst',
  'takeover-without-majority',
  'minority-lease',
  'vote-while-led',
] as const;

/** One wired-in defect. */
export type Defect = (typeof DEFECTS)[number];

/** The defects switched on in one place. */
export type Defects = ReadonlySet<Defect>;

/** No defect: the normal place. */
export const NO_DEFECTS: Defects = new Set();

let processDefectSet: Defects = NO_DEFECTS;

/**
 * Test fixtures only: the defects of every place this process runs (a fixture sets them before it
 * starts the command line, to run a broken place as a real process). Nothing shipped sets any.
 */
export function setProcessDefects(defects: readonly Defect[]): void {
  processDefectSet = new Set(defects);
}

/** The defects set for this process (none unless a test fixture set some). */
export function processDefects(): Defects {
  return processDefectSet;
}
