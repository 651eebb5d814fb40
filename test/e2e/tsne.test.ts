import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { textWidth, writePlot } from '../../src/evaluation/plot/index.js';
import { overlaps } from '../../src/evaluation/plot/svg.js';
import type { PlacedPoint } from '../../src/index.js';
import { ARTISTS, DEMO, FIXTURES, hasArtists, oneLine, records, runCli as run, tempDir } from '../helpers/cli.js';
import { artistsEmbeddings, copyDir, demoEmbeddings, demoPeople } from '../helpers/shared.js';

const points = (stdout: string) => records(stdout) as unknown as PlacedPoint[];
// query photos go through the embedding cache: keep it out of the user's ~/.cache
const env = { XDG_CACHE_HOME: tempDir('facekit-cache-') };
const runCli = (args: string[]) => run(args, { env });

describe('facekit tsne on represent records', () => {
  // three "people": the faces of two demo photos each (labels from the folder names), from
  // `facekit represent people/ --out faces.ndjson --workers 2`, run once for the test files that use them
  const dir = tempDir();
  let recs = '';
  let faces = 0;
  beforeAll(async () => {
    const demo = await demoPeople();
    expect(demo.run.code).toBe(0);
    recs = demo.records;
    faces = readFileSync(recs, 'utf8').trim().split('\n').length;
    expect(faces).toBeGreaterThanOrEqual(20);
  });

  it('writes NDJSON points, the plot and the coordinates file', async () => {
    const res = await runCli(['tsne', recs, '--out', join(dir, 'plot.svg'), '--labels']);
    expect(res.code).toBe(0);
    const pts = points(res.stdout);
    expect(pts).toHaveLength(faces);
    for (const p of pts) {
      expect(Number.isFinite(p.x) && Number.isFinite(p.y)).toBe(true);
      expect(['ana', 'bruno', 'carla']).toContain(p.label);
      expect(p.image).toMatch(/sample\d.jpg$/);
      expect(p.query).toBe(false);
    }
    expect(res.stderr).toMatch(/^facekit: exact t-SNE of \d+ points in [\d.]+ s; wrote .*plot.svg\n$/);
    const svg = readFileSync(join(dir, 'plot.svg'), 'utf8');
    expect(svg).toContain(`t-SNE of ${faces} faces of 3 people`);
    for (const name of ['Ana', 'Bruno', 'Carla']) expect(svg).toMatch(new RegExp(`>${name} \\(\\d+\\)</text>`));

    const coords = await runCli(['tsne', recs, '--coords', join(dir, 'xy.json'), '--method', 'pca']);
    expect(coords.code).toBe(0);
    expect(coords.stdout).toBe('');
    const file = JSON.parse(readFileSync(join(dir, 'xy.json'), 'utf8')) as { method: string; points: PlacedPoint[] };
    expect(file.method).toBe('pca');
    expect(file.points).toHaveLength(faces);
  });

  it('gives the same picture for the same seed, another for another seed', async () => {
    const a = await runCli(['tsne', recs, '--seed', '5', '--iterations', '300']);
    const b = await runCli(['tsne', recs, '--seed', '5', '--iterations', '300']);
    const c = await runCli(['tsne', recs, '--seed', '6', '--iterations', '300']);
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).not.toBe(a.stdout);
    const bh = await runCli(['tsne', recs, '--algorithm', 'barnes-hut', '--perplexity', '5']);
    expect(bh.stderr).toMatch(/Barnes-Hut t-SNE of/);
    expect(points(bh.stdout)).toHaveLength(faces);
  });

  it('places a query photo as unknown', async () => {
    const res = await runCli(['tsne', recs, '--query', join(DEMO, 'sample2.jpg'), '--out', join(dir, 'q.png'), '--unknown-label', 'Pessoa desconhecida']);
    expect(res.code).toBe(0);
    const pts = points(res.stdout);
    expect(pts).toHaveLength(faces + 1);
    expect(pts[faces]).toMatchObject({ label: null, query: true, face: 0 });
    expect(res.stderr).toMatch(/sample2.jpg: holds 3 faces; placing the largest/);
    expect((await sharp(join(dir, 'q.png')).metadata()).format).toBe('png');
  });

  it('places many query photos: their labels never overlap; a query with no room is numbered and listed in the legend', async () => {
    const queries = ['sample1.jpg', 'sample2.jpg', 'sample3.jpg', 'sample4.jpg', 'sample5.jpg', 'sample6.jpg'].map((f) => join(DEMO, f));
    // their embeddings from the cache that one `facekit eval` of these photos filled (eval.test.ts
    // checks that run); the test above computed one itself
    cpSync((await demoEmbeddings()).cache, join(env.XDG_CACHE_HOME, 'facekit'), { recursive: true });
    const res = await runCli(['tsne', recs, '--query', ...queries, '--labels', '--out', join(dir, 'many.svg')]);
    expect(res.code).toBe(0);
    expect(points(res.stdout).filter((p) => p.query)).toHaveLength(6);
    const svg = readFileSync(join(dir, 'many.svg'), 'utf8');
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
    await writePlot(join(dir, 'many.png'), svg);
    expect((await sharp(join(dir, 'many.png')).metadata()).format).toBe('png');
  });

  it.each([
    [['--perplexity', '50'], /--perplexity 50 is too large for \d+ points: at most [\d.]+ \(\(points - 1\) \/ 3\)/],
    [['--query', join(FIXTURES, 'bad', 'no-face.jpg')], /no-face.jpg: no face found; a --query photo needs a face to place/],
    [['--query', join(FIXTURES, 'bad', 'truncated.jpg')], /truncated.jpg: image data is damaged or truncated/],
    [['--out', 'plot.jpg'], /--out must name a .svg or .png file, got "plot.jpg"/],
    [['--method', 'umap'], /argument 'umap' is invalid/],
    [['--iterations', '10'], /--iterations must be at least 250, got 10/],
  ])('%j: one line, exit 2', async (extra, message) => {
    const res = await runCli(['tsne', recs, ...(extra as string[])]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(message);
    expect(res.stdout).toBe('');
  });
});

