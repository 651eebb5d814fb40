/**
 * The gallery's vector search engines, below the identity search of gallery-search.ts:
 *   - an exact SIMD scan (usearch's exactSearch) for galleries too large for a plain loop;
 *   - an HNSW graph (usearch's Index) for galleries where even that is too slow: it proposes
 *     candidate faces, which are then re-ranked with the exact float32 vectors.
 * The graph lives in a sidecar file next to the gallery; it is written crash-safely (new file,
 * fsync, rename under a name carrying its content hash) and checked (size, checksum, the vectors
 * it was built for) before usearch reads it: usearch crashes the process on a damaged file.
 * usearch is a native addon, loaded on first use only, so that small galleries never pay for it.
 */
import { existsSync, statSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { FacekitError, fsError } from '../core/errors.js';
import { checkedBySample, fileSampleDigest, fileSha256, syncFile } from '../core/files.js';
import type { Metric } from '../models/catalogue.js';

/** auto: exact search below ANN_MIN_FACES, an HNSW graph from there on; exact; hnsw: always a graph. */
export type IndexPolicy = 'auto' | 'exact' | 'hnsw';
export const INDEX_POLICIES: readonly IndexPolicy[] = ['auto', 'exact', 'hnsw'];
export const isIndexPolicy = (s: string): s is IndexPolicy => (INDEX_POLICIES as readonly string[]).includes(s);

/**
 * From this many faces, `auto` galleries keep an HNSW graph: an exact scan of 100 000 128-d faces
 * takes about 7 ms, of a million 60-130 ms (memory bandwidth, not arithmetic, is its limit).
 */
export const ANN_MIN_FACES = 100_000;
/** Below this many faces a plain loop is as fast as the native scan, and loads nothing. */
export const NATIVE_SCAN_MIN_FACES = 20_000;

/**
 * Faces the graph proposes per query, re-ranked exactly. Measured on 300 000 synthetic faces
 * spread as LFW's (30 000 people, 300 queries): 80 candidates named the exact search's person
 * 95.3% of the time, 200 and 500 100%; a million faces are denser, so 512 (about 2 ms a query).
 */
export const ANN_CANDIDATES = 512;

/**
 * How the graph is built: links per face, and how widely each insertion looks. At 200 000
 * synthetic faces on two threads (issue 25's scratch experiment, 500 queries): 16 / 128 took 58 s,
 * 12 / 64 took 22 s; both named the exact search's person for 499-500 of 500 queries once the
 * 512 candidates were re-ranked. The cheaper graph is built; the re-ranking makes up for it.
 */
const CONNECTIVITY = 12;
const EXPANSION_ADD = 64;

/** What the gallery's header records of its graph file. */
export interface IndexFileInfo {
  file: string;
  kind: 'hnsw';
  space: 'cos' | 'l2sq';
  quantization: 'i8' | 'f16';
  connectivity: number;
  count: number;
  bytes: number;
  sha256: string;
  /** sample digest (core/files.ts), what a load checks when the file is over FULL_CHECK_BYTES */
  sample?: string;
  /** how vectors enter the graph (graphs written before it have none: vectors as they are) */
  frame?: GraphFrame;
  /** sha256 of the vector sidecar the graph was built from: a graph of other vectors is refused */
  vectors: string;
}

type Usearch = typeof import('usearch');
let usearch: Usearch | undefined;
function native(): Usearch {
  usearch ??= createRequire(import.meta.url)('usearch') as Usearch;
  return usearch;
}

const kindOf = (u: Usearch, space: 'cos' | 'l2sq') => (space === 'cos' ? u.MetricKind.Cos : u.MetricKind.L2sq);
const scalarOf = (u: Usearch, q: 'i8' | 'f16') => (q === 'i8' ? u.ScalarKind.I8 : u.ScalarKind.F16);

/** cosine and euclidean_l2 rank by angle; euclidean by raw distance. */
const spaceOf = (metric: Metric): 'cos' | 'l2sq' => (metric === 'euclidean' ? 'l2sq' : 'cos');

/**
 * Rows of the `k` vectors nearest to `query` by an exact scan (usearch's SIMD loop). `vectors`
 * holds `count` rows of `dim` floats.
 */
export function exactNearest(vectors: Float32Array, dim: number, query: ArrayLike<number>, metric: Metric, k: number): number[] {
  const count = vectors.length / dim;
  // A fresh array: usearch reads a subarray's whole underlying buffer, from its start.
  const q = Float32Array.from(query);
  const data = vectors.byteOffset === 0 && vectors.length === vectors.buffer.byteLength / 4 ? vectors : vectors.slice();
  const u = native();
  const m = u.exactSearch(data, q, dim, Math.min(k, count), kindOf(u, spaceOf(metric)), 1);
  return Array.from(m.keys, Number);
}

/**
 * How vectors enter a graph of angles: made unit length, less the gallery's mean unit vector.
 * Face embeddings share a common direction (resnet34's mean unit embedding has length 0.918), so
 * as they are, faces differ in the last few of i8's 255 steps, and a graph built on such rounded
 * angles misses neighbours: over 200 000 synthetic faces, the exact nearest face was among 512
 * candidates for 276 of 500 queries as they are, for 498 less the mean (issue 25's scratch
 * experiment). The graph then compares the directions of what is left (usearch's i8 makes each
 * vector unit length), which follow the faces' angles closely, as every face lies about as far
 * from the mean; its candidates are re-ranked with the exact vectors.
 */
export interface GraphFrame {
  center: number[];
}

function frameOf(vectors: Float32Array, dim: number): GraphFrame {
  const rows = vectors.length / dim;
  const center = new Float64Array(dim);
  const row = new Float32Array(dim);
  for (let r = 0; r < rows; r++) {
    framedRow(vectors, r, dim, undefined, row);
    for (let k = 0; k < dim; k++) center[k] += row[k]!;
  }
  return { center: Array.from(center, (c) => (rows ? c / rows : 0)) };
}

/** Row r of `vectors` into `out`: unit length, less the frame's centre. */
function framedRow(vectors: ArrayLike<number>, r: number, dim: number, frame: GraphFrame | undefined, out: Float32Array): void {
  let n = 0;
  for (let k = r * dim; k < (r + 1) * dim; k++) n += vectors[k]! * vectors[k]!;
  n = Math.sqrt(n) || 1;
  for (let k = 0; k < dim; k++) out[k] = vectors[r * dim + k]! / n - (frame ? frame.center[k]! : 0);
}

/** Rows added per call: framed into a buffer of their own (32 MiB of 128-d faces), not a copy of the gallery. */
const ADD_BATCH = 65_536;

/** An HNSW graph over the gallery's faces, keyed by their ids. */
export class AnnIndex {
  /** the file this graph was last read from or written to, while nothing has changed since */
  private saved: IndexFileInfo | undefined;
  /** memory-mapped from its file (a read-only load): searched, never changed */
  private viewed = false;

  private constructor(private readonly index: InstanceType<Usearch['Index']>, readonly dim: number, readonly space: 'cos' | 'l2sq', readonly quantization: 'i8' | 'f16',
    readonly connectivity: number, private readonly frame: GraphFrame | undefined) {}

  /**
   * A graph for a gallery's `metric`, with `vectors` (the gallery's, about to be added) giving the
   * frame of a graph of angles. Angles in i8 (a million 128-d faces in 128 MB); raw distances
   * (euclidean) need f16's range.
   */
  static create(dim: number, metric: Metric, vectors: Float32Array): AnnIndex {
    const space = spaceOf(metric);
    const quantization = space === 'cos' ? 'i8' : 'f16';
    const u = native();
    const index = new u.Index({ dimensions: dim, metric: kindOf(u, space), quantization: scalarOf(u, quantization), connectivity: CONNECTIVITY, expansion_add: EXPANSION_ADD, expansion_search: 64, multi: false });
    return new AnnIndex(index, dim, space, quantization, CONNECTIVITY, space === 'cos' ? frameOf(vectors, dim) : undefined);
  }

  /** `count` rows of `vectors` from `first` on, as the graph takes them (framed; a fresh array, as usearch reads a buffer from its start). */
  private framed(vectors: Float32Array, first: number, count: number): Float32Array {
    const out = new Float32Array(count * this.dim);
    if (!this.frame) {
      out.set(vectors.subarray(first * this.dim, (first + count) * this.dim));
      return out;
    }
    const row = new Float32Array(this.dim);
    for (let r = 0; r < count; r++) {
      framedRow(vectors, first + r, this.dim, this.frame, row);
      out.set(row, r * this.dim);
    }
    return out;
  }

  get size(): number {
    return this.index.size();
  }

  /**
   * Add rows (`vectors`, one per id), on `threads` threads. A whole gallery's graph is built on
   * every core: at 200 000 synthetic faces (scratch experiment of issue 25), two threads built it
   * in 58 s against 140 s on one, and the exact nearest face was among the 512 candidates for
   * 495/500 queries against 492/500 on one (499/500 named the exact search's person). Faces added
   * a few at a time go in on one thread.
   */
  add(ids: ArrayLike<number>, vectors: Float32Array, threads = 1): void {
    this.addFrom(ids, (first, count) => vectors.subarray(first * this.dim, (first + count) * this.dim), threads);
  }

  /** As add, the rows read `count` at a time by `read(first, count)` (from a file: the vectors need not be in memory). */
  addFrom(ids: ArrayLike<number>, read: (first: number, count: number) => Float32Array, threads = 1): void {
    if (ids.length === 0) return;
    if (this.viewed) throw new Error('a graph viewed from its file is read-only: load the gallery for writing');
    this.saved = undefined;
    for (let first = 0; first < ids.length; first += ADD_BATCH) {
      const count = Math.min(ADD_BATCH, ids.length - first);
      const keys = new BigUint64Array(count);
      for (let i = 0; i < count; i++) keys[i] = BigInt(ids[first + i]!);
      this.index.add(keys, this.framed(read(first, count), 0, count), threads);
    }
  }

  remove(ids: ArrayLike<number>): void {
    if (ids.length === 0) return;
    if (this.viewed) throw new Error('a graph viewed from its file is read-only: load the gallery for writing');
    this.saved = undefined;
    this.index.remove(BigUint64Array.from(Array.from(ids, (i) => BigInt(i))));
  }

  /** Ids of about `k` faces near `query`, nearest first (approximate: re-rank them exactly). */
  nearest(query: ArrayLike<number>, k: number): number[] {
    const q = Float32Array.from(query);
    const m = this.index.search(this.frame ? this.framed(q, 0, 1) : q, Math.min(k, this.size), 1);
    return Array.from(m.keys, Number);
  }

  /** Save, unless the graph is unchanged since it was read or written for these vectors. */
  async saveOnce(dir: string, stem: string, vectorsSha: string): Promise<IndexFileInfo> {
    if (this.saved?.vectors === vectorsSha && existsSync(join(dir, this.saved.file))) return this.saved;
    this.saved = await this.save(dir, stem, vectorsSha);
    return this.saved;
  }

  /**
   * Write the graph next to `dbPath`'s other sidecars, crash-safely: a temporary file, fsync,
   * then a rename to a name that carries its checksum. Returns what the header records.
   */
  async save(dir: string, stem: string, vectorsSha: string): Promise<IndexFileInfo> {
    const tmp = join(dir, `.${stem}.hnsw.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    try {
      this.index.save(tmp);
      syncFile(tmp);
      const sha256 = await fileSha256(tmp);
      const sample = fileSampleDigest(tmp);
      const file = `${stem}.${sha256.slice(0, 12)}.hnsw`;
      const bytes = statSync(tmp).size;
      await rename(tmp, join(dir, file));
      return { file, kind: 'hnsw', space: this.space, quantization: this.quantization, connectivity: this.connectivity, count: this.size, bytes, sha256, sample, ...(this.frame ? { frame: this.frame } : {}), vectors: vectorsSha };
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err instanceof FacekitError ? err : fsError(err, tmp);
    }
  }

  /**
   * Read a graph file after checking it is whole and is the one the header describes: its size,
   * its checksum (over FULL_CHECK_BYTES its sample digest, unless `full`), and the vectors it was
   * built from. Anything else is one clear error. `view`: memory-map it (read-only; a search
   * touches only the pages it needs) instead of reading it into memory.
   */
  static async load(path: string, info: IndexFileInfo, dim: number, vectorsSha: string, opts: { view?: boolean; full?: boolean } = {}): Promise<AnnIndex> {
    const bad = (why: string) => new FacekitError('bad_gallery', `the gallery's search index ${why}; rebuild it with \`facekit db reindex\``, path);
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw bad('is not a regular file');
      size = st.size;
    } catch (err) {
      if (err instanceof FacekitError) throw err;
      throw bad(`is missing or unreadable (${fsError(err, path).message})`);
    }
    if (size !== info.bytes) throw bad(`holds ${size} bytes, not the ${info.bytes} it was written with: it is truncated or damaged`);
    if (info.vectors !== vectorsSha) throw bad('was built for other vectors than the gallery holds');
    const frame = info.frame;
    if (frame !== undefined && (info.space !== 'cos' || !Array.isArray(frame.center) || frame.center.length !== dim || !frame.center.every(Number.isFinite))) {
      throw bad('has a damaged frame in the gallery\'s header');
    }
    if (checkedBySample(size, info, opts.full === true) ? fileSampleDigest(path) !== info.sample : (await fileSha256(path)) !== info.sha256) throw bad('does not match its checksum: it is damaged');
    const u = native();
    const index = new u.Index({ dimensions: dim, metric: kindOf(u, info.space), quantization: scalarOf(u, info.quantization), connectivity: info.connectivity, expansion_add: EXPANSION_ADD, expansion_search: 64, multi: false });
    if (opts.view) index.view(path);
    else index.load(path);
    if (index.size() !== info.count) throw bad(`holds ${index.size()} faces, the gallery says ${info.count}`);
    const ann = new AnnIndex(index, dim, info.space, info.quantization, info.connectivity, frame);
    ann.saved = info;
    ann.viewed = opts.view === true;
    return ann;
  }
}
