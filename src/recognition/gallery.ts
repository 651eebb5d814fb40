/**
 * The gallery: known faces with their embeddings. Owns the on-disk format, search, and writing it
 * safely (atomic replace, a lock against concurrent builders, a journal to resume an interrupted
 * build without touching the previous gallery).
 *
 * On disk: `gallery.json` (metadata and entries, readable and diffable) plus a binary sidecar
 * `gallery.<hash>.f32` holding the vectors as little-endian float32, one row per entry, so that a
 * 100 000-face gallery loads in a fraction of a second. The sidecar's name carries its content
 * hash: a new gallery writes a new sidecar, then swaps the JSON in one rename.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeSync, readdirSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { RECOGNIZERS, isMetric, isRecognizerId, type Metric } from '../models/catalogue.js';
import { FacekitError, fsError } from '../core/errors.js';
import type { Box } from '../core/records.js';
import { writeFileAtomic } from '../pipeline/run.js';

export const GALLERY_SCHEMA = 1;

export interface GalleryEntry {
  label: string;
  /** the source image, as given when it was added */
  image: string;
  /** sha256 of the image file's bytes: finds photos already in, whatever their name */
  hash: string;
  face: number;
  box?: Box;
}

export interface GalleryMeta {
  model: string;
  dim: number;
  metric: Metric;
  /** whether embeddings are the average with the mirrored face (represent --flip) */
  flip: boolean;
  detector: string;
}

export interface GalleryFile extends GalleryMeta {
  format: 'facekit-gallery';
  schema: number;
  facekitVersion: string;
  created: string;
  updated: string;
  vectors: { file: string; dtype: 'float32'; count: number; sha256: string };
  entries: GalleryEntry[];
}

export class Gallery {
  readonly meta: GalleryMeta;
  entries: GalleryEntry[];
  /** row i is entries[i]'s vector */
  vectors: Float32Array;
  created: string;
  private unit: Float32Array | undefined;
  private labelIds: { ids: Int32Array; names: string[] } | undefined;

  constructor(meta: GalleryMeta, entries: GalleryEntry[] = [], vectors?: Float32Array, created = new Date().toISOString()) {
    this.meta = meta;
    this.entries = entries;
    this.vectors = vectors ?? new Float32Array(0);
    this.created = created;
    if (this.vectors.length !== entries.length * meta.dim) throw new Error('gallery vectors do not match its entries');
  }

  get size(): number {
    return this.entries.length;
  }

  labels(): Map<string, number> {
    const m = new Map<string, number>();
    for (const e of this.entries) m.set(e.label, (m.get(e.label) ?? 0) + 1);
    return m;
  }

  vector(i: number): Float32Array {
    return this.vectors.subarray(i * this.meta.dim, (i + 1) * this.meta.dim);
  }

  hashes(): Set<string> {
    return new Set(this.entries.map((e) => e.hash));
  }

  /** Add entries with their vectors (one copy of the vector array for the lot). */
  addMany(items: { entry: GalleryEntry; vector: ArrayLike<number> }[]): void {
    for (const it of items) {
      if (it.vector.length !== this.meta.dim) {
        throw new FacekitError('model_mismatch', `a ${it.vector.length}-d embedding cannot join a gallery of ${this.meta.dim}-d ${this.meta.model} embeddings`, it.entry.image);
      }
    }
    const next = new Float32Array(this.vectors.length + items.length * this.meta.dim);
    next.set(this.vectors);
    items.forEach((it, i) => next.set(Array.from(it.vector), this.vectors.length + i * this.meta.dim));
    this.vectors = next;
    this.entries.push(...items.map((it) => it.entry));
    this.unit = undefined;
    this.labelIds = undefined;
  }

