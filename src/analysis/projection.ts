/**
 * Embeddings down to 2-D for plotting. Pure functions over numbers, deterministic for a seed.
 *
 * - `pca`: principal components (quick, deterministic, keeps global layout).
 * - `tsne`: t-SNE. Small sets use tsne-js (exact t-SNE, O(n^2) per iteration); larger ones use the
 *   Barnes-Hut approximation written here (van der Maaten 2014: sparse input similarities over the
 *   3*perplexity nearest neighbours, repulsion summarised by a quadtree, O(n log n) per iteration),
 *   after PCA down to 50 dimensions when the vectors are wider.
 */
import { createRequire } from 'node:module';
import { FacekitError } from '../core/errors.js';

/** Row-major matrix: row i is data[i*cols .. (i+1)*cols). */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function matrixFrom(vectors: ArrayLike<number>[]): Matrix {
  const rows = vectors.length;
  const cols = rows ? vectors[0]!.length : 0;
  const data = new Float64Array(rows * cols);
  vectors.forEach((v, i) => {
    if (v.length !== cols) throw new FacekitError('model_mismatch', `cannot project a ${v.length}-d vector with ${cols}-d ones`);
    for (let k = 0; k < cols; k++) data[i * cols + k] = v[k]!;
  });
  return { rows, cols, data };
}

/** Row i of a matrix as an [x, y] pair (for 2-column results). */
export function points2d(m: Matrix): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < m.rows; i++) out.push([m.data[i * m.cols]!, m.data[i * m.cols + 1]!]);
  return out;
}

/* ---------------------------------------------------------------- random numbers */

/** mulberry32: a small, fast, seedable generator in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = (Math.floor(seed) >>> 0) ^ 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller) from a uniform generator. */
export function gaussian(rand: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0, v = 0, r = 0;
    do {
      u = 2 * rand() - 1;
      v = 2 * rand() - 1;
      r = u * u + v * v;
    } while (r === 0 || r >= 1);
    const f = Math.sqrt((-2 * Math.log(r)) / r);
    spare = v * f;
    return u * f;
  };
}

/* ---------------------------------------------------------------- symmetric eigenproblem */

/**
 * Eigenvalues and eigenvectors of a symmetric n x n matrix (row-major), largest eigenvalue first.
 * Householder tridiagonalisation + implicit QL (JAMA's tred2 / tql2). Returns the eigenvectors as
 * the rows of `vectors`.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const V = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: V };
  // tred2 on V (row-major V[i*n+j])
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0, h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        V[j * n + i] = f;
        g = e[j]! + V[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j]! * d[k]!;
          e[k] = e[k]! + V[k * n + j]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[k * n + j] = V[k * n + j]! - (f * e[k]! + g * d[k]!);
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i]!;
    V[i * n + i] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1]! / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1]! * V[k * n + j]!;
        for (let k = 0; k <= i; k++) V[k * n + j] = V[k * n + j]! - g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[(n - 1) * n + j]!;
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;

  // tql2 on W = V transposed, so that each eigenvector is a contiguous row.
  const W = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) W[j * n + i] = V[i * n + j]!;
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0, tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 200) break; // does not happen for symmetric input; a guard, not a path
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1, c2 = c, c3 = c, s = 0, s2 = 0;
        const el1 = e[l + 1]!;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          const oi = i * n, oi1 = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const hk = W[oi1 + k]!;
            W[oi1 + k] = s * W[oi + k]! + c * hk;
            W[oi + k] = c * W[oi + k]! - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  // largest first
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y]! - d[x]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src]!;
    vectors.set(W.subarray(src * n, (src + 1) * n), dst * n);
  });
  return { values, vectors };
}

/** Orthonormalise the columns of a (rows x cols, row-major) in place: modified Gram-Schmidt, twice. */
function orthonormalColumns(a: Float64Array, rows: number, cols: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let c = 0; c < cols; c++) {
      for (let p = 0; p < c; p++) {
        let dp = 0;
        for (let r = 0; r < rows; r++) dp += a[r * cols + c]! * a[r * cols + p]!;
        for (let r = 0; r < rows; r++) a[r * cols + c] = a[r * cols + c]! - dp * a[r * cols + p]!;
      }
      let nn = 0;
      for (let r = 0; r < rows; r++) nn += a[r * cols + c]! ** 2;
      const inv = 1 / (Math.sqrt(nn) || 1);
      for (let r = 0; r < rows; r++) a[r * cols + c] = a[r * cols + c]! * inv;
    }
  }
}