describe('facekit tsne on bad sources', () => {
  it.each([
    [['tsne', 'nowhere.json'], /nowhere.json: no such file or directory/],
    [['tsne', join(FIXTURES, 'records', 'no-landmarks.ndjson')], /no-landmarks.ndjson line 1: record has no "embedding" \(run `facekit represent` first\)/],
    [['tsne', join(FIXTURES, 'bad', 'text.jpg')], /expected a gallery \(.json\), records \(.ndjson \/ .jsonl\) or a folder of people/],
  ])('%j: one line, exit 2', async (args, message) => {
    const res = await runCli(args as string[]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(message);
  });

  it('too few points for t-SNE, but enough for PCA', async () => {
    const dir = tempDir();
    const line = (label: string, v: number[]) => JSON.stringify({ schema: 1, image: `${label}.jpg`, face: 0, label, embedding: { model: 'resnet34', dim: 3, vector: v } });
    writeFileSync(join(dir, 'three.ndjson'), [line('a', [1, 0, 0]), line('b', [0, 1, 0]), line('c', [0, 0, 1])].join('\n') + '\n');
    const t = await runCli(['tsne', join(dir, 'three.ndjson')]);
    expect(t.code).toBe(2);
    expect(oneLine(t.stderr)).toMatch(/t-SNE needs at least 4 points, there are 3; use --method pca/);
    const p = await runCli(['tsne', join(dir, 'three.ndjson'), '--method', 'pca']);
    expect(p.code).toBe(0);
    expect(points(p.stdout)).toHaveLength(3);
  });
});

describe.skipIf(!hasArtists)('facekit tsne on the artists', () => {
  it('plots a gallery folder with an unknown face among them', async () => {
    const dir = tempDir();
    // the artists' and the query photo's embeddings from the caches that one `facekit eval` each
    // filled (eval.test.ts checks those runs)
    const cache = copyDir((await artistsEmbeddings()).cache);
    cpSync((await demoEmbeddings()).cache, cache, { recursive: true });
    const res = await runCli(['tsne', ARTISTS, '--query', join(DEMO, 'sample2.jpg'), '--labels', '--out', join(dir, 'artists.png'),
      '--cache', cache, '--workers', '2']);
    expect(res.code).toBe(0);
    const pts = points(res.stdout);
    expect(pts.length).toBeGreaterThanOrEqual(77);
    expect(new Set(pts.filter((p) => !p.query).map((p) => p.label)).size).toBe(11);
    expect(pts.filter((p) => p.query)).toHaveLength(1);
    const meta = await sharp(join(dir, 'artists.png')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1800, 1290]);
  });
});
if (!hasArtists) console.warn('skipping the artists t-SNE test: ../shared/datasets/artists is not here');
