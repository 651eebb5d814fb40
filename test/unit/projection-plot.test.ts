/**
 * The pieces of `facekit tsne` and `facekit eval --roc` below the verbs: the projections (PCA,
 * t-SNE exact and Barnes-Hut) and the plots (scatter with label placement, ROC, SVG and PNG
 * output). One file: they share a subject and a worker.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { rocCurve } from '../../src/evaluation/index.js';
import {
  displayName, escapeXml, niceTicks, placeLabels, plotFormat, rocSvg, scatterSvg, segmentHitsBox, segmentsCross, shorten, svgToPng,
  textWidth, writePlot, type LabelRequest, type ScatterPoint,
} from '../../src/evaluation/plot/index.js';
import { overlaps, type Box } from '../../src/evaluation/plot/svg.js';
import {
  bhGradient, checkPerplexity, defaultPerplexity, gaussian, inputSimilarities, matrixFrom, nearestNeighbours, pca, points2d,
  seededRandom, symmetricEigen, tsne, type Matrix,
} from '../../src/evaluation/projection/index.js';
import { tempDir } from '../helpers/cli.js';

/* ================================================================ projections */

/** `perCluster` points around each of `clusters` well-separated centres in `dim` dimensions. */
function blobs(clusters: number, perCluster: number, dim: number, seed = 1, spread = 0.3): { x: Matrix; label: number[] } {
  const g = gaussian(seededRandom(seed));
  const centres = Array.from({ length: clusters }, () => Array.from({ length: dim }, () => g() * 4));
  const rows: number[][] = [];
  const label: number[] = [];
  for (let i = 0; i < clusters * perCluster; i++) {
    const c = i % clusters;
    rows.push(centres[c]!.map((v) => v + g() * spread));
    label.push(c);
  }
  return { x: matrixFrom(rows), label };
}

/** Share of points whose nearest neighbour in the layout has the same label. */
function purity(xy: [number, number][], label: number[]): number {
  let ok = 0;
  xy.forEach(([x, y], i) => {
    let best = Infinity, bj = -1;
    xy.forEach(([u, v], j) => {
      const d = (x - u) ** 2 + (y - v) ** 2;
      if (j !== i && d < best) { best = d; bj = j; }
    });
    if (label[bj] === label[i]) ok++;
  });
  return ok / xy.length;
}

describe('random numbers', () => {
  it('are the same for the same seed and differ across seeds', () => {
    const a = seededRandom(5), b = seededRandom(5), c = seededRandom(6);
    const xa = Array.from({ length: 5 }, a), xb = Array.from({ length: 5 }, b), xc = Array.from({ length: 5 }, c);
    expect(xa).toEqual(xb);
    expect(xa).not.toEqual(xc);
    for (const v of xa) expect(v >= 0 && v < 1).toBe(true);
    const g = gaussian(seededRandom(1));
    const s = Array.from({ length: 20000 }, g);
    const mean = s.reduce((p, v) => p + v, 0) / s.length;
    const sd = Math.sqrt(s.reduce((p, v) => p + (v - mean) ** 2, 0) / s.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
  });
});

describe('symmetric eigendecomposition', () => {
  it('gives A v = lambda v, largest first, orthonormal vectors', () => {
    const n = 30;
    const g = gaussian(seededRandom(3));
    const b = Array.from({ length: n * n }, g);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += b[i * n + k]! * b[j * n + k]!;
      a[i * n + j] = s;
    }
    const { values, vectors } = symmetricEigen(a, n);
    for (let t = 1; t < n; t++) expect(values[t]!).toBeLessThanOrEqual(values[t - 1]!);
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += a[i * n + j]! * vectors[t * n + j]!;
        expect(s).toBeCloseTo(values[t]! * vectors[t * n + i]!, 8);
      }
      let dot01 = 0, norm = 0;
      for (let i = 0; i < n; i++) {
        norm += vectors[t * n + i]! ** 2;
        dot01 += vectors[t * n + i]! * vectors[((t + 1) % n) * n + i]!;
      }
      expect(norm).toBeCloseTo(1, 10);
      expect(dot01).toBeCloseTo(0, 10);
    }
  });

  it('handles a diagonal matrix and size 1', () => {
    expect(Array.from(symmetricEigen(Float64Array.from([1, 0, 0, 0, 3, 0, 0, 0, 2]), 3).values)).toEqual([3, 2, 1]);
    expect(Array.from(symmetricEigen(Float64Array.from([4]), 1).values)).toEqual([4]);
  });
});

