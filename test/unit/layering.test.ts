import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/**
 * The layers of src/, lowest first: a folder may import from its own layer and those below, never
 * from above. The protocol core is pure (no I/O), so it sits just above the small utilities.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['protocol'],
  ['transport', 'security'],
  ['runtime'],
  ['http', 'redis'],
  ['client'],
  ['cluster'],
  ['check', 'bench'],
  ['sim'],
  ['cli'],
];

/** Node built-ins the protocol core may not use: it does no I/O of its own. */
const IO_MODULES = /^(node:)?(net|tls|fs|fs\/promises|http|https|dgram|child_process|worker_threads|timers)$/;

function layerOf(folder: string): number {
  const i = LAYERS.findIndex((l) => l.includes(folder));
  return i < 0 ? LAYERS.length : i;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) found.push(m[1]!);
  return found;
}

/** Every import that goes up the layers, or out of the core to I/O, as "file -> import". */
function breaches(root: string): string[] {
  const out: string[] = [];
  for (const file of sourceFiles(root)) {
    const folder = relative(root, file).split('/')[0]!;
    // src/index.ts is the package's entry: it re-exports from any layer.
    if (folder.endsWith('.ts')) continue;
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) {
        const target = relative(root, resolve(dirname(file), spec)).split('/')[0]!;
        if (layerOf(target) > layerOf(folder)) out.push(`${relative(root, file)} -> ${spec}`);
      } else if ((folder === 'protocol' || folder === 'util') && IO_MODULES.test(spec)) {
        out.push(`${relative(root, file)} -> ${spec}`);
      }
    }
  }
  return out;
}

describe('layering', () => {
  it('every folder of src imports only from its own layer and those below; the core does no I/O', () => {
    expect(breaches(SRC)).toEqual([]);
  });

  it('reports an import that goes up a layer, and I/O in the core', () => {
    const root = mkdtempSync(join(tmpdir(), 'layering-'));
    try {
      mkdirSync(join(root, 'protocol'));
      mkdirSync(join(root, 'runtime'));
      writeFileSync(join(root, 'runtime/Node.ts'), "import { Place } from '../protocol/Place.js';\n");
      writeFileSync(
        join(root, 'protocol/Place.ts'),
        "import { PlaceNode } from '../runtime/Node.js';\nimport net from 'node:net';\n",
      );
      expect(breaches(root)).toEqual([
        'protocol/Place.ts -> ../runtime/Node.js',
        'protocol/Place.ts -> node:net',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
