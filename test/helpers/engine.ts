/**
 * The library in this test process, as a user's code calls it: the built package (dist/, which
 * `npm test` compiles first). One engine per test file, with one worker (this thread: the models
 * load once per file), closed when the file ends.
 */
import { afterAll } from 'vitest';
import * as facekit from '../../dist/index.js';
import type { Facekit, FaceRecord, Gallery } from '../../dist/index.js';

export { facekit };

let own: Facekit | undefined;

/** This file's engine (made on first use; `workers: 1` runs every image in this thread). */
export function engine(): Facekit {
  own ??= new facekit.Facekit({ workers: 1 });
  return own;
}

afterAll(async () => {
  await own?.close();
  own = undefined;
  await facekit.close();
});

/** Every item of an (async) iterable. */
export async function collect<T>(source: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}

/** Records as the CLI prints them (JSON round trip: no undefined keys, arrays not typed arrays). */
export function asPrinted(records: FaceRecord[]): Record<string, unknown>[] {
  return JSON.parse(JSON.stringify(records)) as Record<string, unknown>[];
}

/** The FacekitError a promise rejects with (its code and line), or a failure when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string; where?: string; line: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof facekit.FacekitError) return { code: err.code, message: err.message, where: err.where, line: err.line() };
    throw err;
  }
  throw new Error('expected a FacekitError, but the call succeeded');
}

/** Open the gallery at `db` on this file's engine, use it, close it. */
export async function using<T>(db: string, use: (g: Gallery) => Promise<T>): Promise<T> {
  const g = await facekit.Gallery.open(db, { engine: engine() });
  try {
    return await use(g);
  } finally {
    await g.close();
  }
}
