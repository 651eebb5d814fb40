/**
 * "Who is nearest?" over a gallery, by identity: each person's closest face, the k nearest people.
 * Three ways to find the candidates, one answer:
 *   - small galleries: every distance, in a plain loop;
 *   - large ones: an exact SIMD scan proposes the nearest faces;
 *   - galleries with an HNSW graph: the graph proposes them.
 * Candidates are always re-ranked with the exact float32 vectors, so the distances reported are
 * the same whichever way found them; with the graph, the nearest identity is the exact search's
 * whenever the true nearest face is among its candidates (measured in `npm run bench`).
 */
import { FacekitError } from '../core/errors.js';
import type { Metric } from '../models/catalogue.js';
import { ANN_CANDIDATES, exactNearest, NATIVE_SCAN_MIN_FACES, type AnnIndex } from './vector-index.js';

/** What the search needs of a gallery in memory (InMemoryGallery). */
export interface SearchableGallery {
  readonly meta: { model: string; dim: number };
  readonly size: number;
  readonly vectors: Float32Array;
  entryAt(row: number): { label: string; image: string };
  readonly ann: AnnIndex | undefined;
  rowsById(): Int32Array;
  norms(): Float64Array;
  /** one row's length (from norms() once they are computed) */
  normOf(row: number): number;
  distances(query: ArrayLike<number>, metric: Metric): Float32Array;
  labelIndex(): { ids: Int32Array; names: string[] };
}

export interface Match {
  label: string;
  distance: number;
  /** the gallery photo that matched best */
  image: string;
  row: number;
}

export function searchIdentities(g: SearchableGallery, query: ArrayLike<number>, metric: Metric, k: number, excludeRow?: (row: number) => boolean): Match[] {
  const dim = g.meta.dim;
  if (query.length !== dim) {
    throw new FacekitError('model_mismatch', `query is a ${query.length}-d embedding, the gallery holds ${dim}-d ${g.meta.model} embeddings`);
  }
  if (!g.ann && g.size < NATIVE_SCAN_MIN_FACES) return fullScan(g, query, metric, k, excludeRow);
  // Enough faces that k different people are almost always among them; more when they are not.
  // The graph is approximate: it proposes many more, so that the exact nearest is among them.
  for (let want = Math.max(g.ann ? ANN_CANDIDATES : 64, 16 * k); ; want *= 4) {
    const rows = candidateRows(g, query, metric, want);
    const found = rankCandidates(g, rows, query, metric, k, excludeRow);
    if (found.length >= k || want >= g.size) return found;
  }
}

function candidateRows(g: SearchableGallery, query: ArrayLike<number>, metric: Metric, want: number): number[] {
  if (!g.ann) return exactNearest(g.vectors, g.meta.dim, query, metric, want);
  const rowOf = g.rowsById();
  return g.ann.nearest(query, want).map((id) => rowOf[id] ?? -1).filter((r) => r >= 0);
}

/** Exact distances of the candidate rows, best face per person, the k nearest people. */
function rankCandidates(g: SearchableGallery, rows: number[], query: ArrayLike<number>, metric: Metric, k: number, excludeRow?: (row: number) => boolean): Match[] {
  const dim = g.meta.dim;
  const q = Float64Array.from(query);
  const qn = queryNorm(q);
  // the candidates' own lengths: a first search of a million faces does not compute them all
  const scored = rows.filter((r) => !excludeRow?.(r)).map((r) => ({ r, d: rowDistance(g.vectors, r * dim, dim, q, qn, metric === 'euclidean' ? 1 : g.normOf(r), metric) }));
  scored.sort((a, b) => a.d - b.d);
  const seen = new Set<string>();
  const out: Match[] = [];
  for (const { r, d } of scored) {
    const e = g.entryAt(r);
    if (seen.has(e.label)) continue;
    seen.add(e.label);
    out.push({ label: e.label, distance: d, image: e.image, row: r });
    if (out.length === k) break;
  }
  return out;
}

/** Every distance, each person's best, then the top k: a small sorted list, no sort of all. */
function fullScan(g: SearchableGallery, query: ArrayLike<number>, metric: Metric, k: number, excludeRow?: (row: number) => boolean): Match[] {
  const d = g.distances(query, metric);
  const { ids, names } = g.labelIndex();
  const best = new Float32Array(names.length).fill(Infinity);
  const bestRow = new Int32Array(names.length).fill(-1);
  for (let r = 0; r < d.length; r++) {
    const id = ids[r]!;
    if (d[r]! < best[id]! && !excludeRow?.(r)) {
      best[id] = d[r]!;
      bestRow[id] = r;
    }
  }
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
  return top.map((id) => ({ label: names[id]!, distance: best[id]!, image: g.entryAt(bestRow[id]!).image, row: bestRow[id]! }));
}

export function queryNorm(q: ArrayLike<number>): number {
  let n = 0;
  for (let k = 0; k < q.length; k++) n += q[k]! * q[k]!;
  return Math.sqrt(n) || 1;
}

/**
 * The distance of row `v[o .. o+dim)` (of length `vn`) to `q` (of length `qn`), in float64: the one
 * formula every search path uses, so that they report the same distances to the last digit (as
 * float32, which is what the plain loop keeps).
 */
export function rowDistance(v: Float32Array, o: number, dim: number, q: ArrayLike<number>, qn: number, vn: number, metric: Metric): number {
  if (metric === 'euclidean') {
    let s = 0;
    for (let k = 0; k < dim; k++) {
      const d = v[o + k]! - q[k]!;
      s += d * d;
    }
    return Math.fround(Math.sqrt(s));
  }
  // Four running sums: independent additions the CPU can overlap.
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const dim4 = dim - (dim % 4);
  let k = 0;
  for (; k < dim4; k += 4) {
    s0 += v[o + k]! * q[k]!;
    s1 += v[o + k + 1]! * q[k + 1]!;
    s2 += v[o + k + 2]! * q[k + 2]!;
    s3 += v[o + k + 3]! * q[k + 3]!;
  }
  for (; k < dim; k++) s0 += v[o + k]! * q[k]!;
  const cos = Math.min(1, Math.max(-1, (s0 + s1 + s2 + s3) / (vn * qn)));
  return Math.fround(metric === 'cosine' ? 1 - cos : Math.sqrt(Math.max(0, 2 - 2 * cos)));
}
