/**
 * evaluate() and rocPlot() (what `facekit eval` runs) in this test process, one engine for the
 * file; the command's own contract (its --json line, its table, exit codes, one-line errors, the
 * --roc file) through the spawned CLI, on embeddings already in a cache (no model load there), and
 * its option checks through the CLI's main() in this process.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { EvalReport, Evaluation } from '../../dist/index.js';
import { ARTISTS, DEMO, FIXTURES, hasArtists, hasLfw, LFW, oneLine, runCli, tempDir } from '../helpers/cli.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { engine, facekit, rejection } from '../helpers/engine.js';
import { artistsEmbeddings, copyDir, demoEmbeddings } from '../helpers/shared.js';

const evalDir = join(FIXTURES, 'eval');
const demoPairs = join(evalDir, 'demo-pairs.csv');
/** The report as `--json` prints it. */
const printed = (e: Evaluation) => JSON.parse(JSON.stringify(e.report)) as EvalReport;
/** The figures of a report, without how the embeddings were had (cache, timing). */
const figures = ({ images: _, ...rest }: EvalReport) => rest;

describe('evaluate() on a CSV of pairs', () => {
  it('names the bad line, evaluates the rest, counts it as bad input; a second run takes every embedding from the cache', async () => {
    // evaluate(demo-pairs.csv, { cache }) and its ROC curve on an empty cache, once per test run
    // (tsne.test.ts places these photos from a copy of the cache)
    const demo = await demoEmbeddings();
    expect(demo.problems).toBe(1); // the CLI exits 2
    expect(demo.warnings).toContainEqual(expect.stringMatching(/demo-pairs.csv line 9: "maybe" is not yes\/no, 1\/0 or true\/false; line skipped/));
    const r = demo.report;
    expect(r).toMatchObject({ kind: 'csv-pairs', model: 'mobilefacenet', metric: 'euclidean_l2' });
    expect(r.pairs).toMatchObject({ scored: 8, same: 4, different: 4, badLines: 1, unscored: 0 });
    expect(r.images).toMatchObject({ total: 6, embedded: 6, fromCache: 0, computed: 6 });
    // a photo against itself is at distance 0, different people far: everything separates
    expect(r.auc).toBe(1);
    expect(r.tarAtFar).toHaveLength(2);
    for (const k of ['accuracy', 'eer', 'bestThreshold', 'defaultThreshold']) expect(r).toHaveProperty(k);
    expect(readFileSync(demo.roc, 'utf8')).toMatch(/^<svg[\s\S]*ROC: demo-pairs.csv[\s\S]*<\/svg>\n$/);

    const second = await facekit.evaluate(demoPairs, { cache: copyDir(demo.cache), engine: engine() });
    const r2 = printed(second);
    expect(r2.images).toMatchObject({ total: 6, fromCache: 6, computed: 0 });
    expect(figures(r2)).toEqual(figures(r));
    expect(second.problems).toBe(1);
  });

  it('`facekit eval --json --roc`: one JSON line, the bad line and the plot on stderr, exit 2, the ROC file written', async () => {
    const demo = await demoEmbeddings();
    const roc = join(tempDir(), 'roc.svg');
    const res = await runCli(['eval', demoPairs, '--cache', copyDir(demo.cache), '--json', '--roc', roc]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^facekit: .*demo-pairs.csv line 9: "maybe" is not yes\/no, 1\/0 or true\/false; line skipped\n/);
    expect(res.stderr).toMatch(/\nfacekit: wrote the ROC curve to .*roc.svg\n$/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.stdout.endsWith('}\n') && res.stdout.trim().split('\n').length === 1).toBe(true);
    const r = JSON.parse(res.stdout) as EvalReport;
    expect(r.images).toMatchObject({ total: 6, fromCache: 6, computed: 0 });
    expect(figures(r)).toEqual(figures(demo.report));
    expect(readFileSync(roc, 'utf8')).toBe(readFileSync(demo.roc, 'utf8'));
  });

  it('`facekit eval` prints a table for people, fitted to the width ($COLUMNS off a terminal), exit 0', async () => {
    const dir = tempDir('facekit-eval-table-with-a-rather-long-folder-name-');
    const csv = join(dir, 'p.csv');
    writeFileSync(csv, ['a,b,same', 'x.jpg,x.jpg,yes', 'y.jpg,y.jpg,yes', 'x.jpg,y.jpg,no', 'y.jpg,z.jpg,no', 'z.jpg,z.jpg,yes', 'x.jpg,z.jpg,no'].join('\n'));
    for (const [f, s] of [['x.jpg', 'sample1.jpg'], ['y.jpg', 'sample3.jpg'], ['z.jpg', 'sample6.jpg']] as const) copyFileSync(join(DEMO, s), join(dir, f));
    // the embeddings from a copy of the demo photos' cache (it is keyed by content)
    const cache = copyDir((await demoEmbeddings()).cache);
    // no plain progress line on a slow, busy machine: stderr must stay empty
    const res = await runCli(['eval', csv, '--cache', cache, '--folds', '3', '--table'], { env: { COLUMNS: '80', FACEKIT_PROGRESS_EVERY: '3600' } });
    expect(res.code).toBe(0);
    for (const line of res.stdout.trimEnd().split('\n')) expect([...line].length, line).toBeLessThanOrEqual(80);
    for (const row of ['accuracy (3-fold)', 'ROC AUC', 'equal error rate', 'TAR at FAR 1%', 'TAR at FAR 0.1%', 'best threshold', 'precision / recall', 'at the default 1.12']) {
      expect(res.stdout).toContain(row);
    }
    // the images row, the lines of its cell joined
    const rows = res.stdout.split('\n').filter((l) => l.startsWith('│')).map((l) => l.split('│').slice(1, 3).map((c) => c.trim()));
    const at = rows.findIndex(([k]) => k === 'images');
    let end = at + 1;
    while (rows[end]?.[0] === '') end++;
    const cell = rows.slice(at, end).map(([, v]) => v).join(' ');
    expect(cell).toMatch(/^3 \(3 from cache, 0 computed in [\d.]+ s\)$/);
    expect(res.stderr).toBe('');
  });
});

