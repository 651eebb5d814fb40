/**
 * project() and scatterPlot() (what `facekit tsne` runs) in this test process, one engine for the
 * file, query photos from copies of the shared embedding caches; the command's own contract
 * (NDJSON points on stdout, its summary line, the plot written, a one-line error and exit 2)
 * through the spawned CLI, and its option checks and --coords file through the CLI's main() in
 * this process.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { textWidth } from '../../dist/evaluation/plot/index.js';
import { overlaps } from '../../dist/evaluation/plot/svg.js';
import type { PlacedPoint, ProjectOptions } from '../../dist/index.js';
import { ARTISTS, DEMO, FIXTURES, hasArtists, oneLine, runCli, tempDir } from '../helpers/cli.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { engine, facekit, rejection } from '../helpers/engine.js';
import { artistsEmbeddings, copyDir, demoEmbeddings, demoPeople } from '../helpers/shared.js';

/** project() on this file's engine; query photos through `cache` (none: no cache at all) */
const project = (source: string, opts: ProjectOptions = {}) => facekit.project(source, { cache: null, engine: engine(), ...opts });

describe('project() on represent records', () => {
  // three "people": the faces of two demo photos each (labels from the folder names), their
  // represent records made once for the test files that use them
  const dir = tempDir();
  let recs = '';
  let faces = 0;
  /** a private copy of the cache holding the embeddings of face-api's demo photos */
  let demoCache = '';
  beforeAll(async () => {
    const demo = await demoPeople();
    expect(demo.run.code).toBe(0);
    recs = demo.records;
    faces = readFileSync(recs, 'utf8').trim().split('\n').length;
    expect(faces).toBeGreaterThanOrEqual(20);
    demoCache = copyDir((await demoEmbeddings()).cache);
  });

  it('places every face, and scatterPlot draws them with a legend of the people', async () => {
    const p = await project(recs);
    expect(p).toMatchObject({ method: 'tsne', sourceCount: faces, model: 'mobilefacenet', metric: 'euclidean_l2' });
    expect(p.projection).toMatch(/^exact t-SNE, perplexity [\d.]+, 1000 iterations, seed 1$/);
    expect(p.points).toHaveLength(faces);
    for (const pt of p.points) {
      expect(Number.isFinite(pt.x) && Number.isFinite(pt.y)).toBe(true);
      expect(['ana', 'bruno', 'carla']).toContain(pt.label);
      expect(pt.image).toMatch(/sample\d.jpg$/);
      expect(pt.query).toBe(false);
    }
    const svg = facekit.scatterPlot(p, { labels: true });
    expect(svg).toContain(`t-SNE of ${faces} faces of 3 people`);
    for (const name of ['Ana', 'Bruno', 'Carla']) expect(svg).toMatch(new RegExp(`>${name} \\(\\d+\\)</text>`));

    // `facekit tsne`: those points as NDJSON on stdout, the same plot in --out, one line of talk
    const res = await runCli(['tsne', recs, '--out', join(dir, 'plot.svg'), '--labels']);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(p.points.map((pt) => JSON.stringify(pt) + '\n').join(''));
    expect(res.stderr).toMatch(/^facekit: exact t-SNE of \d+ points in [\d.]+ s; wrote .*plot.svg\n$/);
    expect(readFileSync(join(dir, 'plot.svg'), 'utf8')).toBe(svg);
  });

  it('`facekit tsne --coords --method pca` writes the coordinates file instead of stdout (the CLI in this process)', async () => {
    const pca = await project(recs, { method: 'pca' });
    expect(pca.projection).toBe('PCA');
    expect(pca.axes[0]).toMatch(/^principal component 1 \([\d.]+% of the variance\)$/);
    const coords = await cliInProcess(['tsne', recs, '--coords', join(dir, 'xy.json'), '--method', 'pca']);
    expect(coords.code).toBe(0);
    expect(coords.stdout).toBe('');
    expect(coords.stderr).toMatch(/^facekit: PCA of \d+ points in [\d.]+ s; coordinates in .*xy.json\n$/);
    const file = JSON.parse(readFileSync(join(dir, 'xy.json'), 'utf8')) as { source: string; method: string; points: PlacedPoint[] };
    expect(file).toMatchObject({ source: recs, method: 'pca', points: pca.points });
    expect(file.points).toHaveLength(faces);
  });

  it('gives the same picture for the same seed, another for another seed', async () => {
    const a = await project(recs, { seed: 5, iterations: 300 });
    const b = await project(recs, { seed: 5, iterations: 300 });
    const c = await project(recs, { seed: 6, iterations: 300 });
    expect(b.points).toEqual(a.points);
    expect(c.points).not.toEqual(a.points);
    const bh = await project(recs, { algorithm: 'barnes-hut', perplexity: 5 });
    expect(bh.projection).toMatch(/^Barnes-Hut t-SNE,/);
    expect(bh.points).toHaveLength(faces);
  });

  it('places a query photo as unknown', async () => {
    const warnings: string[] = [];
    const p = await project(recs, { query: [join(DEMO, 'sample2.jpg')], cache: demoCache, onWarn: (l) => warnings.push(l) });
    expect(p.points).toHaveLength(faces + 1);
    expect(p.sourceCount).toBe(faces);
    expect(p.points[faces]).toMatchObject({ label: null, query: true, face: 0 });
    expect(warnings).toEqual([expect.stringMatching(/sample2.jpg: holds 3 faces; placing the largest/)]);
    const svg = facekit.scatterPlot(p, { unknownLabel: 'Pessoa desconhecida' });
    expect(svg).toContain('and 1 unknown');
    expect(svg).toContain('Pessoa desconhecida');
    await facekit.writePlot(join(dir, 'q.png'), svg, '--out');
    expect((await sharp(join(dir, 'q.png')).metadata()).format).toBe('png');
  });

  it('places many query photos: their labels never overlap; a query with no room is numbered and listed in the legend', async () => {
    const queries = ['sample1.jpg', 'sample2.jpg', 'sample3.jpg', 'sample4.jpg', 'sample5.jpg', 'sample6.jpg'].map((f) => join(DEMO, f));
    // their embeddings from the cache that one evaluate() of these photos filled (eval.test.ts checks it)
    const p = await project(recs, { query: queries, cache: demoCache });
    expect(p.points.filter((pt) => pt.query)).toHaveLength(6);
    const svg = facekit.scatterPlot(p, { labels: true });
    // the query labels (bold, black): boxes from their position, anchor and rough width
    const labels = [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)" font-size="(\d+)"(?: text-anchor="(\w+)")? font-weight="bold" fill="#111"[^>]*>([^<]*)<\/text>/g)].map((m) => {
      const [x, y, size, anchor, s] = [Number(m[1]), Number(m[2]), Number(m[3]), m[4] ?? 'start', m[5]!];
      const w = textWidth(s, size) * 1.12;
      const x0 = anchor === 'start' ? x : anchor === 'end' ? x - w : x - w / 2;
      return { s, x0: x0 + 1, x1: x0 + w - 1, y0: y - size * 0.75, y1: y + size * 0.2 };
    });
    expect(labels).toHaveLength(6);
    for (const [i, a] of labels.entries()) for (const b of labels.slice(i + 1)) expect(overlaps(a, b), `${a.s} / ${b.s}`).toBe(false);
    for (const q of queries.map((f) => basename(f))) {
      const written = labels.some((l) => l.s === `unknown: ${q}`);
      const listed = new RegExp(`<tspan font-weight="bold">\\d+</tspan>  ${q.replace('.', '\\.')}</text>`).test(svg);
      expect(written || listed, q).toBe(true);
    }
    await facekit.writePlot(join(dir, 'many.png'), svg);
    expect((await sharp(join(dir, 'many.png')).metadata()).format).toBe('png');
  });

  it.each([
    [{ perplexity: 50 }, /--perplexity 50 is too large for \d+ points: at most [\d.]+ \(\(points - 1\) \/ 3\)/],
    [{ query: [join(FIXTURES, 'bad', 'no-face.jpg')] }, /no-face.jpg: no face found; a --query photo needs a face to place/],
    [{ query: [join(FIXTURES, 'bad', 'truncated.jpg')] }, /truncated.jpg: image data is damaged or truncated/],
  ])('%j: a FacekitError naming the problem', async (opts, message) => {
    expect((await rejection(project(recs, opts as ProjectOptions))).line).toMatch(message);
  });

  it.each([
    [['--out', 'plot.jpg'], /--out must name a .svg or .png file, got "plot.jpg"/],
    [['--method', 'umap'], /argument 'umap' is invalid/],
  ])('`facekit tsne RECORDS %j`: one line, exit 2 (the CLI in this process)', async (extra, message) => {
    const res = await cliInProcess(['tsne', recs, ...(extra as string[])]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(message);
    expect(res.stdout).toBe('');
  });

  it('`facekit tsne RECORDS --iterations 10`: one line, exit 2', async () => {
    const res = await runCli(['tsne', recs, '--iterations', '10']);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/--iterations must be at least 250, got 10/);
    expect(res.stdout).toBe('');
  });
});