  /** Keep only the entries for which `keep` is true. Returns how many were removed. */
  filter(keep: (e: GalleryEntry) => boolean): number {
    const dim = this.meta.dim;
    const rows = this.entries.map((e, i) => (keep(e) ? i : -1)).filter((i) => i >= 0);
    const next = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => next.set(this.vectors.subarray(r * dim, (r + 1) * dim), i * dim));
    const removed = this.entries.length - rows.length;
    this.entries = rows.map((r) => this.entries[r]!);
    this.vectors = next;
    this.unit = undefined;
    this.labelIds = undefined;
    return removed;
  }

  /** Unit-length copies of the rows, computed once, for cosine and euclidean_l2 search. */
  private unitVectors(): Float32Array {
    if (!this.unit) {
      const dim = this.meta.dim;
      const u = new Float32Array(this.vectors.length);
      for (let r = 0; r < this.entries.length; r++) {
        let n = 0;
        for (let k = 0; k < dim; k++) n += this.vectors[r * dim + k]! ** 2;
        const inv = 1 / (Math.sqrt(n) || 1);
        for (let k = 0; k < dim; k++) u[r * dim + k] = this.vectors[r * dim + k]! * inv;
      }
      this.unit = u;
    }
    return this.unit;
  }

  /** Distance from `query` to every entry, under `metric`. */
  distances(query: ArrayLike<number>, metric: Metric): Float32Array {
    const dim = this.meta.dim;
    if (query.length !== dim) {
      throw new FacekitError('model_mismatch', `query is a ${query.length}-d embedding, the gallery holds ${dim}-d ${this.meta.model} embeddings`);
    }
    const n = this.entries.length;
    const out = new Float32Array(n);
    if (metric === 'euclidean') {
      const v = this.vectors;
      for (let r = 0; r < n; r++) {
        let s = 0;
        const o = r * dim;
        for (let k = 0; k < dim; k++) {
          const d = v[o + k]! - query[k]!;
          s += d * d;
        }
        out[r] = Math.sqrt(s);
      }
      return out;
    }
    // cosine and euclidean_l2 both come from the dot product of unit vectors.
    const u = this.unitVectors();
    let qn = 0;
    for (let k = 0; k < dim; k++) qn += query[k]! ** 2;
    const q = new Float32Array(dim);
    const inv = 1 / (Math.sqrt(qn) || 1);
    for (let k = 0; k < dim; k++) q[k] = query[k]! * inv;
    const dim4 = dim - (dim % 4);
    for (let r = 0; r < n; r++) {
      // Four running sums: independent additions the CPU can overlap.
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      const o = r * dim;
      let k = 0;
      for (; k < dim4; k += 4) {
        s0 += u[o + k]! * q[k]!;
        s1 += u[o + k + 1]! * q[k + 1]!;
        s2 += u[o + k + 2]! * q[k + 2]!;
        s3 += u[o + k + 3]! * q[k + 3]!;
      }
      for (; k < dim; k++) s0 += u[o + k]! * q[k]!;
      const cos = Math.min(1, Math.max(-1, s0 + s1 + s2 + s3));
      out[r] = metric === 'cosine' ? 1 - cos : Math.sqrt(Math.max(0, 2 - 2 * cos));
    }
    return out;
  }

  /** Integer label per row, built once: search compares numbers, not strings. */
  private labelIndex(): { ids: Int32Array; names: string[] } {
    if (!this.labelIds || this.labelIds.ids.length !== this.entries.length) {
      const names: string[] = [];
      const byName = new Map<string, number>();
      const ids = new Int32Array(this.entries.length);
      this.entries.forEach((e, r) => {
        let id = byName.get(e.label);
        if (id === undefined) {
          id = names.length;
          names.push(e.label);
          byName.set(e.label, id);
        }
        ids[r] = id;
      });
      this.labelIds = { ids, names };
    }
    return this.labelIds;
  }

  /**
   * The `k` nearest identities (labels), each with its closest entry, nearest first. Searching by
   * identity rather than by entry keeps one person with many photos from filling the list.
   */
  search(query: ArrayLike<number>, metric: Metric, k: number, excludeRow?: (row: number) => boolean): Match[] {
    const d = this.distances(query, metric);
    const { ids, names } = this.labelIndex();
    const best = new Float32Array(names.length).fill(Infinity);
    const bestRow = new Int32Array(names.length).fill(-1);
    for (let r = 0; r < d.length; r++) {
      const id = ids[r]!;
      if (d[r]! < best[id]! && !excludeRow?.(r)) {
        best[id] = d[r]!;
        bestRow[id] = r;
      }
    }
    // Top k of the per-identity bests: a small sorted list, no sort of all identities.
    const top: number[] = [];
    for (let id = 0; id < names.length; id++) {
      if (bestRow[id] === -1) continue;
      if (top.length === k && best[id]! >= best[top[k - 1]!]!) continue;
      let i = top.length < k ? top.length : k - 1;
      while (i > 0 && best[top[i - 1]!]! > best[id]!) {
        if (i < k) top[i] = top[i - 1]!;
        i--;
      }
      top[i] = id;
      if (top.length > k) top.length = k;
    }
    return top.map((id) => ({ label: names[id]!, distance: best[id]!, image: this.entries[bestRow[id]!]!.image, row: bestRow[id]! }));
  }
}

