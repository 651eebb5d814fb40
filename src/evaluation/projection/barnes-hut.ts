/**
 * Barnes-Hut t-SNE (van der Maaten 2014) for larger sets: sparse input similarities over the
 * 3*perplexity nearest neighbours, repulsion summarised by a quadtree, O(n log n) per iteration,
 * after PCA down to 50 dimensions when the vectors are wider.
 */
import type { Matrix } from './matrix.js';
import { pca } from './pca.js';
import { gaussian, seededRandom } from './random.js';
import type { TsneOptions, TsneResult } from './matrix.js';

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

export function barnesHutTsne(input: Matrix, opts: TsneOptions): TsneResult {
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
