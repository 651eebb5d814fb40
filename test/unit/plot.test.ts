import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { rocCurve } from '../../src/analysis/evaluation.js';
import {
  displayName, escapeXml, niceTicks, plotFormat, rocSvg, scatterSvg, shorten, svgToPng, writePlot, type ScatterPoint,
} from '../../src/analysis/plot/index.js';
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