describe('PCA', () => {
  it('finds the direction of largest variance and says how much it explains', () => {
    const g = gaussian(seededRandom(2));
    // variance 9 along (1, 1, 0)/sqrt2, 1 along z, 0.01 along (1, -1, 0)
    const rows = Array.from({ length: 400 }, () => {
      const a = g() * 3, b = g(), c = g() * 0.1;
      return [(a + c) / Math.SQRT2, (a - c) / Math.SQRT2, b];
    });
    const p = pca(matrixFrom(rows), 2);
    expect(p.coords.cols).toBe(2);
    expect(p.explained[0]!).toBeGreaterThan(0.85);
    expect(p.explained[0]! + p.explained[1]!).toBeGreaterThan(0.99);
    // the first coordinate is the projection on (1, 1, 0)/sqrt2, up to sign (fixed: largest is positive)
    const proj = rows.map((r) => (r[0]! + r[1]!) / Math.SQRT2);
    const mean = proj.reduce((s, v) => s + v, 0) / proj.length;
    const c0 = points2d(p.coords).map((q) => q[0]);
    const sign = Math.sign(c0[0]! * (proj[0]! - mean));
    c0.forEach((v, i) => expect(v).toBeCloseTo(sign * (proj[i]! - mean), 1));
    const big = c0.reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0);
    expect(big).toBeGreaterThan(0);
  });

  it('gives the same picture through the Gram matrix (fewer points than dimensions)', () => {
    const { x } = blobs(3, 10, 5, 4);
    const wide = matrixFrom(Array.from({ length: x.rows }, (_, i) => [...x.data.subarray(i * 5, i * 5 + 5), ...new Array(60).fill(0)]));
    const a = pca(x, 2), b = pca(wide, 2);
    for (let i = 0; i < a.coords.data.length; i++) expect(b.coords.data[i]!).toBeCloseTo(a.coords.data[i]!, 6);
    expect(b.explained[0]!).toBeCloseTo(a.explained[0]!, 8);
  });

  it('uses subspace iteration for wide data and agrees with the full decomposition', () => {
    const { x } = blobs(6, 60, 320, 5, 1);
    const fast = pca(x, 3);
    // full decomposition of the same covariance
    const d = x.cols, n = x.rows;
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] = mean[j]! + x.data[i * d + j]! / n;
    const c = new Float64Array(d * d);
    for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
      c[a * d + b] = c[a * d + b]! + (x.data[i * d + a]! - mean[a]!) * (x.data[i * d + b]! - mean[b]!);
    }
    const full = symmetricEigen(c, d);
    let total = 0;
    for (let a = 0; a < d; a++) total += c[a * d + a]!;
    for (let t = 0; t < 3; t++) expect(fast.explained[t]!).toBeCloseTo(full.values[t]! / total, 4);
  });
});

