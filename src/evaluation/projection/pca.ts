/**
 * PCA: the quick, deterministic projection that keeps the global layout; also the Barnes-Hut
 * t-SNE's first step down to 50 dimensions for wide vectors.
 */
import { topEigen } from './eigen.js';
import type { Matrix } from './matrix.js';

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
