/**
 * Where a head starts: the principal directions of the training embeddings, so that an untrained
 * head already compares as the plain embedding does (restricted to its 256 strongest directions)
 * and training only has to improve on that. From a random start, a head trained on a few dozen
 * classes forgot what the backbone knew about new ones: on 40 synthetic signers (28 to train),
 * held-out AUC 0.88 (projection) and 0.81 (siamese) against 0.94 for the plain embedding.
 */
import { symmetricEigen } from '../evaluation/projection/eigen.js';
import type { HeadKind, Pair } from './split.js';

export interface PcaBasis {
  /** [dim, k] row-major: column j is the j-th direction (zero where the data has fewer) */
  kernel: Float32Array;
  /** -(mean . direction j): the bias that centres the data */
  bias: Float32Array;
}

/** The top `k` principal directions of rows `idx` of X ([n, dim]), through the n x n Gram matrix (n is small). */
export function pcaBasis(X: Float32Array, idx: number[], dim: number, k: number): PcaBasis {
  const n = idx.length;
  const mean = new Float64Array(dim);
  for (const r of idx) for (let c = 0; c < dim; c++) mean[c]! += X[r * dim + c]! / n;
  const centred = new Float64Array(n * dim);
  idx.forEach((r, i) => { for (let c = 0; c < dim; c++) centred[i * dim + c] = X[r * dim + c]! - mean[c]!; });
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let c = 0; c < dim; c++) s += centred[i * dim + c]! * centred[j * dim + c]!;
      gram[i * n + j] = s;
      gram[j * n + i] = s;
    }
  }
  const { values, vectors } = symmetricEigen(gram, n);
  const kernel = new Float32Array(dim * k);
  const bias = new Float32Array(k);
  const top = values[0] ?? 0;
  for (let j = 0; j < Math.min(k, n); j++) {
    const lambda = values[j]!;
    if (!(lambda > top * 1e-9)) break;
    // direction = X_c^T u / sqrt(lambda), unit length
    const inv = 1 / Math.sqrt(lambda);
    let b = 0;
    for (let c = 0; c < dim; c++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += centred[i * dim + c]! * vectors[j * n + i]!;
      kernel[c * k + j] = s * inv;
      b -= mean[c]! * s * inv;
    }
    bias[j] = b;
  }
  return { kernel, bias };
}

/** Project row r of X on the basis. */
function project(X: Float32Array, r: number, dim: number, basis: PcaBasis, k: number): Float64Array {
  const y = Float64Array.from(basis.bias);
  for (let c = 0; c < dim; c++) {
    const x = X[r * dim + c]!;
    for (let j = 0; j < k; j++) y[j]! += x * basis.kernel[c * k + j]!;
  }
  return y;
}

/**
 * The starting weights of a head: the basis as its first layer; for a siamese head, an output
 * layer that makes p(same) fall with the plain L1 distance in that basis, 0.5 halfway between the
 * median same-class and different-class distances of the train pairs.
 */
export function startingWeights(kind: HeadKind, X: Float32Array, trainRows: number[], pairs: Pair[], dim: number, k: number): Record<string, Float32Array> {
  const basis = pcaBasis(X, trainRows, dim, k);
  if (kind === 'projection') return { 'proj/kernel': basis.kernel, 'proj/bias': basis.bias };
  const cache = new Map<number, Float64Array>();
  const of = (r: number) => cache.get(r) ?? cache.set(r, project(X, r, dim, basis, k)).get(r)!;
  const l1 = (p: Pair) => { const a = of(p.i), b = of(p.j); let s = 0; for (let j = 0; j < k; j++) s += Math.abs(a[j]! - b[j]!); return s; };
  const median = (v: number[]) => { const s = [...v].sort((x, y) => x - y); return s[Math.floor(s.length / 2)] ?? 0; };
  const same = median(pairs.filter((p) => p.same).slice(0, 400).map(l1));
  const diff = median(pairs.filter((p) => !p.same).slice(0, 400).map(l1));
  const alpha = diff > same ? 4 / (diff - same) : 1 / Math.max(1e-6, diff);
  return {
    'branch/kernel': basis.kernel, 'branch/bias': basis.bias,
    'out/kernel': new Float32Array(k).fill(-alpha), 'out/bias': Float32Array.of(alpha * (same + diff) / 2),
  };
}