describe('t-SNE pieces', () => {
  it('finds the nearest neighbours', () => {
    const { x } = blobs(2, 20, 4, 7);
    const k = 5;
    const nn = nearestNeighbours(x, k);
    for (let i = 0; i < x.rows; i++) {
      const d = Array.from({ length: x.rows }, (_, j) => {
        let s = 0;
        for (let t = 0; t < x.cols; t++) s += (x.data[i * x.cols + t]! - x.data[j * x.cols + t]!) ** 2;
        return { j, s };
      }).filter((o) => o.j !== i).sort((a, b) => a.s - b.s);
      for (let t = 0; t < k; t++) {
        expect(nn.dist2[i * k + t]!).toBeCloseTo(d[t]!.s, 8);
      }
    }
  });

  it('builds symmetric input similarities that sum to 1', () => {
    const { x } = blobs(3, 20, 6, 8);
    const k = 15;
    const nn = nearestNeighbours(x, k);
    const p = inputSimilarities(nn.index, nn.dist2, x.rows, k, 5);
    const get = (i: number, j: number) => {
      for (let e = p.rowPtr[i]!; e < p.rowPtr[i + 1]!; e++) if (p.col[e] === j) return p.val[e]!;
      return 0;
    };
    let sum = 0;
    for (let i = 0; i < x.rows; i++) for (let e = p.rowPtr[i]!; e < p.rowPtr[i + 1]!; e++) {
      sum += p.val[e]!;
      expect(get(p.col[e]!, i)).toBeCloseTo(p.val[e]!, 12);
      expect(p.col[e]).not.toBe(i);
    }
    expect(sum).toBeCloseTo(1, 9);
  });

  it('Barnes-Hut gradient equals the exact gradient at theta 0 and is close at theta 0.5', () => {
    const { x } = blobs(3, 30, 5, 9);
    const n = x.rows, k = 20;
    const nn = nearestNeighbours(x, k);
    const p = inputSimilarities(nn.index, nn.dist2, n, k, 6);
    const g = gaussian(seededRandom(10));
    const y = Float64Array.from({ length: 2 * n }, () => g() * 3);
    // exact gradient: 4 * sum_j (p_ij - q_ij) (y_i - y_j) / (1 + |y_i - y_j|^2)
    let z = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) z += 1 / (1 + (y[2 * i]! - y[2 * j]!) ** 2 + (y[2 * i + 1]! - y[2 * j + 1]!) ** 2);
    const pd = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let e = p.rowPtr[i]!; e < p.rowPtr[i + 1]!; e++) pd[i * n + p.col[e]!] = p.val[e]!;
    const exact = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const dx = y[2 * i]! - y[2 * j]!, dy = y[2 * i + 1]! - y[2 * j + 1]!;
      const w = 1 / (1 + dx * dx + dy * dy);
      const m = 4 * (pd[i * n + j]! - w / z) * w;
      exact[2 * i] = exact[2 * i]! + m * dx;
      exact[2 * i + 1] = exact[2 * i + 1]! + m * dy;
    }
    const g0 = new Float64Array(2 * n);
    const z0 = bhGradient(y, n, p, 0, 1, g0);
    expect(z0).toBeCloseTo(z, 8);
    for (let t = 0; t < 2 * n; t++) expect(g0[t]!).toBeCloseTo(exact[t]!, 10);
    const g5 = new Float64Array(2 * n);
    bhGradient(y, n, p, 0.5, 1, g5);
    let err = 0, norm = 0;
    for (let t = 0; t < 2 * n; t++) {
      err += (g5[t]! - exact[t]!) ** 2;
      norm += exact[t]! ** 2;
    }
    expect(Math.sqrt(err / norm)).toBeLessThan(0.05);
  });

  it('survives points on top of each other', () => {
    const rows = [...Array.from({ length: 10 }, () => [1, 1, 1]), ...Array.from({ length: 10 }, () => [5, 5, 5])];
    const r = tsne(matrixFrom(rows), { perplexity: 3, iterations: 250, seed: 1, algorithm: 'barnes-hut' });
    for (const v of r.coords.data) expect(Number.isFinite(v)).toBe(true);
  });
});

