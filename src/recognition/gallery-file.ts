/**
 * The gallery on disk, three files side by side (four with its search graph):
 *   gallery.json                 a small header: model, dimension, metric, counts, checksums
 *   gallery.<hash>.entries.bin   the entries as columns (entry-columns.ts): label, photo, hash, face, box
 *   gallery.<hash>.f32           the vectors, little-endian float32, one row per entry
 * The sidecars' names carry their content hash: a save writes new sidecars, then swaps the header
 * in one rename, then deletes the old sidecars, so a crash leaves the old gallery or the new one.
 * Loading checks every file's size, and its sha256 up to 64 MiB; a larger vector or entries file
 * is checked by a sample digest (core/files.ts: truncated, padded or foreign files are caught in
 * milliseconds), and `facekit db check` (checkGallery) reads every byte against its sha256.
 * Schema 2 galleries (entries as JSON Lines) and schema 1 (entries inline in the header) are still read.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import { isMetric, isRecognizerId, RECOGNIZERS } from '../models/catalogue.js';
import { FacekitError, fsError } from '../core/errors.js';
import { assertRegularFileSync, bytesSampleDigest, checkedBySample, fileSampleDigest, readRegularFile, syncFile, writeFileAtomic } from '../core/files.js';
import { EntryColumns } from './entry-columns.js';
import { growableBuffer } from './vector-rows.js';
import type { GalleryCheck } from './backend.js';
import { AnnIndex, isIndexPolicy } from './vector-index.js';
import { InMemoryGallery, GALLERY_SCHEMA, type GalleryEntry, type GalleryFile, type GalleryMeta } from './gallery.js';

const stem = (dbPath: string) => basename(dbPath).replace(/\.json$/i, '');

export function sidecarName(dbPath: string, hash: string): string {
  return `${stem(dbPath)}.${hash.slice(0, 12)}.f32`;
}

function entriesName(dbPath: string, hash: string): string {
  return `${stem(dbPath)}.${hash.slice(0, 12)}.entries.bin`;
}

/** Whether bytes loaded are the ones the header describes: sha256, or above FULL_CHECK_BYTES its sample digest. */
function matches(bytes: Uint8Array, want: { sha256: string; sample?: string }, full: boolean): boolean {
  if (checkedBySample(bytes.length, want, full)) return bytesSampleDigest(bytes) === want.sample;
  return createHash('sha256').update(bytes).digest('hex') === want.sha256;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The name of a facekit gallery file directly in `dir` (gallery.json first, or another), if there is one. */
export function galleryFileIn(dir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const f of names.filter((n) => n.endsWith('.json')).sort((a, b) => Number(b === 'gallery.json') - Number(a === 'gallery.json'))) {
    try {
      const fd = openSync(join(dir, f), 'r');
      const head = Buffer.alloc(4096);
      const n = readSync(fd, head, 0, 4096, 0);
      closeSync(fd);
      if (/"format"\s*:\s*"facekit-gallery"/.test(head.toString('utf8', 0, n))) return f;
    } catch {
      /* not readable: not a gallery to point at */
    }
  }
  return undefined;
}

/** The header of a gallery, checked; what `db info` needs, without entries or vectors. */
export interface GalleryHeader extends GalleryMeta {
  schema: number;
  created: string;
  updated?: string;
  facekitVersion?: string;
  count: number;
  people?: number;
  file: GalleryFile;
}