export interface Match {
  label: string;
  distance: number;
  /** the gallery photo that matched best */
  image: string;
  row: number;
}

/* ---------------------------------------------------------------- files */

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export function sidecarName(dbPath: string, hash: string): string {
  return `${basename(dbPath).replace(/\.json$/i, '')}.${hash.slice(0, 12)}.f32`;
}

/** Read and check a gallery; every way it can be damaged gets its own message. */
export async function loadGallery(dbPath: string): Promise<Gallery> {
  let text: string;
  try {
    text = await readFile(dbPath, 'utf8');
  } catch (err) {
    const e = fsError(err, dbPath);
    if (e.code === 'not_found') throw new FacekitError('not_found', 'no gallery here (build one with `facekit build-db DIR`)', dbPath);
    throw e;
  }
  const bad = (msg: string) => new FacekitError('bad_gallery', msg, dbPath);
  if (text.trim() === '') throw bad('gallery file is empty');
  let json: Partial<GalleryFile>;
  try {
    json = JSON.parse(text) as Partial<GalleryFile>;
  } catch (err) {
    throw bad(`gallery is not valid JSON (${(err as Error).message.split('\n')[0]}); it may be truncated or hand-edited`);
  }
  if (typeof json !== 'object' || json === null || json.format !== 'facekit-gallery') throw bad('not a facekit gallery (no "format": "facekit-gallery")');
  if (typeof json.schema !== 'number') throw bad('gallery has no schema version');
  if (json.schema > GALLERY_SCHEMA) {
    throw new FacekitError('schema_version', `gallery schema ${json.schema} is newer than this facekit understands (${GALLERY_SCHEMA}); upgrade facekit`, dbPath);
  }
  if (typeof json.model !== 'string' || typeof json.dim !== 'number' || !Number.isInteger(json.dim) || json.dim <= 0) throw bad('gallery lacks its model or dimension');
  if (typeof json.metric !== 'string' || !isMetric(json.metric)) throw bad(`gallery metric "${String(json.metric)}" is unknown`);
  if (!Array.isArray(json.entries)) throw bad('gallery has no "entries" list');
  const v = json.vectors;
  if (!v || typeof v.file !== 'string' || typeof v.count !== 'number' || typeof v.sha256 !== 'string') throw bad('gallery has no "vectors" description');
  if (v.count !== json.entries.length) throw bad(`gallery lists ${json.entries.length} entries but ${v.count} vectors`);
  json.entries.forEach((e, i) => {
    if (!e || typeof e.label !== 'string' || typeof e.image !== 'string' || typeof e.hash !== 'string') throw bad(`entry ${i} is damaged (needs label, image, hash)`);
  });
  const vecPath = join(dirname(dbPath), basename(v.file));
  let raw: Buffer;
  if (v.count === 0) raw = Buffer.alloc(0);
  else {
    try {
      raw = readFileSync(vecPath);
    } catch (err) {
      throw new FacekitError('bad_gallery', `the gallery's vector file is missing or unreadable (${fsError(err, vecPath).message})`, vecPath);
    }
  }
  if (raw.length !== v.count * json.dim * 4) {
    throw new FacekitError('bad_gallery', `vector file holds ${raw.length} bytes, the gallery needs ${v.count * json.dim * 4}; it is truncated or from another gallery`, vecPath);
  }
  if (v.count > 0 && sha256(raw) !== v.sha256) throw new FacekitError('bad_gallery', 'vector file does not match the gallery (checksum differs)', vecPath);
  const vectors = new Float32Array(v.count * json.dim);
  Buffer.from(vectors.buffer).set(raw);
  const meta: GalleryMeta = { model: json.model, dim: json.dim, metric: json.metric, flip: json.flip ?? true, detector: json.detector ?? 'unknown' };
  return new Gallery(meta, json.entries, vectors, json.created ?? new Date().toISOString());
}

/**
 * Write the gallery: the new sidecar first (under a new name), then the JSON in one rename, then
 * the old sidecar goes. A crash at any point leaves either the old gallery or the new one.
 */