describe('t-SNE', () => {
  it.each(['exact', 'barnes-hut'] as const)('%s: separates clusters, and the same seed gives the same picture', (algorithm) => {
    const { x, label } = blobs(4, 15, 20, 11);
    const opts = { perplexity: 10, iterations: 500, seed: 3, algorithm };
    const a = tsne(x, opts);
    expect(a.algorithm).toBe(algorithm);
    expect(purity(points2d(a.coords), label)).toBeGreaterThan(0.95);
    const b = tsne(x, opts);
    expect(Array.from(b.coords.data)).toEqual(Array.from(a.coords.data));
    const c = tsne(x, { ...opts, seed: 4 });
    expect(Array.from(c.coords.data)).not.toEqual(Array.from(a.coords.data));
  });

  it('picks exact t-SNE for small sets and Barnes-Hut (after PCA to 50-d) for large', () => {
    expect(tsne(blobs(3, 20, 8).x, { perplexity: 5, iterations: 250, seed: 1, algorithm: 'auto' }).algorithm).toBe('exact');
    const big = blobs(5, 60, 64, 12);
    const r = tsne(big.x, { perplexity: 20, iterations: 300, seed: 1, algorithm: 'auto' });
    expect(r.algorithm).toBe('barnes-hut');
    expect(r.pcaDims).toBe(50);
    expect(purity(points2d(r.coords), big.label)).toBeGreaterThan(0.98);
  });

  it('refuses a perplexity the points cannot carry, and too few points', () => {
    expect(() => checkPerplexity(30, 20)).toThrow(/--perplexity 30 is too large for 20 points: at most 6.33/);
    expect(() => checkPerplexity(5, 3)).toThrow(/at least 4 points/);
    expect(() => checkPerplexity(0.5, 30)).toThrow(/at least 1/);
    expect(defaultPerplexity(1000)).toBe(30);
    expect(defaultPerplexity(20)).toBeCloseTo(6.33, 2);
    expect(() => checkPerplexity(defaultPerplexity(20), 20)).not.toThrow();
  });
});

/* ================================================================ plots */

const people = ['ana', 'bob_dylan', 'carla & "co" <x>'];
const points: ScatterPoint[] = [
  ...people.flatMap((g, gi) => Array.from({ length: 4 }, (_, i) => ({ x: gi * 10 + i, y: gi * 5 - i, group: g }))),
  { x: 3, y: 3, group: null, text: 'who.jpg' },
];
const opts = { title: 't-SNE of 12 faces', subtitle: 'resnet34', xLabel: 't-SNE 1', yLabel: 't-SNE 2', labels: true, unknownLabel: 'Pessoa desconhecida' };

describe('scatter plot', () => {
  it('has a title, axes, a legend entry per person with counts, and the unknown point', () => {
    const svg = scatterSvg(points, opts);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('>t-SNE of 12 faces</text>');
    expect(svg).toContain('>t-SNE 1</text>');
    expect(svg).toContain('>t-SNE 2</text>');
    expect(svg).toContain('>Ana (4)</text>');
    expect(svg).toContain('>Bob Dylan (4)</text>');
    expect(svg).toContain('Carla &amp; &quot;co&quot; &lt;x&gt; (4)');
    expect(svg).toContain('>Pessoa desconhecida</text>'); // legend, one query: no count
    expect(svg).toContain('Pessoa desconhecida: who.jpg'); // next to the point, with --labels
    expect(svg).toContain('<polygon'); // the star
    expect(svg).not.toMatch(/NaN|undefined/);
  });

  it('renders to PNG through sharp (so the SVG is well formed)', async () => {
    const png = await svgToPng(scatterSvg(points, opts), 1);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1200, 860]);
    const stats = await sharp(png).stats();
    // not a blank page: the colours are there
    expect(stats.channels.some((c) => c.min < 100)).toBe(true);
  });

  it('greys out people beyond the legend limit and copes with one point or one place', () => {
    const many: ScatterPoint[] = Array.from({ length: 60 }, (_, i) => ({ x: i, y: (i * 7) % 13, group: `p${i % 30}` }));
    const svg = scatterSvg(many, { ...opts, labels: false, maxLegend: 10 });
    expect(svg).toContain('21 other people (42)');
    expect(scatterSvg([{ x: 1, y: 1, group: 'a' }, { x: 1, y: 1, group: 'b' }], opts)).not.toMatch(/NaN|Infinity/);
  });
});