/** Read and check a gallery's header; every way it can be damaged gets its own message. */
export async function readGalleryHeader(dbPath: string): Promise<GalleryHeader> {
  let text: string;
  try {
    text = (await readRegularFile(dbPath)).toString('utf8');
  } catch (err) {
    const e = err instanceof FacekitError ? err : fsError(err, dbPath);
    if (e.code === 'not_found') throw new FacekitError('not_found', 'no gallery here (build one with `facekit build-db DIR`)', dbPath);
    // `--db people-db` for `--db people-db/gallery.json`: point at the file
    const inside = isDirectory(dbPath) ? galleryFileIn(dbPath) : undefined;
    if (inside) throw new FacekitError('usage', `is a folder holding a facekit gallery, not the gallery file: did you mean ${join(dbPath, inside)}?`, dbPath);
    throw e;
  }
  const bad = (msg: string) => new FacekitError('bad_gallery', msg, dbPath);
  if (text.trim() === '') throw bad('gallery file is empty');
  let json: Partial<GalleryFile> & { people?: number };
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
  if (!isRecognizerId(json.model)) throw bad(`gallery was built with model "${json.model}", which this facekit does not have (it has ${Object.keys(RECOGNIZERS).join(', ')})`);
  const head = json.head;
  if (head !== undefined && (typeof head !== 'object' || head === null || typeof head.path !== 'string' || typeof head.tag !== 'string')) throw bad('gallery\'s "head" must be {path, tag}');
  // a head's projections have the head's dimension, not the model's
  if (!head && RECOGNIZERS[json.model].dim !== json.dim) throw bad(`gallery says ${json.dim}-d ${json.model} embeddings, but ${json.model} makes ${RECOGNIZERS[json.model].dim}-d ones`);
  const v = json.vectors;
  if (!v || typeof v.file !== 'string' || typeof v.count !== 'number' || typeof v.sha256 !== 'string') throw bad('gallery has no "vectors" description');
  const e = json.entries;
  if (Array.isArray(e)) {
    if (v.count !== e.length) throw bad(`gallery lists ${e.length} entries but ${v.count} vectors`);
  } else if (!e || typeof e !== 'object' || typeof e.file !== 'string' || typeof e.count !== 'number' || typeof e.sha256 !== 'string' || (e.format !== 'jsonl' && e.format !== 'columns')) {
    throw bad('gallery has no "entries" list');
  } else if (e.count !== v.count) throw bad(`gallery lists ${e.count} entries but ${v.count} vectors`);
  return {
    model: json.model, dim: json.dim, metric: json.metric, flip: json.flip ?? true, detector: json.detector ?? 'unknown',
    ...(head ? { head: { path: head.path, tag: head.tag } } : {}),
    schema: json.schema, created: json.created ?? new Date().toISOString(), updated: json.updated, facekitVersion: json.facekitVersion,
    count: v.count, people: typeof json.people === 'number' ? json.people : undefined, file: json as GalleryFile,
  };
}

function checkEntry(e: unknown, i: number, where: string): GalleryEntry {
  const x = e as Partial<GalleryEntry> | null;
  if (!x || typeof x.label !== 'string' || typeof x.image !== 'string' || typeof x.hash !== 'string') {
    throw new FacekitError('bad_gallery', `entry ${i} is damaged (needs label, image, hash)`, where);
  }
  return x as GalleryEntry;
}

/** The entries of a schema 2 gallery, line by line, with their count and checksum checked. */
async function readEntries(path: string, count: number, sha: string): Promise<GalleryEntry[]> {
  const out: GalleryEntry[] = [];
  const hash = createHash('sha256');
  let rest = '';
  try {
    assertRegularFileSync(path, "the gallery's entries file");
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      const lines = (rest + (chunk as Buffer).toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const l of lines) if (l) out.push(parseEntry(l, out.length, path));
    }
  } catch (err) {
    if (err instanceof FacekitError) throw err;
    throw new FacekitError('bad_gallery', `the gallery's entries file is missing or unreadable (${fsError(err, path).message})`, path);
  }
  if (rest) out.push(parseEntry(rest, out.length, path));
  if (out.length !== count) throw new FacekitError('bad_gallery', `entries file holds ${out.length} entries, the gallery needs ${count}; it is truncated or from another gallery`, path);
  if (hash.digest('hex') !== sha) throw new FacekitError('bad_gallery', 'entries file does not match the gallery (checksum differs)', path);
  return out;
}

function parseEntry(line: string, i: number, where: string): GalleryEntry {
  try {
    return checkEntry(JSON.parse(line), i, where);
  } catch (err) {
    if (err instanceof FacekitError) throw err;
    throw new FacekitError('bad_gallery', `entry ${i} is not valid JSON; the entries file is damaged`, where);
  }
}

