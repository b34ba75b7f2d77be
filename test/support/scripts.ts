import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Runs a node script of the project (scripts/…, or the built CLI) and returns the JSON object of its
 * last stdout line; a run that exits non-zero still gives its JSON when it printed one.
 */
export async function runJsonScript(
  args: string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<Record<string, unknown>> {
  const out = await run(process.execPath, args, {
    timeout: options.timeoutMs,
    env: options.env ?? process.env,
  }).catch((err: { stdout?: string; stderr?: string }) => {
    if (err.stdout?.trim()) return { stdout: err.stdout, stderr: err.stderr ?? '' };
    throw new Error(`${args[0]} failed: ${(err.stderr ?? String(err)).slice(-2000)}`);
  });
  return JSON.parse(out.stdout.trim().split('\n').pop()!);
}