describe('label placement', () => {
  const bounds: Box = { x0: 0, y0: 0, x1: 800, y1: 600 };
  // 40 points crowded into 40 x 40 px in the middle, each with a long label
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const anchors = Array.from({ length: 40 }, () => ({ x: 380 + rnd() * 40, y: 280 + rnd() * 40 }));
  const requests: LabelRequest[] = anchors.map((a) => ({ ...a, w: 150, h: 17, gap: 13 }));
  const markers: Box[] = anchors.map((a) => ({ x0: a.x - 12, y0: a.y - 12, x1: a.x + 12, y1: a.y + 12 }));

  it('gives points close together labels that overlap nothing: no other label, no marker, no leader line', () => {
    const placed = placeLabels(requests, bounds, markers, { reach: 12 });
    const boxes = placed.filter((b) => b !== null);
    expect(boxes.length).toBeGreaterThanOrEqual(10); // the rest: null (the plot numbers those)
    for (const [i, a] of boxes.entries()) {
      expect(a.x0 >= bounds.x0 && a.x1 <= bounds.x1 && a.y0 >= bounds.y0 && a.y1 <= bounds.y1).toBe(true);
      for (const b of boxes.slice(i + 1)) expect(overlaps(a, b), JSON.stringify([a, b])).toBe(false);
      for (const m of markers) expect(overlaps(a, m)).toBe(false);
      for (const b of boxes) if (b.leader) expect(b === a || !segmentHitsBox(b.leader, a)).toBe(true);
      for (const b of boxes) if (a.leader && b.leader && a !== b) expect(segmentsCross(a.leader, b.leader)).toBe(false);
    }
    // a label away from its point has a leader line that starts at the point's marker and ends on the label
    placed.forEach((b, i) => {
      if (!b?.leader) return;
      const { x, y } = anchors[i]!;
      expect(Math.hypot(b.leader.x1 - x, b.leader.y1 - y)).toBeLessThanOrEqual(13);
      expect(b.leader.x2 >= b.x0 - 1e-9 && b.leader.x2 <= b.x1 + 1e-9 && b.leader.y2 >= b.y0 - 1e-9 && b.leader.y2 <= b.y1 + 1e-9).toBe(true);
    });
  });

  it('puts a lone point\'s label right next to it, and a crowded one at the nearest free spot', () => {
    const [alone] = placeLabels([{ x: 100, y: 100, w: 60, h: 14, gap: 10 }], bounds);
    expect(alone).toMatchObject({ x0: 110, y0: 93, x1: 170, y1: 107, leader: null, align: 'start' });
    // against the right edge: to the left, text right-aligned to hug the point
    const [edge] = placeLabels([{ x: 780, y: 100, w: 60, h: 14, gap: 10 }], bounds);
    expect(edge).toMatchObject({ x1: 770, leader: null, align: 'end' });
    // no room at all: null, never an overlap
    const tiny: Box = { x0: 0, y0: 0, x1: 40, y1: 40 };
    expect(placeLabels([{ x: 20, y: 20, w: 60, h: 14, gap: 10 }], tiny)).toEqual([null]);
  });

  it('a plot with many query photos close together: query labels do not overlap, the rest are numbered in the legend', () => {
    const crowd: ScatterPoint[] = [
      ...Array.from({ length: 30 }, (_, i) => ({ x: (i % 6) * 3, y: Math.floor(i / 6) * 3, group: `p${i % 5}` })),
      ...Array.from({ length: 25 }, (_, i) => ({ x: 6 + (i % 5) * 0.4, y: 6 + Math.floor(i / 5) * 0.4, group: null, text: `query-photo-number-${i}.jpg` })),
    ];
    const svg = scatterSvg(crowd, { ...opts, labels: true });
    expect(svg).not.toMatch(/NaN|undefined/);
    // the boxes of the bold (query) labels, from their position, anchor and rough width
    const labels = [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)" font-size="(\d+)"(?: text-anchor="(\w+)")? font-weight="bold" fill="#111"[^>]*>([^<]*)<\/text>/g)].map((m) => {
      const [x, y, size, anchor, s] = [Number(m[1]), Number(m[2]), Number(m[3]), m[4] ?? 'start', m[5]!];
      const w = textWidth(s, size) * 1.12;
      const x0 = anchor === 'start' ? x : anchor === 'end' ? x - w : x - w / 2;
      return { s, x0: x0 + 1, x1: x0 + w - 1, y0: y - size * 0.75, y1: y + size * 0.2 };
    });
    expect(labels.length).toBe(25);
    for (const [i, a] of labels.entries()) for (const b of labels.slice(i + 1)) expect(overlaps(a, b), `${a.s} / ${b.s}`).toBe(false);
    const numbered = labels.filter((l) => /^\d+$/.test(l.s));
    const written = labels.filter((l) => l.s.startsWith('Pessoa desconhecida: '));
    expect(numbered.length + written.length).toBe(25);
    expect(numbered.length).toBeGreaterThan(0);
    // each number is explained in the legend
    for (const l of numbered) expect(svg).toMatch(new RegExp(`<tspan font-weight="bold">${l.s}</tspan>  query-photo-number-\\d+\\.jpg</text>`));
  });
});

