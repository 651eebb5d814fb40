/**
 * Symmetric eigenproblems for PCA: the full decomposition (Householder + QL, fine up to a few
 * hundred dimensions) and the top few eigenpairs of a large matrix by subspace iteration.
 */
import { gaussian, seededRandom } from './random.js';

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
export function topEigen(c: Float64Array, m: number, k: number): { values: Float64Array; vectors: Float64Array } {
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
