import { mkdirSync, readFileSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { EvalReport } from '../../src/index.js';
import { ARTISTS, DEMO, FIXTURES, hasArtists, hasLfw, LFW, oneLine, runCli, tempDir } from '../helpers/cli.js';
import { artistsEmbeddings, copyDir, demoEmbeddings } from '../helpers/shared.js';

const evalDir = join(FIXTURES, 'eval');
const json = (stdout: string) => JSON.parse(stdout) as EvalReport;

describe('facekit eval on a CSV of pairs', () => {
  it('names the bad line, evaluates the rest, exits 2; a second run takes every embedding from the cache', async () => {
    // `facekit eval demo-pairs.csv --cache CACHE --json --roc roc.svg --workers 2` on an empty
    // cache, run once per test run (tsne.test.ts places these photos from a copy of the cache)
    const demo = await demoEmbeddings();
    const first = demo.run;
    expect(first.code).toBe(2);
    expect(first.stderr).toMatch(/demo-pairs.csv line 9: "maybe" is not yes\/no, 1\/0 or true\/false; line skipped/);
    expect(first.stderr).not.toMatch(/\n\s+at /);
    const r = json(first.stdout);
    expect(r).toMatchObject({ kind: 'csv-pairs', model: 'mobilefacenet', metric: 'euclidean_l2' });
    expect(r.pairs).toMatchObject({ scored: 8, same: 4, different: 4, badLines: 1, unscored: 0 });
    expect(r.images).toMatchObject({ total: 6, embedded: 6, fromCache: 0, computed: 6 });
    // a photo against itself is at distance 0, different people far: everything separates
    expect(r.auc).toBe(1);
    expect(r.tarAtFar).toHaveLength(2);
    for (const k of ['accuracy', 'eer', 'bestThreshold', 'defaultThreshold']) expect(r).toHaveProperty(k);
    expect(readFileSync(demo.roc, 'utf8')).toMatch(/^<svg[\s\S]*ROC: demo-pairs.csv[\s\S]*<\/svg>\n$/);

    const second = await runCli(['eval', join(evalDir, 'demo-pairs.csv'), '--cache', copyDir(demo.cache), '--json']);
    const r2 = json(second.stdout);
    expect(r2.images).toMatchObject({ total: 6, fromCache: 6, computed: 0 });
    expect(r2.bestThreshold).toEqual(r.bestThreshold);
    expect(r2.accuracy).toEqual(r.accuracy);
  });

  it('prints a table for people, fitted to the width ($COLUMNS off a terminal)', async () => {
    const dir = tempDir('facekit-eval-table-with-a-rather-long-folder-name-');
    const csv = join(dir, 'p.csv');
    writeFileSync(csv, ['a,b,same', 'x.jpg,x.jpg,yes', 'y.jpg,y.jpg,yes', 'x.jpg,y.jpg,no', 'y.jpg,z.jpg,no', 'z.jpg,z.jpg,yes', 'x.jpg,z.jpg,no'].join('\n'));
    for (const [f, s] of [['x.jpg', 'sample1.jpg'], ['y.jpg', 'sample3.jpg'], ['z.jpg', 'sample6.jpg']] as const) copyFileSync(join(DEMO, s), join(dir, f));
    // no plain progress line on a slow, busy machine: stderr must stay empty
    const res = await runCli(['eval', csv, '--no-cache', '--folds', '3'], { env: { COLUMNS: '80', FACEKIT_PROGRESS_EVERY: '3600' } });
    expect(res.code).toBe(0);
    for (const line of res.stdout.trimEnd().split('\n')) expect([...line].length, line).toBeLessThanOrEqual(80);
    for (const row of ['accuracy (3-fold)', 'ROC AUC', 'equal error rate', 'TAR at FAR 1%', 'TAR at FAR 0.1%', 'best threshold', 'precision / recall', 'at the default 1.12']) {
      expect(res.stdout).toContain(row);
    }
    expect(res.stdout).toContain('3 computed');
    expect(res.stderr).toBe('');
  });
});

describe('facekit eval on bad input', () => {
  it('a pairs file naming a missing image: one line with its line number, exit 2', async () => {
    const res = await runCli(['eval', join(evalDir, 'missing-image.csv'), '--no-cache']);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/missing-image.csv line 3: image not found: .*nobody-here.jpg \(relative paths start at the CSV's folder, or at --images\)/);
    expect(res.stdout).toBe('');
  });

  it('LFW pairs without their images folder', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'pairs.txt'), '1\t1\nA\t1\t2\nA\t1\tB\t1\n');
    const res = await runCli(['eval', join(dir, 'pairs.txt')]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/pairs.txt: LFW pairs name people and photo numbers, not files: pass --images DIR/);
    const wrong = await runCli(['eval', join(dir, 'pairs.txt'), '--images', dir, '--no-cache']);
    expect(wrong.code).toBe(2);
    expect(oneLine(wrong.stderr)).toMatch(/pairs.txt line 2: image not found: .*A\/A_0001.jpg; 3 of the 3 images named are missing \(check --images\)/);
  });

  it('a folder of fewer than two people', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'only_one'));
    copyFileSync(join(DEMO, 'sample1.jpg'), join(dir, 'only_one', 'a.jpg'));
    const res = await runCli(['eval', dir]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/eval needs at least two people \(one folder per person, DIR\/<person>\/\*.jpg\); found 1/);
  });

  it.each([
    [['eval', 'nowhere.csv'], /nowhere.csv: no such file or directory/],
    [['eval', join(evalDir, 'demo-pairs.csv'), '--metric', 'manhattan'], /--metric must be one of cosine, euclidean, euclidean_l2; got "manhattan"/],
    [['eval', join(evalDir, 'demo-pairs.csv'), '--roc', 'roc.gif'], /--roc must name a .svg or .png file, got "roc.gif"/],
    [['eval', join(evalDir, 'demo-pairs.csv'), '--folds', '1'], /--folds must be at least 2, got 1/],
    [['eval', join(evalDir, 'demo-pairs.csv'), '--model', 'vgg'], /--model must be one of resnet34, faceres, mobilefacenet, faceplugin; got "vgg"/],
  ])('%j: one line, exit 2', async (args, message) => {
    const res = await runCli(args as string[]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(message);
    expect(res.stdout).toBe('');
  });

  it('an empty pairs file, and one with no usable line', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'empty.csv'), '');
    const empty = await runCli(['eval', join(dir, 'empty.csv')]);
    expect(empty.code).toBe(2);
    expect(oneLine(empty.stderr)).toMatch(/empty.csv: pairs file is empty/);
    writeFileSync(join(dir, 'bad.csv'), 'a.jpg,b.jpg,perhaps\n');
    const bad = await runCli(['eval', join(dir, 'bad.csv')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad.csv line 1: "perhaps" is not yes\/no/);
    expect(bad.stderr).toMatch(/bad.csv: no pairs to evaluate \(1 bad lines\)/);
  });
});