/**
 * The top `k` eigenpairs of a symmetric positive semi-definite m x m matrix: all of them by the
 * full decomposition when m is small, otherwise by subspace iteration (a block of k + 10 vectors,
 * repeated multiplication and re-orthonormalisation, then Rayleigh-Ritz), which is exact enough
 * for plotting and much faster than the full O(m^3) decomposition for m in the thousands.
 */
function topEigen(c: Float64Array, m: number, k: number): { values: Float64Array; vectors: Float64Array } {
  if (m <= 300 || k * 4 >= m) {
    const full = symmetricEigen(c, m);
    return { values: full.values.slice(0, k), vectors: full.vectors.slice(0, k * m) };
  }
  const l = Math.min(m, k + 10);
  const rand = gaussian(seededRandom(12345));
  const q = new Float64Array(m * l);
  for (let i = 0; i < q.length; i++) q[i] = rand();
  orthonormalColumns(q, m, l);
  const z = new Float64Array(m * l);
  for (let it = 0; it < 16; it++) {
    z.fill(0);
    for (let i = 0; i < m; i++) {
      const oi = i * m, zi = i * l;
      for (let j = 0; j < m; j++) {
        const cij = c[oi + j]!;
        if (cij === 0) continue;
        const qj = j * l;
        for (let t = 0; t < l; t++) z[zi + t] = z[zi + t]! + cij * q[qj + t]!;
      }
    }
    orthonormalColumns(z, m, l);
    q.set(z);
  }
  // Rayleigh-Ritz: B = Q^T C Q (l x l), its eigenvectors rotate Q.
  const cq = new Float64Array(m * l);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const cij = c[i * m + j]!;
      for (let t = 0; t < l; t++) cq[i * l + t] = cq[i * l + t]! + cij * q[j * l + t]!;
    }
  }
  const b = new Float64Array(l * l);
  for (let s = 0; s < l; s++) for (let t = 0; t < l; t++) {
    let acc = 0;
    for (let i = 0; i < m; i++) acc += q[i * l + s]! * cq[i * l + t]!;
    b[s * l + t] = acc;
  }
  for (let s = 0; s < l; s++) for (let t = s + 1; t < l; t++) b[s * l + t] = b[t * l + s] = (b[s * l + t]! + b[t * l + s]!) / 2;
  const small = symmetricEigen(b, l);
  const values = small.values.slice(0, k);
  const vectors = new Float64Array(k * m);
  for (let r = 0; r < k; r++) {
    for (let i = 0; i < m; i++) {
      let acc = 0;
      for (let t = 0; t < l; t++) acc += q[i * l + t]! * small.vectors[r * l + t]!;
      vectors[r * m + i] = acc;
    }
  }
  return { values, vectors };
}

/* ---------------------------------------------------------------- PCA */

export interface PcaResult {
  /** n x k coordinates */
  coords: Matrix;
  /** share of the total variance along each component */
  explained: number[];
}

/**
 * Principal components: the data centred and projected on its k directions of largest variance.
 * Works on the covariance (d x d) or, when there are fewer points than dimensions, on the Gram
 * matrix (n x n), whichever is smaller. Each component's sign is fixed (its largest coordinate is
 * positive), so the same data always gives the same picture.
 */
