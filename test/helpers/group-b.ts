/**
 * Helpers of the gallery tests (gallery*.test.ts, hardening.test.ts, unit/gallery-pg.test.ts):
 * synthetic represent records, a PGlite data folder made (initdb, several seconds) once per test
 * run and copied for each use (opening a copy takes about one), and a gallery file's parts.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FaceRecord } from '../../dist/index.js';
import { EntryColumns } from '../../dist/recognition/entry-columns.js';
import { ROOT, tempDir } from './cli.js';
import { shared } from './shared.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const texts = new Map<string, string>();

/**
 * `node bench/synthetic-records.mjs N --people P [--queries]`: N labelled resnet34 represent records
 * (NDJSON) spread as real faces are; `queries`: fresh faces of the same people. Made once per file.
 */
export function syntheticText(n: number, people: number, queries = false): string {
  const args = [String(n), '--people', String(people), ...(queries ? ['--queries'] : [])];
  const key = args.join(' ');
  let text = texts.get(key);
  if (text === undefined) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bench', 'synthetic-records.mjs'), ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`synthetic-records.mjs ${key}: ${r.stderr}`);
    text = r.stdout;
    texts.set(key, text);
  }
  return text;
}

/** The records of syntheticText, parsed. */
export function syntheticRecords(n: number, people: number, queries = false): FaceRecord[] {
  return parseNdjson(syntheticText(n, people, queries)) as unknown as FaceRecord[];
}

export function parseNdjson(text: string): Json[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Json);
}

/** Records as the CLI writes them: one JSON line each. */
export function ndjson(records: readonly object[]): string {
  return records.map((r) => JSON.stringify(r) + '\n').join('');
}

/**
 * A PGlite data folder of this caller's own (`pglite:DIR?gallery=NAME`), copied from one made
 * once per test run. One PGlite instance per folder at a time: two on one folder corrupt it.
 */
export async function pgliteDir(): Promise<string> {
  const template = await shared('pglite-template', async (dir) => {
    // made as `pglite:NEW_DIR` makes it (facekit's openPglite on a folder that is not there yet),
    // without a gallery: no CREATE EXTENSION, so that a copy opened without pgvector has none
    const { openPglite } = await import('../../dist/recognition/store/sql-client.js');
    const data = join(dir, 'data');
    const db = await openPglite(data, { create: true });
    await db.close();
    return data;
  });
  const copy = join(tempDir('facekit-pglite-'), 'data');
  cpSync(template, copy, { recursive: true });
  return copy;
}

/** A gallery file's header (schema 2). */
export const galleryHeader = (db: string): Json => JSON.parse(readFileSync(db, 'utf8')) as Json;

/** The entries of a gallery file: columns (schema 3) or JSON Lines (schema 2) beside its header. */
export function galleryEntries(db: string): Json[] {
  const e = galleryHeader(db).entries as Json;
  const file = join(dirname(db), e.file as string);
  if (e.format === 'jsonl') return parseNdjson(readFileSync(file, 'utf8'));
  const bytes = readFileSync(file);
  return EntryColumns.decode(Buffer.from(new Uint8Array(bytes)), file).toArray() as Json[];
}

/** A gallery file's vectors, by the content hash of each entry's photo. */
export function galleryVectors(db: string): Map<string, number[]> {
  const g = galleryHeader(db);
  const dim = g.dim as number;
  const buf = readFileSync(join(dirname(db), g.vectors.file as string));
  const out = new Map<string, number[]>();
  galleryEntries(db).forEach((e, i) => out.set(e.hash as string, Array.from(new Float32Array(buf.buffer, buf.byteOffset + i * dim * 4, dim))));
  return out;
}
