import { InvalidArgumentError } from 'commander';
import { parseAddress } from '../transport/TcpTransport.js';

/** Exit codes of every command (docs/contract.md). */
export const EXIT = { ok: 0, no: 1, usage: 2, invalid: 3, unavailable: 4, auth: 5 } as const;

/** An error that ends a command with a given exit code and a one-line message. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Parses a whole number within [min, max], naming the flag in the error. */
export function intOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`'${value}' is not a whole number.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is out of range (${min}..${max}).`);
    return n;
  };
}

/** Parses a number within [min, max] (fractions allowed). */
export function numberOption(min: number, max = Number.MAX_VALUE) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`'${value}' is not a number.`);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is out of range (${min}..${max}).`);
    return n;
  };
}

/** Parses one "host:port". */
export function addressOption(value: string): string {
  try {
    parseAddress(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

/** Parses a comma-separated list of "host:port". */
export function addressListOption(value: string): string[] {
  const list = nameListOption(value);
  for (const a of list) addressOption(a);
  return list;
}

/** Parses a comma-separated list of names. */
export function nameListOption(value: string): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new InvalidArgumentError('expected at least one name.');
  return list;
}

/** The seeds to use: the flag, else PLACESTORE_SEEDS, else 127.0.0.1:7400. */
export function resolveSeeds(flag: string[] | undefined): string[] {
  if (flag !== undefined) return flag;
  const env = process.env.PLACESTORE_SEEDS;
  if (env !== undefined && env.trim() !== '') {
    try {
      return addressListOption(env);
    } catch (err) {
      throw new CliError(EXIT.usage, `PLACESTORE_SEEDS: ${(err as Error).message}`);
    }
  }
  return ['127.0.0.1:7400'];
}