describe('evaluate() on bad input', () => {
  it('a pairs file naming a missing image: one line with its line number (the CLI: that line alone, exit 2)', async () => {
    const message = /missing-image.csv line 3: image not found: .*nobody-here.jpg \(relative paths start at the CSV's folder, or at --images\)/;
    expect((await rejection(facekit.evaluate(join(evalDir, 'missing-image.csv'), { cache: null, engine: engine() }))).line).toMatch(message);
    const res = await runCli(['eval', join(evalDir, 'missing-image.csv'), '--no-cache']);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(message);
    expect(res.stdout).toBe('');
  });

  it('LFW pairs without their images folder', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'pairs.txt'), '1\t1\nA\t1\t2\nA\t1\tB\t1\n');
    const none = await rejection(facekit.evaluate(join(dir, 'pairs.txt'), { engine: engine() }));
    expect(none).toMatchObject({ code: 'usage' });
    expect(none.line).toMatch(/pairs.txt: LFW pairs name people and photo numbers, not files: pass --images DIR/);
    const wrong = await rejection(facekit.evaluate(join(dir, 'pairs.txt'), { images: dir, cache: null, engine: engine() }));
    expect(wrong.line).toMatch(/pairs.txt line 2: image not found: .*A\/A_0001.jpg; 3 of the 3 images named are missing \(check --images\)/);
  });

  it('a folder of fewer than two people', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'only_one'));
    copyFileSync(join(DEMO, 'sample1.jpg'), join(dir, 'only_one', 'a.jpg'));
    const e = await rejection(facekit.evaluate(dir, { engine: engine() }));
    expect(e.line).toMatch(/eval needs at least two people \(one folder per person, DIR\/<person>\/\*.jpg\); found 1/);
  });

  it('a pairs file that is not there', async () => {
    // relative, as typed on the command line
    const e = await rejection(facekit.evaluate('nowhere.csv', { engine: engine() }));
    expect(e.line).toMatch(/nowhere.csv: no such file or directory/);
  });

  it.each([
    [['--metric', 'manhattan'], /--metric must be one of cosine, euclidean, euclidean_l2; got "manhattan"/],
    [['--roc', 'roc.gif'], /--roc must name a .svg or .png file, got "roc.gif"/],
    [['--folds', '1'], /--folds must be at least 2, got 1/],
    [['--model', 'vgg'], /--model must be one of resnet34, faceres, mobilefacenet, faceplugin, mobilenetv2; got "vgg"/],
  ])('`facekit eval demo-pairs.csv %j`: one line, exit 2 (the CLI in this process)', async (extra, message) => {
    const res = await cliInProcess(['eval', demoPairs, ...(extra as string[])]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(message);
    expect(res.stdout).toBe('');
  });

  it('an empty pairs file, and one with no usable line', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'empty.csv'), '');
    const empty = await rejection(facekit.evaluate(join(dir, 'empty.csv'), { engine: engine() }));
    expect(empty.line).toMatch(/empty.csv: pairs file is empty/);
    writeFileSync(join(dir, 'bad.csv'), 'a.jpg,b.jpg,perhaps\n');
    const warnings: string[] = [];
    const bad = await rejection(facekit.evaluate(join(dir, 'bad.csv'), { engine: engine(), onWarn: (l) => warnings.push(l) }));
    expect(warnings).toEqual([expect.stringMatching(/bad.csv line 1: "perhaps" is not yes\/no/)]);
    expect(bad.line).toMatch(/bad.csv: no pairs to evaluate \(1 bad lines\)/);
  });
});