describe.skipIf(!hasLfw)('facekit eval on a slice of LFW', () => {
  it('follows the file\'s folds, and reuses the embeddings on a second run', async () => {
    // 2 folds of 10 matched + 10 mismatched pairs, in pairs.txt's own layout
    const lines = readFileSync(join(LFW, 'pairs.txt'), 'utf8').split(/\r?\n/);
    const slice = ['2\t10', ...lines.slice(1, 11), ...lines.slice(301, 311), ...lines.slice(11, 21), ...lines.slice(311, 321)];
    const dir = tempDir();
    writeFileSync(join(dir, 'pairs.txt'), slice.join('\n') + '\n');
    const cache = tempDir();
    const args = ['eval', join(dir, 'pairs.txt'), '--images', join(LFW, 'images'), '--skip-detect', '--cache', cache, '--json', '--workers', '2'];
    const first = await runCli([...args, '--roc', join(dir, 'roc.png')]);
    expect(first.code).toBe(0);
    const r = json(first.stdout);
    expect(r).toMatchObject({ kind: 'lfw-pairs', skipDetect: true, detector: null });
    expect(r.pairs).toMatchObject({ scored: 40, same: 20, different: 20 });
    expect(r.accuracy.folds).toBe(2);
    expect(r.accuracy.perFold.map((f) => f.pairs)).toEqual([20, 20]);
    expect(r.accuracy.mean).toBeGreaterThanOrEqual(0.9);
    expect(r.auc).toBeGreaterThan(0.95);
    expect(r.images.computed).toBe(r.images.total);
    expect((await sharp(join(dir, 'roc.png')).metadata()).format).toBe('png');
    const second = await runCli(args);
    const r2 = json(second.stdout);
    expect(r2.images).toMatchObject({ fromCache: r.images.total, computed: 0 });
    expect(r2.auc).toBe(r.auc);
    expect(r2.accuracy).toEqual(r.accuracy);
  });
});
if (!hasLfw) console.warn('skipping the LFW eval test: ../shared/datasets/lfw-aligned is not here');

describe.skipIf(!hasArtists)('facekit eval on the artists folder', () => {
  it('scores every pair and leave-one-out identification', async () => {
    // The embeddings are computed once per test run, by `facekit eval ARTISTS --cache CACHE --json
    // --workers 2` on an empty cache (tsne.test.ts reads them from it as well): check that run...
    const computed = await artistsEmbeddings();
    expect(computed.run.code, computed.run.stderr).toBe(0);
    const first = json(computed.run.stdout);
    expect(first.images).toMatchObject({ fromCache: 0, computed: first.images.total });
    // ...then this run, on a copy of that cache, takes every embedding from it and gives the same figures
    const dir = tempDir();
    const res = await runCli(['eval', ARTISTS, '--cache', copyDir(computed.cache), '--json', '--roc', join(dir, 'roc.png'), '--workers', '2']);
    expect(res.code).toBe(0);
    const r = json(res.stdout);
    expect(r.images).toMatchObject({ total: first.images.total, embedded: first.images.embedded, fromCache: first.images.total, computed: 0 });
    const figures = ({ images: _, ...rest }: EvalReport) => rest;
    expect(figures(r)).toEqual(figures(first));
    expect(r.kind).toBe('folder');
    expect(r.pairs.scored).toBeGreaterThanOrEqual(2850); // 2926 when all 77 photos give a face
    expect(r.pairs.same).toBeGreaterThanOrEqual(210);
    expect(r.accuracy.mean).toBeGreaterThan(0.97);
    expect(r.auc).toBeGreaterThan(0.99);
    expect(r.rank1!.total).toBeGreaterThanOrEqual(76);
    expect(r.rank1!.accuracy).toBeGreaterThan(0.95);
    const meta = await sharp(join(dir, 'roc.png')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1440, 1080]);
  });
});
if (!hasArtists) console.warn('skipping the artists eval test: ../shared/datasets/artists is not here');
