/** The small guards against hostile input and stalls: JSON nesting, __proto__ keys, orderedMap's bookkeeping. */
import { describe, expect, it } from 'vitest';
import { jsonDepth, parseJson, MAX_JSON_DEPTH } from '../../src/core/json.js';
import { parseRecord } from '../../src/core/records.js';
import { orderedMap } from '../../src/pipeline/ordered.js';
import { FacekitError } from '../../src/core/errors.js';
import { pgliteClient } from '../../src/recognition/store/sql-client.js';

describe('JSON from outside', () => {
  it('counts nesting depth in one pass, strings and escapes skipped', () => {
    expect(jsonDepth('{"a":[1,{"b":"[[[["}]}')).toBe(3);
    expect(jsonDepth('"\\"[[["')).toBe(0);
    expect(jsonDepth('['.repeat(1000) + ']'.repeat(1000))).toBe(MAX_JSON_DEPTH + 1); // stops counting past the limit
  });

  it('refuses a deeply nested record line at once, and a __proto__ key, each with one clear message', () => {
    const nested = '{"schema":1,"image":"x.jpg","face":0,"x":' + '['.repeat(4_000_000) + ']'.repeat(4_000_000) + '}';
    const t = Date.now();
    expect(() => parseRecord(nested, 'stdin line 1')).toThrow(/JSON nested more than 64 levels deep/);
    expect(Date.now() - t).toBeLessThan(2000);
    expect(() => parseJson('{"__proto__":{"polluted":1}}')).toThrow(/a key named "__proto__" is refused/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(() => parseRecord('{"schema":1,', 'stdin line 2')).toThrow(/not valid JSON/);
  });
});

describe('orderedMap', () => {
  it('yields in source order with calls overlapping, and ends when a source ends at once', async () => {
    const out: number[] = [];
    for await (const x of orderedMap([3, 1, 2], async (n) => { await new Promise((r) => setTimeout(r, n * 5)); return n; }, { concurrency: 3 })) out.push(x);
    expect(out).toEqual([3, 1, 2]);
    // an empty source, and a pull that finds nothing to do, must not spin (it once did: 100% CPU)
    const none: number[] = [];
    for await (const x of orderedMap([] as number[], async (n) => n, { concurrency: Infinity })) none.push(x);
    expect(none).toEqual([]);
    const all: number[] = [];
    for await (const x of orderedMap([1, 2], async (n) => n, { concurrency: Infinity })) all.push(x);
    expect(all).toEqual([1, 2]);
  });

  it('stops pulling when asked, finishing the calls under way', async () => {
    let started = 0;
    let stop = false;
    const out: number[] = [];
    for await (const x of orderedMap([1, 2, 3, 4, 5, 6], async (n) => { started++; await new Promise((r) => setTimeout(r, 10)); return n; }, { concurrency: 2, stop: () => stop })) {
      out.push(x);
      if (x === 2) stop = true;
    }
    expect(out.slice(0, 2)).toEqual([1, 2]);
    expect(started).toBeLessThan(6);
  });
});

describe('PGlite failures in words (issue 22)', () => {
  it('a WASM abort or a thrown non-Error is one db_error line naming the database, never "Aborted(). Build with -sASSERTIONS" or "[object Object]"', async () => {
    // a PGlite whose every query and transaction throws `thrown`
    const failing = (thrown: unknown) => pgliteClient({ query: async () => { throw thrown; }, transaction: async () => { throw thrown; }, close: async () => undefined, closed: false } as never, 'pglite:/data');
    const cases: [unknown, string][] = [
      [new Error('Aborted(). Build with -sASSERTIONS for more info.'), 'pglite:/data: the PGlite database failed (PGlite stopped with an internal error)'],
      [{ message: 'PGlite is closed' }, 'pglite:/data: the PGlite database failed (PGlite is closed)'],
      [{ status: 'broken' }, 'pglite:/data: the PGlite database failed ({"status":"broken"})'],
    ];
    for (const [thrown, line] of cases) {
      const c = failing(thrown);
      for (const p of [c.query('SELECT 1'), c.transaction(async () => 1)]) {
        const e = await p.then(() => undefined, (err: unknown) => err);
        expect(e).toBeInstanceOf(FacekitError);
        expect((e as FacekitError).code).toBe('db_error');
        expect((e as FacekitError).line()).toBe(line);
      }
    }
    // a driver error with its SQLSTATE is mapped as before, and facekit's own errors pass as they are
    const sql = await failing(Object.assign(new Error('relation "x" does not exist'), { code: '42P01' })).query('SELECT 1').catch((e: unknown) => e);
    expect((sql as FacekitError).line()).toBe('pglite:/data: relation "x" does not exist (SQLSTATE 42P01)');
    const own = new FacekitError('model_mismatch', 'another model');
    expect(await failing(own).transaction(async () => 1).catch((e: unknown) => e)).toBe(own);
  });
});