describe.skipIf(!hasLfw)('evaluate() on a slice of LFW', () => {
  it('follows the file\'s folds, and reuses the embeddings on a second run', async () => {
    // 2 folds of 10 matched + 10 mismatched pairs, in pairs.txt's own layout
    const lines = readFileSync(join(LFW, 'pairs.txt'), 'utf8').split(/\r?\n/);
    const slice = ['2\t10', ...lines.slice(1, 11), ...lines.slice(301, 311), ...lines.slice(11, 21), ...lines.slice(311, 321)];
    const dir = tempDir();
    writeFileSync(join(dir, 'pairs.txt'), slice.join('\n') + '\n');
    const opts = { images: join(LFW, 'images'), skipDetect: true, cache: tempDir(), engine: engine() };
    const first = await facekit.evaluate(join(dir, 'pairs.txt'), opts);
    expect(first.problems).toBe(0);
    const r = printed(first);
    expect(r).toMatchObject({ kind: 'lfw-pairs', skipDetect: true, detector: null });
    expect(r.pairs).toMatchObject({ scored: 40, same: 20, different: 20 });
    expect(r.accuracy.folds).toBe(2);
    expect(r.accuracy.perFold.map((f) => f.pairs)).toEqual([20, 20]);
    expect(r.accuracy.mean).toBeGreaterThanOrEqual(0.9);
    expect(r.auc).toBeGreaterThan(0.95);
    expect(r.images.computed).toBe(r.images.total);
    await facekit.writePlot(join(dir, 'roc.png'), facekit.rocPlot(first), '--roc');
    expect((await sharp(join(dir, 'roc.png')).metadata()).format).toBe('png');
    const r2 = printed(await facekit.evaluate(join(dir, 'pairs.txt'), opts));
    expect(r2.images).toMatchObject({ fromCache: r.images.total, computed: 0 });
    expect(r2.auc).toBe(r.auc);
    expect(r2.accuracy).toEqual(r.accuracy);
  });
});
if (!hasLfw) console.warn('skipping the LFW eval test: ../shared/datasets/lfw-aligned is not here');

describe.skipIf(!hasArtists)('evaluate() on the artists folder', () => {
  it('scores every pair and leave-one-out identification', async () => {
    // The embeddings are computed once per test run, by evaluate(ARTISTS, { cache }) on an empty
    // cache (tsne.test.ts reads them from it as well): check that evaluation...
    const computed = await artistsEmbeddings();
    expect(computed.problems, computed.warnings.join('\n')).toBe(0);
    const first = computed.report;
    expect(first.images).toMatchObject({ fromCache: 0, computed: first.images.total });
    // ...then this one, on a copy of that cache, takes every embedding from it and gives the same figures
    const dir = tempDir();
    const e = await facekit.evaluate(ARTISTS, { cache: copyDir(computed.cache), engine: engine() });
    expect(e.problems).toBe(0);
    const r = printed(e);
    expect(r.images).toMatchObject({ total: first.images.total, embedded: first.images.embedded, fromCache: first.images.total, computed: 0 });
    expect(figures(r)).toEqual(figures(first));
    expect(r.kind).toBe('folder');
    expect(r.pairs.scored).toBeGreaterThanOrEqual(2850); // 2926 when all 77 photos give a face
    expect(r.pairs.same).toBeGreaterThanOrEqual(210);
    expect(r.accuracy.mean).toBeGreaterThan(0.97);
    expect(r.auc).toBeGreaterThan(0.99);
    expect(r.rank1!.total).toBeGreaterThanOrEqual(76);
    expect(r.rank1!.accuracy).toBeGreaterThan(0.95);
    await facekit.writePlot(join(dir, 'roc.png'), facekit.rocPlot(e), '--roc');
    const meta = await sharp(join(dir, 'roc.png')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1440, 1080]);
  });
});
if (!hasArtists) console.warn('skipping the artists eval test: ../shared/datasets/artists is not here');