export function pca(x: Matrix, k: number): PcaResult {
  const { rows: n, cols: d } = x;
  const kk = Math.max(1, Math.min(k, d, n));
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] = mean[j]! + x.data[i * d + j]! / n;
  const xc = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xc[i * d + j] = x.data[i * d + j]! - mean[j]!;
  const coords = new Float64Array(n * kk);
  let values: Float64Array;
  let total = 0;
  if (d <= n) {
    const c = new Float64Array(d * d);
    for (let i = 0; i < n; i++) {
      const o = i * d;
      for (let a = 0; a < d; a++) {
        const va = xc[o + a]!;
        if (va === 0) continue;
        const ca = a * d;
        for (let b = a; b < d; b++) c[ca + b] = c[ca + b]! + va * xc[o + b]!;
      }
    }
    for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) c[b * d + a] = c[a * d + b]!;
    for (let a = 0; a < d; a++) total += c[a * d + a]!;
    const eig = topEigen(c, d, kk);
    values = eig.values;
    for (let i = 0; i < n; i++) for (let t = 0; t < kk; t++) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += xc[i * d + j]! * eig.vectors[t * d + j]!;
      coords[i * kk + t] = acc;
    }
  } else {
    const g = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < d; t++) acc += xc[i * d + t]! * xc[j * d + t]!;
      g[i * n + j] = g[j * n + i] = acc;
    }
    for (let i = 0; i < n; i++) total += g[i * n + i]!;
    const eig = topEigen(g, n, kk);
    values = eig.values;
    for (let t = 0; t < kk; t++) {
      const s = Math.sqrt(Math.max(0, values[t]!));
      for (let i = 0; i < n; i++) coords[i * kk + t] = eig.vectors[t * n + i]! * s;
    }
  }
  for (let t = 0; t < kk; t++) {
    let big = 0;
    for (let i = 0; i < n; i++) if (Math.abs(coords[i * kk + t]!) > Math.abs(big)) big = coords[i * kk + t]!;
    if (big < 0) for (let i = 0; i < n; i++) coords[i * kk + t] = -coords[i * kk + t]!;
  }
  const explained = Array.from(values, (v) => (total > 0 ? Math.max(0, v) / total : 0));
  return { coords: { rows: n, cols: kk, data: coords }, explained };
}

/* ---------------------------------------------------------------- t-SNE */

export type TsneAlgorithm = 'auto' | 'exact' | 'barnes-hut';

export interface TsneOptions {
  perplexity: number;
  iterations: number;
  seed: number;
  algorithm: TsneAlgorithm;
  /** Barnes-Hut accuracy: a cell is summarised when its width / distance < theta (0 = exact) */
  theta?: number;
  /** called every 10 iterations */
  onIteration?: (iteration: number, total: number) => void;
}

export interface TsneResult {
  coords: Matrix;
  algorithm: 'exact' | 'barnes-hut';
  iterations: number;
  /** dimensions the Barnes-Hut path reduced the input to with PCA first (absent: none) */
  pcaDims?: number;
}

/**
 * Up to this many points, exact t-SNE (tsne-js); beyond, Barnes-Hut. Measured with `facekit tsne`
 * on LFW resnet34 embeddings, 1000 iterations, on this project's 2-core machine (median of 3):
 * tsne-js 3.4 s at 100 points, 6.7 s at 150, 10.8 s at 200, 23 s at 300, 60 s at 500 (its cost
 * grows with n^2 per iteration, and so does its memory); Barnes-Hut 0.8 s at 100, 1.6 s at 500,
 * 2.9 s at 1 000, 17.6 s at 5 000, 31 s at 7 701.
 */
export const EXACT_LIMIT = 150;
export const MIN_ITERATIONS = 250;

/** The largest perplexity n points allow: each point needs 3 x perplexity neighbours. */
export function maxPerplexity(n: number): number {
  return (n - 1) / 3;
}

/** The default: 30 (the usual), or less when there are few points. */
export function defaultPerplexity(n: number): number {
  return Math.max(1, Math.min(30, Math.floor(maxPerplexity(n) * 100) / 100));
}

export function checkPerplexity(perplexity: number, n: number): void {
  if (n < 4) throw new FacekitError('usage', `t-SNE needs at least 4 points, there are ${n}; use --method pca`);
  if (perplexity < 1) throw new FacekitError('usage', `--perplexity must be at least 1, got ${perplexity}`);
  const max = maxPerplexity(n);
  if (perplexity > max) {
    throw new FacekitError('usage',
      `--perplexity ${perplexity} is too large for ${n} points: at most ${Math.floor(max * 100) / 100} ((points - 1) / 3); lower it, or leave it out for the default`);
  }
}

