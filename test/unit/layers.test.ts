/**
 * The import rule of the layers (README "Architecture"): each layer imports only the layers below
 * it; the two adapters (cli/, server/) import only the public entry (src/index.ts) and core, never
 * each other; and no module imports itself round a loop. Read from the sources, so a stray import
 * fails the build's tests.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const ORDER = ['core', 'models', 'stages', 'pipeline', 'recognition', 'evaluation', 'training', 'engine'] as const;

/** The layer a file belongs to: its first folder under src/, `index` for src/index.ts, `main` for src/main.ts. */
function layerOf(file: string): string {
  const rel = relative(SRC, file).split(sep);
  if (rel.length === 1) return rel[0]!.replace(/\.ts$/, '');
  return rel[0]!;
}

/** Which layers each may import (besides itself). */
function allowed(layer: string): Set<string> {
  const below = (l: string) => ORDER.slice(0, ORDER.indexOf(l as (typeof ORDER)[number]));
  if ((ORDER as readonly string[]).includes(layer)) return new Set([layer, ...below(layer)]);
  if (layer === 'index') return new Set(ORDER);
  if (layer === 'cli' || layer === 'server') return new Set([layer, 'core', 'index']);
  if (layer === 'main') return new Set(['cli', 'server']);
  throw new Error(`src/${layer} is not a known layer: add it to ORDER or to this test`);
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file: static, `export ... from`, and dynamic import(). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
}

describe('layers', () => {
  const files = sources(SRC);

  it('finds the layers in the source tree', () => {
    const layers = new Set(files.map(layerOf));
    for (const l of [...ORDER, 'cli', 'server', 'index', 'main']) expect(layers, `src/${l}`).toContain(l);
  });

  it('each file imports only its own layer and the layers below it; cli and server never each other', () => {
    const broken: string[] = [];
    for (const f of files) {
      const from = layerOf(f);
      const ok = allowed(from);
      for (const target of importsOf(f)) {
        const to = layerOf(target);
        if (!ok.has(to)) broken.push(`${relative(SRC, f)} imports ${relative(SRC, target)} (${from} -> ${to})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('has no import loops (type imports included)', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => t !== f)]));
    // Tarjan's strongly connected components: any component of more than one file is a loop
    let next = 0;
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const loops: string[][] = [];
    const visit = (v: string): void => {
      index.set(v, next);
      low.set(v, next++);
      stack.push(v);
      onStack.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!graph.has(w)) continue;
        if (!index.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
      if (low.get(v) === index.get(v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(relative(SRC, w));
        } while (w !== v);
        if (scc.length > 1) loops.push(scc.sort());
      }
    };
    for (const f of files) if (!index.has(f)) visit(f);
    expect(loops).toEqual([]);
  });

  it('keeps every module at about 400 lines or fewer', () => {
    const long = files.map((f) => [relative(SRC, f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 420);
    expect(long).toEqual([]);
  });
});