export async function saveGallery(g: Gallery, dbPath: string, facekitVersion: string): Promise<void> {
  const raw = Buffer.from(g.vectors.buffer, g.vectors.byteOffset, g.vectors.byteLength);
  const hash = sha256(raw);
  const file = sidecarName(dbPath, hash);
  const dir = dirname(dbPath);
  await writeFileAtomic(join(dir, file), raw);
  const json: GalleryFile = {
    format: 'facekit-gallery',
    schema: GALLERY_SCHEMA,
    facekitVersion,
    ...g.meta,
    created: g.created,
    updated: new Date().toISOString(),
    vectors: { file, dtype: 'float32', count: g.size, sha256: hash },
    entries: g.entries,
  };
  await writeFileAtomic(dbPath, JSON.stringify(json, null, 1) + '\n');
  // Old sidecars of this gallery are no longer referenced.
  const prefix = `${basename(dbPath).replace(/\.json$/i, '')}.`;
  for (const f of readdirSync(dir)) {
    if (f.startsWith(prefix) && f.endsWith('.f32') && f !== file && /\.[0-9a-f]{12}\.f32$/.test(f)) await unlink(join(dir, f)).catch(() => undefined);
  }
}

/** Refuse to mix embeddings of different models, dimensions or flip settings in one gallery. */
export function assertSameModel(g: GalleryMeta, other: Pick<GalleryMeta, 'model' | 'dim'>, where: string): void {
  if (g.model !== other.model || g.dim !== other.dim) {
    throw new FacekitError('model_mismatch',
      `gallery was built with ${g.model} (${g.dim}-d embeddings), not ${other.model} (${other.dim}-d); use --model ${g.model} or another --db`, where);
  }
}

export function defaultMetaFor(model: string, metric: Metric, flip: boolean, detector: string): GalleryMeta {
  if (!isRecognizerId(model)) throw new FacekitError('usage', `unknown model ${model}`);
  return { model, dim: RECOGNIZERS[model].dim, metric, flip, detector };
}

/* ---------------------------------------------------------------- lock */

/**
 * An exclusive lock file next to the gallery (`gallery.json.lock`), created atomically. A lock
 * left by a process that no longer runs is taken over.
 */
export function acquireLock(dbPath: string): () => void {
  const lockPath = `${dbPath}.lock`;
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, mine);
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          unlinkSync(lockPath);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, lockPath);
      let holder: { pid?: number; host?: string; since?: string } = {};
      try {
        holder = JSON.parse(readFileSync(lockPath, 'utf8')) as typeof holder;
      } catch {
        /* a lock being written right now, or damaged: treat as held */
      }
      if (holder.pid && holder.host === hostname() && !processAlive(holder.pid)) {
        try {
          unlinkSync(lockPath); // stale: its owner is gone
        } catch {
          /* someone else took it over first */
        }
        continue;
      }
      throw new FacekitError('gallery_locked',
        `gallery is being written by another facekit (pid ${holder.pid ?? '?'}${holder.since ? ` since ${holder.since}` : ''}); wait for it, or delete ${basename(lockPath)} if that process is gone`, dbPath);
    }
  }
  throw new FacekitError('gallery_locked', 'could not take the gallery lock', dbPath);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/* ---------------------------------------------------------------- journal (resume) */

/** One finished face of an interrupted build, kept so that the next run need not redo it. */
export interface JournalLine {
  meta: GalleryMeta;
  entry: GalleryEntry;
  vector: number[];
}

export function journalPath(dbPath: string): string {
  return `${dbPath}.partial`;
}

/** Entries finished by an earlier, interrupted run with the same settings. */
export function readJournal(dbPath: string, meta: GalleryMeta): { entry: GalleryEntry; vector: number[] }[] {
  const path = journalPath(dbPath);
  if (!existsSync(path)) return [];
  const out: { entry: GalleryEntry; vector: number[] }[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line) as JournalLine;
      // A journal from other settings is of no use: its vectors would not compare.
      if (j.meta.model !== meta.model || j.meta.dim !== meta.dim || j.meta.flip !== meta.flip) return [];
      if (j.vector.length === meta.dim) out.push({ entry: j.entry, vector: j.vector });
    } catch {
      /* the last line of a killed run may be cut short */
    }
  }
  return out;
}

/** Append-only record of finished faces during a build; fsynced line by line. */
export class Journal {
  private fd: number | undefined;
  constructor(private readonly path: string) {}

  append(line: JournalLine): void {
    if (this.fd === undefined) this.fd = openSync(this.path, 'a');
    writeSync(this.fd, JSON.stringify(line) + '\n');
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** The build finished and the gallery holds everything: the journal is no longer needed. */
  remove(): void {
    this.close();
    try {
      unlinkSync(this.path);
    } catch {
      /* never written */
    }
  }
}