/**
 * A whole file into its own ArrayBuffer (typed views of it start 8-aligned), or `bad_gallery`;
 * `size`: the bytes it must hold, checked before it is read.
 */
function readWhole(path: string, what: string, size?: number, growable = false): Buffer {
  let fd: number;
  try {
    assertRegularFileSync(path, `the gallery's ${what}`);
    fd = openSync(path, 'r');
  } catch (err) {
    throw new FacekitError('bad_gallery', `the gallery's ${what} is missing or unreadable (${fsError(err, path).message})`, path);
  }
  try {
    const actual = fstatSync(fd).size;
    if (size !== undefined && actual !== size) {
      throw new FacekitError('bad_gallery', `${what} holds ${actual} bytes, the gallery needs ${size}; it is truncated or from another gallery`, path);
    }
    // growable: a gallery loaded for writing takes new faces' vectors in place (vector-rows.ts appendRows)
    const bytes = Buffer.from(growable ? growableBuffer(actual) : new ArrayBuffer(actual), 0, actual);
    readFully(fd, bytes, 0, () => new FacekitError('bad_gallery', `${what} ended early`, path));
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** The entries of a schema 3 gallery: columns, checked against the header. */
function readColumns(path: string, want: { count: number; sha256: string; sample?: string }, full: boolean): EntryColumns {
  const bytes = readWhole(path, 'entries file');
  if (!matches(bytes, want, full)) throw new FacekitError('bad_gallery', 'entries file does not match the gallery (checksum differs); it is damaged or from another gallery', path);
  const cols = EntryColumns.decode(bytes, path);
  if (cols.count !== want.count) throw new FacekitError('bad_gallery', `entries file holds ${cols.count} entries, the gallery needs ${want.count}; it is from another gallery`, path);
  return cols;
}

/** The vectors, read straight into the array that keeps them (no second copy of a large file). */
function readVectors(path: string, count: number, dim: number, want: { sha256: string; sample?: string }, full: boolean, growable: boolean): Float32Array {
  if (count === 0) return new Float32Array(0);
  const bytes = readWhole(path, 'vector file', count * dim * 4, growable);
  const vectors = new Float32Array(bytes.buffer, 0, count * dim);
  if (!matches(bytes, want, full)) throw new FacekitError('bad_gallery', 'vector file does not match the gallery (checksum differs)', path);
  // every number finite whenever every byte is checked: above FULL_CHECK_BYTES in `db check` (a
  // pass over a million faces' numbers is about a tenth of a second)
  const every = !checkedBySample(bytes.length, want, full);
  for (let i = 0; every && i < vectors.length; i++) {
    if (!Number.isFinite(vectors[i]!)) throw new FacekitError('bad_gallery', `vector file holds a number that is not finite (row ${Math.floor(i / dim)}); the gallery is damaged`, path);
  }
  return vectors;
}

/**
 * Read and check a whole gallery (header, entries, vectors, and its search graph unless `graph`
 * is false: `db reindex` replaces a damaged one). `full`: check every byte against its sha256,
 * whatever the size (`db check`). `readOnly`: the gallery is only searched (its graph is
 * memory-mapped; changing it throws).
 */
export async function loadGallery(dbPath: string, opts: { graph?: boolean; full?: boolean; readOnly?: boolean } = {}): Promise<InMemoryGallery> {
  const h = await readGalleryHeader(dbPath);
  const dir = dirname(dbPath);
  const full = opts.full === true;
  const e = h.file.entries;
  const entries = Array.isArray(e)
    ? e.map((x, i) => checkEntry(x, i, dbPath))
    : e.format === 'columns'
      ? readColumns(join(dir, basename(e.file)), e, full)
      : await readEntries(join(dir, basename(e.file)), e.count, e.sha256);
  const v = h.file.vectors;
  const vectors = readVectors(join(dir, basename(v.file)), v.count, h.dim, v, full, opts.readOnly !== true);
  const meta: GalleryMeta = { model: h.model, dim: h.dim, metric: h.metric, flip: h.flip, detector: h.detector, ...(h.head ? { head: h.head } : {}) };
  const g = new InMemoryGallery(meta, entries, vectors, h.created);
  const index = h.file.index;
  if (index && isIndexPolicy(index.policy)) g.indexPolicy = index.policy;
  // A graph on disk is used when the policy wants one; without it, search scans exactly (slower,
  // never wrong) until the next save builds it: a verify never spends minutes building a graph.
  if (index?.graph && g.wantsGraph() && opts.graph !== false) {
    if (index.graph.count !== g.size) throw new FacekitError('bad_gallery', `the gallery's search index holds ${index.graph.count} faces, the gallery ${g.size}; rebuild it with \`facekit db reindex\``, dbPath);
    g.ann = await AnnIndex.load(join(dir, basename(index.graph.file)), index.graph, h.dim, v.sha256, { full, view: opts.readOnly });
  }
  return g;
}

const mib = (bytes: number): string => (bytes < 2 ** 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

/**
 * Read every byte of a gallery against the checksums in its header (vectors, entries, and its
 * search graph), however large: what a load checks only in part above FULL_CHECK_BYTES. Damage is
 * `bad_gallery`, naming the file.
 */
export async function checkGallery(dbPath: string): Promise<GalleryCheck> {
  const h = await readGalleryHeader(dbPath);
  const g = await loadGallery(dbPath, { full: true, graph: false });
  const dir = dirname(dbPath);
  const size = (f: string): number => statSync(join(dir, basename(f))).size;
  const checked = [`${basename(dbPath)}: schema ${h.schema}, ${h.model} ${h.dim}-d, ${g.size} faces`];
  const v = h.file.vectors;
  checked.push(`${v.file}: ${mib(size(v.file))} of vectors, sha256 matches, every number finite`);
  const e = h.file.entries;
  checked.push(Array.isArray(e) ? 'entries: inline in the header (schema 1), each one whole' : `${e.file}: ${mib(size(e.file))} of entries, sha256 matches`);
  const graph = h.file.index?.graph;
  if (graph) {
    if (graph.count !== g.size) throw new FacekitError('bad_gallery', `the gallery's search index holds ${graph.count} faces, the gallery ${g.size}; rebuild it with \`facekit db reindex\``, dbPath);
    await AnnIndex.load(join(dir, basename(graph.file)), graph, h.dim, v.sha256, { full: true, view: true });
    checked.push(`${graph.file}: ${mib(graph.bytes)} HNSW graph of ${graph.count} faces, sha256 matches, built for these vectors`);
  }
  return { db: dbPath, faces: g.size, people: g.labels().size, checked };
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A temporary file of a gallery save whose process is gone (killed): `<name>.tmp-<pid>-<random>`. */
function isOrphanTemp(file: string, galleryStem: string): boolean {
  const m = /\.tmp-(\d+)-[a-z0-9]+$/.exec(file);
  if (!m || !(file.startsWith(`${galleryStem}.`) || file.startsWith(`.${galleryStem}.`) || file.startsWith('.entries.'))) return false;
  const pid = Number(m[1]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false; // its writer is still at work
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Write the entries as columns to a temporary file; returns its path, sha256 and sample digest. */
async function writeEntries(dir: string, cols: EntryColumns): Promise<{ tmp: string; sha256: string; sample: string }> {
  const tmp = join(dir, `.entries.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  const out = createWriteStream(tmp);
  const hash: Hash = createHash('sha256');
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  try {
    for (const piece of cols.encode()) {
      hash.update(piece);
      if (!out.write(piece)) await Promise.race([once(out, 'drain'), failed]);
    }
    await Promise.race([new Promise<void>((resolve) => out.end(resolve)), failed]);
    return { tmp, sha256: hash.digest('hex'), sample: fileSampleDigest(tmp) };
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw fsError(err, tmp);
  }
}

/** Fill `bytes` from `fd` at `position`, in reads of at most 64 MiB; `ended(got)` is thrown if the file ends first. */
function readFully(fd: number, bytes: Uint8Array, position: number, ended: (got: number) => Error): void {
  for (let got = 0; got < bytes.length;) {
    const n = readSync(fd, bytes, got, Math.min(1 << 26, bytes.length - got), position + got);
    if (n <= 0) throw ended(got);
    got += n;
  }
}

/** Rows of a vector file, `count` at a time, each batch a fresh array (usearch reads a buffer from its start). */
function rowReader(path: string, dim: number): { read: (first: number, count: number) => Float32Array; close: () => void } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw fsError(err, path);
  }
  return {
    read(first, count) {
      const out = new Float32Array(count * dim);
      readFully(fd, new Uint8Array(out.buffer), first * dim * 4, (got) => new FacekitError('bad_gallery', `the vector file ended at row ${first + Math.floor(got / (dim * 4))} while the graph was built`, path));
      return out;
    },
    close: () => closeSync(fd),
  };
}

/**
 * Write the gallery: the new sidecars first (under new names), then the header in one rename,
 * then the old sidecars go. A crash at any point leaves either the old gallery or the new one.
 * `release`: the gallery's last use (a build's end): its vectors are let go once on disk (see
 * InMemoryGallery.syncIndexReleasing); it can be counted afterwards, not searched.
 */
export async function saveGallery(g: InMemoryGallery, dbPath: string, facekitVersion: string, opts: { release?: boolean } = {}): Promise<void> {
  const dir = dirname(dbPath);
  const raw = Buffer.from(g.vectors.buffer, g.vectors.byteOffset, g.vectors.byteLength);
  const vHash = createHash('sha256').update(raw).digest('hex');
  const vSample = bytesSampleDigest(raw);
  const vFile = sidecarName(dbPath, vHash);
  await writeFileAtomic(join(dir, vFile), raw, { durable: true });
  const { tmp, sha256: eHash, sample: eSample } = await writeEntries(dir, g.entryColumns());
  if (opts.release) {
    // a build's last save: the graph is built from the vector file just written, the vectors let go
    const rows = rowReader(join(dir, vFile), g.meta.dim);
    try {
      g.syncIndexReleasing(rows.read);
    } finally {
      rows.close();
    }
  } else {
    g.syncIndex();
  }
  const graph = g.ann ? await g.ann.saveOnce(dir, stem(dbPath), vHash) : undefined;
  const eFile = entriesName(dbPath, eHash);
  try {
    syncFile(tmp);
    await rename(tmp, join(dir, eFile));
  } catch (err) {
    throw fsError(err, join(dir, eFile));
  }
  const json: GalleryFile & { people: number } = {
    format: 'facekit-gallery',
    schema: GALLERY_SCHEMA,
    facekitVersion,
    ...g.meta,
    created: g.created,
    updated: new Date().toISOString(),
    people: g.labels().size,
    vectors: { file: vFile, dtype: 'float32', count: g.size, sha256: vHash, sample: vSample },
    entries: { file: eFile, format: 'columns', count: g.size, sha256: eHash, sample: eSample },
    index: graph ? { policy: g.indexPolicy, graph } : { policy: g.indexPolicy },
  };
  await writeFileAtomic(dbPath, JSON.stringify(json, null, 1) + '\n', { durable: true });
  // Old sidecars of this gallery are no longer referenced, nor what a killed writer left half-made.
  // Only this gallery's own: `<stem>.<12 hex>.<kind>`, exactly (gallery.v2.json's sidecars, beside
  // gallery.json, start with "gallery." too and are not ours).
  const ours = new RegExp(`^${escapeRegExp(stem(dbPath))}\\.[0-9a-f]{12}\\.(f32|entries\\.jsonl|entries\\.bin|hnsw)$`);
  for (const f of readdirSync(dir)) {
    if (isOrphanTemp(f, stem(dbPath))) {
      await unlink(join(dir, f)).catch(() => undefined);
      continue;
    }
    if (f === vFile || f === eFile || f === graph?.file) continue;
    if (ours.test(f)) await unlink(join(dir, f)).catch(() => undefined);
  }
}