describe('project() on bad sources', () => {
  it.each([
    ['nowhere.json', /nowhere.json: no such file or directory/],
    [join(FIXTURES, 'records', 'no-landmarks.ndjson'), /no-landmarks.ndjson line 1: record has no "embedding" \(run `facekit represent` first\)/],
    [join(FIXTURES, 'bad', 'text.jpg'), /expected a gallery \(.json\), records \(.ndjson \/ .jsonl\) or a folder of people/],
  ])('%s: a FacekitError naming the problem', async (source, message) => {
    expect((await rejection(project(source))).line).toMatch(message);
  });

  it('too few points for t-SNE, but enough for PCA', async () => {
    const dir = tempDir();
    const line = (label: string, v: number[]) => JSON.stringify({ schema: 1, image: `${label}.jpg`, face: 0, label, embedding: { model: 'resnet34', dim: 3, vector: v } });
    writeFileSync(join(dir, 'three.ndjson'), [line('a', [1, 0, 0]), line('b', [0, 1, 0]), line('c', [0, 0, 1])].join('\n') + '\n');
    const t = await rejection(project(join(dir, 'three.ndjson')));
    expect(t).toMatchObject({ code: 'usage' });
    expect(t.line).toMatch(/t-SNE needs at least 4 points, there are 3; use --method pca/);
    const p = await project(join(dir, 'three.ndjson'), { method: 'pca' });
    expect(p.points).toHaveLength(3);
    expect(p.model).toBe('resnet34');
  });
});

describe.skipIf(!hasArtists)('project() on the artists', () => {
  it('plots a gallery folder with an unknown face among them', async () => {
    const dir = tempDir();
    // the artists' and the query photo's embeddings from the caches that one evaluate() each
    // filled (eval.test.ts checks those)
    const cache = copyDir((await artistsEmbeddings()).cache);
    cpSync((await demoEmbeddings()).cache, cache, { recursive: true });
    const p = await project(ARTISTS, { query: [join(DEMO, 'sample2.jpg')], cache });
    expect(p.points.length).toBeGreaterThanOrEqual(77);
    expect(new Set(p.points.filter((pt) => !pt.query).map((pt) => pt.label)).size).toBe(11);
    expect(p.points.filter((pt) => pt.query)).toHaveLength(1);
    await facekit.writePlot(join(dir, 'artists.png'), facekit.scatterPlot(p, { labels: true }), '--out');
    const meta = await sharp(join(dir, 'artists.png')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1800, 1290]);
  });
});
if (!hasArtists) console.warn('skipping the artists t-SNE test: ../shared/datasets/artists is not here');