interface TsneJsModel {
  init(opts: { data: number[][]; type: 'dense' }): void;
  run(): [number, number];
  getOutput(): number[][];
  outputEmbedding: { data: Float64Array };
  on(event: 'progressIter', listener: (v: [number, number, number]) => void): void;
}
type TsneJsConstructor = new (config: {
  dim: number; perplexity: number; earlyExaggeration: number; learningRate: number; nIter: number; metric: 'euclidean';
}) => TsneJsModel;

let tsneJs: TsneJsConstructor | undefined;
function loadTsneJs(): TsneJsConstructor {
  tsneJs ??= createRequire(import.meta.url)('tsne-js') as TsneJsConstructor;
  return tsneJs;
}

/** t-SNE of the rows of x into 2-D. Same input, options and seed: same output. */
export function tsne(x: Matrix, opts: TsneOptions): TsneResult {
  checkPerplexity(opts.perplexity, x.rows);
  if (opts.iterations < MIN_ITERATIONS) throw new FacekitError('usage', `--iterations must be at least ${MIN_ITERATIONS}, got ${opts.iterations}`);
  const algorithm = opts.algorithm === 'auto' ? (x.rows <= EXACT_LIMIT ? 'exact' : 'barnes-hut') : opts.algorithm;
  return algorithm === 'exact' ? exactTsne(x, opts) : barnesHutTsne(x, opts);
}

/** Exact t-SNE by tsne-js, started from a seeded layout instead of its unseeded Math.random one. */
function exactTsne(x: Matrix, opts: TsneOptions): TsneResult {
  const TSNE = loadTsneJs();
  const model = new TSNE({
    dim: 2, perplexity: opts.perplexity, earlyExaggeration: 4, learningRate: 100, nIter: opts.iterations, metric: 'euclidean',
  });
  const rows: number[][] = [];
  for (let i = 0; i < x.rows; i++) rows.push(Array.from(x.data.subarray(i * x.cols, (i + 1) * x.cols)));
  model.init({ data: rows, type: 'dense' });
  const rand = gaussian(seededRandom(opts.seed));
  const y = model.outputEmbedding.data;
  for (let i = 0; i < y.length; i++) y[i] = rand() * 1e-4;
  let last = 0;
  model.on('progressIter', ([iter]) => {
    last = iter;
    if (iter % 10 === 0) opts.onIteration?.(iter, opts.iterations);
  });
  model.run();
  const out = model.getOutput();
  const data = new Float64Array(x.rows * 2);
  out.forEach((p, i) => {
    data[2 * i] = p[0]!;
    data[2 * i + 1] = p[1]!;
  });
  return { coords: { rows: x.rows, cols: 2, data }, algorithm: 'exact', iterations: last + 1 };
}

/* ---------------------------------------------------------------- Barnes-Hut t-SNE */

/** Sparse symmetric matrix in compressed rows. */
export interface Csr {
  rowPtr: Int32Array;
  col: Int32Array;
  val: Float64Array;
}

/** The k nearest neighbours of every row (squared euclidean distances), by brute force. */
export function nearestNeighbours(x: Matrix, k: number): { index: Int32Array; dist2: Float64Array } {
  const { rows: n, cols: d, data } = x;
  const index = new Int32Array(n * k);
  const dist2 = new Float64Array(n * k);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += data[i * d + t]! ** 2;
    norms[i] = s;
  }
  // a max-heap of the k best so far, per row
  const hi = new Int32Array(k);
  const hd = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    let size = 0;
    const oi = i * d;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const oj = j * d;
      let dp = 0;
      for (let t = 0; t < d; t++) dp += data[oi + t]! * data[oj + t]!;
      const dd = Math.max(0, norms[i]! + norms[j]! - 2 * dp);
      if (size < k) {
        // sift up
        let c = size++;
        while (c > 0) {
          const p = (c - 1) >> 1;
          if (hd[p]! >= dd) break;
          hd[c] = hd[p]!;
          hi[c] = hi[p]!;
          c = p;
        }
        hd[c] = dd;
        hi[c] = j;
      } else if (dd < hd[0]!) {
        // replace the root, sift down
        let c = 0;
        for (;;) {
          const l = 2 * c + 1;
          if (l >= k) break;
          const r = l + 1;
          const m = r < k && hd[r]! > hd[l]! ? r : l;
          if (hd[m]! <= dd) break;
          hd[c] = hd[m]!;
          hi[c] = hi[m]!;
          c = m;
        }
        hd[c] = dd;
        hi[c] = j;
      }
    }
    // sorted, nearest first
    const order = Array.from({ length: k }, (_, t) => t).sort((a, b) => hd[a]! - hd[b]! || hi[a]! - hi[b]!);
    order.forEach((src, dst) => {
      index[i * k + dst] = hi[src]!;
      dist2[i * k + dst] = hd[src]!;
    });
  }
  return { index, dist2 };
}

