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
import { tempDir } from '../helpers/cli.js';

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