describe('ROC plot', () => {
  it('draws the curve on a log FAR axis with its marks and legend', async () => {
    const items = Array.from({ length: 400 }, (_, i) => ({ distance: (i % 2 === 0 ? 0.3 : 0.7) + ((i * 37) % 100) / 250, same: i % 2 === 0 }));
    const svg = rocSvg([{ name: 'resnet34 (AUC 0.99)', points: rocCurve(items), marks: [{ far: 0.05, tar: 0.9, text: 'EER 5%' }] }], { title: 'ROC', subtitle: 's' });
    expect(svg).toContain('>resnet34 (AUC 0.99)</text>');
    expect(svg).toContain('>EER 5%</text>');
    expect(svg).toContain('log scale');
    expect(svg).toContain('>0.001</text>');
    expect(svg).not.toMatch(/NaN|undefined/);
    const meta = await sharp(await svgToPng(svg, 1)).metadata();
    expect([meta.width, meta.height]).toEqual([960, 720]);
  });
});

describe('plot helpers', () => {
  it('picks nice ticks', () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(-7.3, 12.1, 4)).toEqual([-5, 0, 5, 10]);
    expect(niceTicks(0.9, 1, 10)).toEqual([0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 1]);
  });
  it('names, escapes and shortens', () => {
    expect(displayName('nina_simone')).toBe('Nina Simone');
    expect(displayName('Abel_Pacheco')).toBe('Abel Pacheco');
    expect(displayName('McCartney')).toBe('McCartney');
    expect(escapeXml(`a&b<c>"d'`)).toBe('a&amp;b&lt;c&gt;&quot;d&apos;');
    expect(shorten('0123456789abcdefghij.jpeg', 12)).toBe('0123456…jpeg');
    expect(shorten('short.jpg', 12)).toBe('short.jpg');
  });
  it('writes .svg and .png and refuses other names', async () => {
    expect(() => plotFormat('plot.jpg', '--out')).toThrow('--out must name a .svg or .png file, got "plot.jpg"');
    const dir = tempDir();
    const svg = scatterSvg(points, opts);
    await writePlot(join(dir, 'sub', 'p.svg'), svg);
    expect(readFileSync(join(dir, 'sub', 'p.svg'), 'utf8')).toBe(svg);
    await writePlot(join(dir, 'p.png'), svg);
    expect((await sharp(join(dir, 'p.png')).metadata()).format).toBe('png');
  });
});