/**
 * Input similarities: for each point, a Gaussian over its k neighbours whose width gives the wanted
 * perplexity (binary search), then symmetrised, P = (P_j|i + P_i|j) / 2n. Sums to 1.
 */
export function inputSimilarities(index: Int32Array, dist2: Float64Array, n: number, k: number, perplexity: number): Csr {
  const cond = new Float64Array(n * k);
  const target = Math.log(perplexity);
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    let beta = 1, lo = -Infinity, hi = Infinity;
    const base = dist2[i * k]!; // subtract the nearest distance: exp() stays in range
    for (let step = 0; step < 200; step++) {
      let sum = 0, sumDP = 0;
      for (let t = 0; t < k; t++) {
        const dd = dist2[i * k + t]! - base;
        const p = Math.exp(-beta * dd);
        row[t] = p;
        sum += p;
        sumDP += dd * p;
      }
      const entropy = Math.log(sum) + (beta * sumDP) / sum;
      for (let t = 0; t < k; t++) cond[i * k + t] = row[t]! / sum;
      const diff = entropy - target;
      if (Math.abs(diff) < 1e-5) break;
      if (diff > 0) {
        lo = beta;
        beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = lo === -Infinity ? beta / 2 : (beta + lo) / 2;
      }
    }
  }
  // symmetrise: every (i, j) and (j, i) entry, then merge duplicates row by row
  const count = new Int32Array(n);
  for (let i = 0; i < n; i++) for (let t = 0; t < k; t++) {
    count[i]!++;
    count[index[i * k + t]!]!++;
  }
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) start[i + 1] = start[i]! + count[i]!;
  const fill = start.slice(0, n);
  const cols = new Int32Array(start[n]!);
  const vals = new Float64Array(start[n]!);
  for (let i = 0; i < n; i++) for (let t = 0; t < k; t++) {
    const j = index[i * k + t]!;
    const p = cond[i * k + t]!;
    cols[fill[i]!] = j;
    vals[fill[i]!++] = p;
    cols[fill[j]!] = i;
    vals[fill[j]!++] = p;
  }
  const rowPtr = new Int32Array(n + 1);
  const outCol: number[] = [];
  const outVal: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = start[i]!, e = start[i + 1]!;
    const order = Array.from({ length: e - s }, (_, t) => s + t).sort((a, b) => cols[a]! - cols[b]!);
    let prev = -1;
    for (const o of order) {
      if (cols[o] === prev) outVal[outVal.length - 1]! += vals[o]!;
      else {
        outCol.push(cols[o]!);
        outVal.push(vals[o]!);
        prev = cols[o]!;
      }
    }
    rowPtr[i + 1] = outCol.length;
  }
  const val = Float64Array.from(outVal, (v) => v / (2 * n));
  return { rowPtr, col: Int32Array.from(outCol), val };
}

/** A quadtree over 2-D points, in flat typed arrays, rebuilt every iteration. */
class QuadTree {
  private cap = 0;
  size = 0;
  cx = new Float64Array(0);
  cy = new Float64Array(0);
  hw = new Float64Array(0);
  /** centre of mass (sums while building, then divided) */
  mx = new Float64Array(0);
  my = new Float64Array(0);
  count = new Int32Array(0);
  /** first child (4 consecutive nodes), or -1 for a leaf */
  child = new Int32Array(0);
  /** the point a leaf holds, or -1 */
  point = new Int32Array(0);
  depth = new Int32Array(0);

