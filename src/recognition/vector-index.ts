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
import { fileSha256, syncFile } from '../core/files.js';
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

/** An HNSW graph over the gallery's faces, keyed by their ids. */
export class AnnIndex {
  /** the file this graph was last read from or written to, while nothing has changed since */
  private saved: IndexFileInfo | undefined;

  private constructor(private readonly index: InstanceType<Usearch['Index']>, readonly dim: number, readonly space: 'cos' | 'l2sq', readonly quantization: 'i8' | 'f16') {}

  static create(dim: number, metric: Metric): AnnIndex {
    const space = spaceOf(metric);
    // i8 keeps a million 128-d faces in 128 MB and suits angles; raw distances need f16's range.
    const quantization = space === 'cos' ? 'i8' : 'f16';
    const u = native();
    const index = new u.Index({ dimensions: dim, metric: kindOf(u, space), quantization: scalarOf(u, quantization), connectivity: 16, expansion_add: 128, expansion_search: 64, multi: false });
    return new AnnIndex(index, dim, space, quantization);
  }

  get size(): number {
    return this.index.size();
  }

  /** Add rows (`vectors`, one per id). */
  add(ids: ArrayLike<number>, vectors: Float32Array): void {
    if (ids.length === 0) return;
    const keys = BigUint64Array.from(Array.from(ids, (i) => BigInt(i)));
    this.saved = undefined;
    // One thread: usearch's concurrent insertion (0 = every core) built graphs that missed the
    // true nearest face for 1-2 of 500 queries at 20 000 faces; one thread, none (issue 22's notes).
    this.index.add(keys, vectors.byteOffset === 0 && vectors.length === vectors.buffer.byteLength / 4 ? vectors : vectors.slice(), 1);
  }

  remove(ids: ArrayLike<number>): void {
    if (ids.length === 0) return;
    this.saved = undefined;
    this.index.remove(BigUint64Array.from(Array.from(ids, (i) => BigInt(i))));
  }

  /** Ids of about `k` faces near `query`, nearest first (approximate: re-rank them exactly). */
  nearest(query: ArrayLike<number>, k: number): number[] {
    const m = this.index.search(Float32Array.from(query), Math.min(k, this.size), 1);
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
      const file = `${stem}.${sha256.slice(0, 12)}.hnsw`;
      const bytes = statSync(tmp).size;
      await rename(tmp, join(dir, file));
      return { file, kind: 'hnsw', space: this.space, quantization: this.quantization, connectivity: 16, count: this.size, bytes, sha256, vectors: vectorsSha };
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err instanceof FacekitError ? err : fsError(err, tmp);
    }
  }

  /**
   * Read a graph file after checking it is whole and is the one the header describes: its size,
   * its checksum, and the vectors it was built from. Anything else is one clear error.
   */
  static async load(path: string, info: IndexFileInfo, dim: number, vectorsSha: string): Promise<AnnIndex> {
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
    if ((await fileSha256(path)) !== info.sha256) throw bad('does not match its checksum: it is damaged');
    const u = native();
    const index = new u.Index({ dimensions: dim, metric: kindOf(u, info.space), quantization: scalarOf(u, info.quantization), connectivity: info.connectivity, expansion_add: 128, expansion_search: 64, multi: false });
    index.load(path);
    if (index.size() !== info.count) throw bad(`holds ${index.size()} faces, the gallery says ${info.count}`);
    const ann = new AnnIndex(index, dim, info.space, info.quantization);
    ann.saved = info;
    return ann;
  }
}
