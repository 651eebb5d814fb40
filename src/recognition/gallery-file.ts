/**
 * The gallery on disk, three files side by side:
 *   gallery.json                 a small header: model, dimension, metric, counts, checksums
 *   gallery.<hash>.entries.jsonl one entry per line (label, image, content hash, face, box)
 *   gallery.<hash>.f32           the vectors, little-endian float32, one row per entry
 * The sidecars' names carry their content hash: a save writes new sidecars, then swaps the header
 * in one rename, then deletes the old sidecars, so a crash leaves the old gallery or the new one.
 * The entries are written and read line by line: a gallery of millions of faces never becomes one
 * giant string, and its header (`facekit db info`) is read without the entries or the vectors.
 * Schema 1 galleries (entries inline in the header) are still read.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import { isMetric, isRecognizerId, RECOGNIZERS } from '../models/catalogue.js';
import { FacekitError, fsError } from '../core/errors.js';
import { assertRegularFileSync, readRegularFile, syncFile, writeFileAtomic } from '../core/files.js';
import { AnnIndex, isIndexPolicy } from './vector-index.js';
import { InMemoryGallery, GALLERY_SCHEMA, type GalleryEntry, type GalleryFile, type GalleryMeta } from './gallery.js';

const stem = (dbPath: string) => basename(dbPath).replace(/\.json$/i, '');

export function sidecarName(dbPath: string, hash: string): string {
  return `${stem(dbPath)}.${hash.slice(0, 12)}.f32`;
}

function entriesName(dbPath: string, hash: string): string {
  return `${stem(dbPath)}.${hash.slice(0, 12)}.entries.jsonl`;
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
  } else if (!e || typeof e !== 'object' || typeof e.file !== 'string' || typeof e.count !== 'number' || typeof e.sha256 !== 'string') {
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

/** The vectors, read straight into the array that keeps them (no second copy of a large file). */
function readVectors(path: string, count: number, dim: number, sha: string): Float32Array {
  const vectors = new Float32Array(count * dim);
  if (count === 0) return vectors;
  const bytes = Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength);
  let fd: number;
  try {
    assertRegularFileSync(path, "the gallery's vector file");
    fd = openSync(path, 'r');
  } catch (err) {
    throw new FacekitError('bad_gallery', `the gallery's vector file is missing or unreadable (${fsError(err, path).message})`, path);
  }
  try {
    const size = fstatSync(fd).size;
    if (size !== bytes.length) {
      throw new FacekitError('bad_gallery', `vector file holds ${size} bytes, the gallery needs ${bytes.length}; it is truncated or from another gallery`, path);
    }
    for (let off = 0; off < bytes.length;) {
      const n = readSync(fd, bytes, off, Math.min(1 << 26, bytes.length - off), off);
      if (n <= 0) throw new FacekitError('bad_gallery', 'vector file ended early', path);
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  if (createHash('sha256').update(bytes).digest('hex') !== sha) throw new FacekitError('bad_gallery', 'vector file does not match the gallery (checksum differs)', path);
  for (let i = 0; i < vectors.length; i++) {
    if (!Number.isFinite(vectors[i]!)) throw new FacekitError('bad_gallery', `vector file holds a number that is not finite (row ${Math.floor(i / dim)}); the gallery is damaged`, path);
  }
  return vectors;
}

/**
 * Read and check a whole gallery (header, entries, vectors, and its search graph unless `graph`
 * is false: `db reindex` replaces a damaged one).
 */
export async function loadGallery(dbPath: string, opts: { graph?: boolean } = {}): Promise<InMemoryGallery> {
  const h = await readGalleryHeader(dbPath);
  const dir = dirname(dbPath);
  const e = h.file.entries;
  const entries = Array.isArray(e)
    ? e.map((x, i) => checkEntry(x, i, dbPath))
    : await readEntries(join(dir, basename(e.file)), e.count, e.sha256);
  const v = h.file.vectors;
  const vectors = readVectors(join(dir, basename(v.file)), v.count, h.dim, v.sha256);
  const meta: GalleryMeta = { model: h.model, dim: h.dim, metric: h.metric, flip: h.flip, detector: h.detector, ...(h.head ? { head: h.head } : {}) };
  const g = new InMemoryGallery(meta, entries, vectors, h.created);
  const index = h.file.index;
  if (index && isIndexPolicy(index.policy)) g.indexPolicy = index.policy;
  // A graph on disk is used when the policy wants one; without it, search scans exactly (slower,
  // never wrong) until the next save builds it: a verify never spends minutes building a graph.
  if (index?.graph && g.wantsGraph() && opts.graph !== false) {
    if (index.graph.count !== g.size) throw new FacekitError('bad_gallery', `the gallery's search index holds ${index.graph.count} faces, the gallery ${g.size}; rebuild it with \`facekit db reindex\``, dbPath);
    g.ann = await AnnIndex.load(join(dir, basename(index.graph.file)), index.graph, h.dim, v.sha256);
  }
  return g;
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

/** Write the entries as JSON Lines to a temporary file; returns its path and checksum. */
async function writeEntries(dir: string, entries: GalleryEntry[]): Promise<{ tmp: string; sha256: string }> {
  const tmp = join(dir, `.entries.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  const out = createWriteStream(tmp);
  const hash: Hash = createHash('sha256');
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  try {
    for (let i = 0; i < entries.length; i += 10_000) {
      const text = entries.slice(i, i + 10_000).map((x) => JSON.stringify(x)).join('\n') + '\n';
      hash.update(text);
      if (!out.write(text)) await Promise.race([once(out, 'drain'), failed]);
    }
    await Promise.race([new Promise<void>((resolve) => out.end(resolve)), failed]);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw fsError(err, tmp);
  }
  return { tmp, sha256: hash.digest('hex') };
}

/**
 * Write the gallery: the new sidecars first (under new names), then the header in one rename,
 * then the old sidecars go. A crash at any point leaves either the old gallery or the new one.
 */
export async function saveGallery(g: InMemoryGallery, dbPath: string, facekitVersion: string): Promise<void> {
  const dir = dirname(dbPath);
  const raw = Buffer.from(g.vectors.buffer, g.vectors.byteOffset, g.vectors.byteLength);
  const vHash = createHash('sha256').update(raw).digest('hex');
  const vFile = sidecarName(dbPath, vHash);
  await writeFileAtomic(join(dir, vFile), raw, { durable: true });
  const { tmp, sha256: eHash } = await writeEntries(dir, g.entries);
  g.syncIndex();
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
    vectors: { file: vFile, dtype: 'float32', count: g.size, sha256: vHash },
    entries: { file: eFile, format: 'jsonl', count: g.size, sha256: eHash },
    index: graph ? { policy: g.indexPolicy, graph } : { policy: g.indexPolicy },
  };
  await writeFileAtomic(dbPath, JSON.stringify(json, null, 1) + '\n', { durable: true });
  // Old sidecars of this gallery are no longer referenced, nor what a killed writer left half-made.
  // Only this gallery's own: `<stem>.<12 hex>.<kind>`, exactly (gallery.v2.json's sidecars, beside
  // gallery.json, start with "gallery." too and are not ours).
  const ours = new RegExp(`^${escapeRegExp(stem(dbPath))}\\.[0-9a-f]{12}\\.(f32|entries\\.jsonl|hnsw)$`);
  for (const f of readdirSync(dir)) {
    if (isOrphanTemp(f, stem(dbPath))) {
      await unlink(join(dir, f)).catch(() => undefined);
      continue;
    }
    if (f === vFile || f === eFile || f === graph?.file) continue;
    if (ours.test(f)) await unlink(join(dir, f)).catch(() => undefined);
  }
}