  private grow(min: number): void {
    if (min <= this.cap) return;
    const cap = Math.max(min, this.cap * 2, 1024);
    const f = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    const g = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a); return b; };
    this.cx = f(this.cx); this.cy = f(this.cy); this.hw = f(this.hw); this.mx = f(this.mx); this.my = f(this.my);
    this.count = g(this.count); this.child = g(this.child); this.point = g(this.point); this.depth = g(this.depth);
    this.cap = cap;
  }

  private node(cx: number, cy: number, hw: number, depth: number): number {
    this.grow(this.size + 1);
    const i = this.size++;
    this.cx[i] = cx; this.cy[i] = cy; this.hw[i] = hw;
    this.mx[i] = 0; this.my[i] = 0; this.count[i] = 0; this.child[i] = -1; this.point[i] = -1; this.depth[i] = depth;
    return i;
  }

  private split(i: number): void {
    const h = this.hw[i]! / 2, x = this.cx[i]!, y = this.cy[i]!, dd = this.depth[i]! + 1;
    const first = this.node(x - h, y - h, h, dd);
    this.node(x + h, y - h, h, dd);
    this.node(x - h, y + h, h, dd);
    this.node(x + h, y + h, h, dd);
    this.child[i] = first;
  }

  private quadrant(i: number, x: number, y: number): number {
    return this.child[i]! + (x >= this.cx[i]! ? 1 : 0) + (y >= this.cy[i]! ? 2 : 0);
  }

  build(y: Float64Array, n: number): void {
    this.size = 0;
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const a = y[2 * i]!, b = y[2 * i + 1]!;
      if (a < minX) minX = a;
      if (a > maxX) maxX = a;
      if (b < minY) minY = b;
      if (b > maxY) maxY = b;
    }
    const hw = Math.max(maxX - minX, maxY - minY, 1e-12) / 2 * (1 + 1e-9) + 1e-12;
    this.node((minX + maxX) / 2, (minY + maxY) / 2, hw, 0);
    for (let p = 0; p < n; p++) this.insert(p, y[2 * p]!, y[2 * p + 1]!, y);
    for (let i = 0; i < this.size; i++) {
      if (this.count[i]! > 0) {
        this.mx[i] = this.mx[i]! / this.count[i]!;
        this.my[i] = this.my[i]! / this.count[i]!;
      }
    }
  }

  private insert(p: number, x: number, yy: number, y: Float64Array): void {
    let i = 0;
    for (;;) {
      this.count[i]!++;
      this.mx[i] = this.mx[i]! + x;
      this.my[i] = this.my[i]! + yy;
      if (this.child[i] === -1) {
        if (this.count[i] === 1) {
          this.point[i] = p;
          return;
        }
        const q = this.point[i]!;
        const qx = y[2 * q]!, qy = y[2 * q + 1]!;
        // the same place (or too deep to tell apart): the leaf holds both
        if ((qx === x && qy === yy) || this.depth[i]! >= 48) return;
        this.split(i);
        this.point[i] = -1;
        const c = this.quadrant(i, qx, qy);
        this.count[c] = this.count[i]! - 1; // every point the leaf held sits at q
        this.mx[c] = qx * this.count[c]!;
        this.my[c] = qy * this.count[c]!;
        this.point[c] = q;
      }
      i = this.quadrant(i, x, yy);
    }
  }
}

/**
 * The t-SNE gradient at layout y (n x 2) for similarities p: attraction along P's entries,
 * repulsion summarised with the quadtree (theta = 0: every pair, i.e. exact). Returns the KL
 * normaliser Z as well. Exported for tests.
 */
