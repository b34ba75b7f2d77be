/** Size limits every place enforces; a request beyond them is rejected with a clear error. */
export interface Limits {
  maxKeyBytes: number;
  maxValueBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxKeyBytes: 1024,
  maxValueBytes: 1024 * 1024,
};