export function bhGradient(y: Float64Array, n: number, p: Csr, theta: number, exaggeration: number, grad: Float64Array, tree = new QuadTree()): number {
  tree.build(y, n);
  const stack = new Int32Array(64 * 4 + 16);
  const rep = new Float64Array(2 * n);
  const theta2 = theta * theta;
  let z = 0;
  for (let i = 0; i < n; i++) {
    const xi = y[2 * i]!, yi = y[2 * i + 1]!;
    let fx = 0, fy = 0;
    let top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const node = stack[--top]!;
      const cnt = tree.count[node]!;
      if (cnt === 0) continue;
      const dx = xi - tree.mx[node]!, dy = yi - tree.my[node]!;
      const d2 = dx * dx + dy * dy;
      const leaf = tree.child[node] === -1;
      const width = 2 * tree.hw[node]!;
      if (leaf || width * width < theta2 * d2) {
        // a leaf holding point i itself counts only its other points (all at the same place)
        const m = leaf && tree.point[node] === i ? cnt - 1 : cnt;
        if (m === 0) continue;
        const q = 1 / (1 + d2);
        z += m * q;
        const mq2 = m * q * q;
        fx += mq2 * dx;
        fy += mq2 * dy;
      } else {
        const c = tree.child[node]!;
        stack[top++] = c; stack[top++] = c + 1; stack[top++] = c + 2; stack[top++] = c + 3;
      }
    }
    rep[2 * i] = fx;
    rep[2 * i + 1] = fy;
  }
  const zz = Math.max(z, 1e-12);
  for (let i = 0; i < n; i++) {
    const xi = y[2 * i]!, yi = y[2 * i + 1]!;
    let ax = 0, ay = 0;
    for (let e = p.rowPtr[i]!; e < p.rowPtr[i + 1]!; e++) {
      const j = p.col[e]!;
      const dx = xi - y[2 * j]!, dy = yi - y[2 * j + 1]!;
      const w = p.val[e]! / (1 + dx * dx + dy * dy);
      ax += w * dx;
      ay += w * dy;
    }
    grad[2 * i] = 4 * (exaggeration * ax - rep[2 * i]! / zz);
    grad[2 * i + 1] = 4 * (exaggeration * ay - rep[2 * i + 1]! / zz);
  }
  return zz;
}

const BH_EXAGGERATION = 12;
const BH_EXAGGERATION_ITERS = 250;

function barnesHutTsne(input: Matrix, opts: TsneOptions): TsneResult {
  const n = input.rows;
  let x = input;
  let pcaDims: number | undefined;
  if (x.cols > 50) {
    x = pca(x, 50).coords;
    pcaDims = x.cols;
  }
  const k = Math.min(n - 1, Math.floor(3 * opts.perplexity));
  const nn = nearestNeighbours(x, k);
  const p = inputSimilarities(nn.index, nn.dist2, n, k, opts.perplexity);
  const rand = gaussian(seededRandom(opts.seed));
  const y = new Float64Array(2 * n);
  for (let i = 0; i < y.length; i++) y[i] = rand() * 1e-4;
  const grad = new Float64Array(2 * n);
  const update = new Float64Array(2 * n);
  const gains = new Float64Array(2 * n).fill(1);
  const lr = Math.max(n / BH_EXAGGERATION / 4, 50);
  const theta = opts.theta ?? 0.5;
  const tree = new QuadTree();
  for (let it = 0; it < opts.iterations; it++) {
    const early = it < BH_EXAGGERATION_ITERS;
    const momentum = early ? 0.5 : 0.8;
    bhGradient(y, n, p, theta, early ? BH_EXAGGERATION : 1, grad, tree);
    let mx = 0, my = 0;
    for (let t = 0; t < 2 * n; t++) {
      const g = grad[t]!;
      gains[t] = Math.max(0.01, update[t]! * g < 0 ? gains[t]! + 0.2 : gains[t]! * 0.8);
      update[t] = momentum * update[t]! - lr * gains[t]! * g;
      y[t] = y[t]! + update[t]!;
    }
    for (let i = 0; i < n; i++) {
      mx += y[2 * i]!;
      my += y[2 * i + 1]!;
    }
    mx /= n;
    my /= n;
    for (let i = 0; i < n; i++) {
      y[2 * i] = y[2 * i]! - mx;
      y[2 * i + 1] = y[2 * i + 1]! - my;
    }
    if (it % 10 === 0) opts.onIteration?.(it, opts.iterations);
  }
  const result: TsneResult = { coords: { rows: n, cols: 2, data: y }, algorithm: 'barnes-hut', iterations: opts.iterations };
  if (pcaDims !== undefined) result.pcaDims = pcaDims;
  return result;
}
