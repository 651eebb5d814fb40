/**
 * `facekit eval`: how good is the pipeline? Verification figures on a list of pairs (LFW's
 * pairs.txt, or a CSV of image_a,image_b,same) or on a folder of people (every pair), plus
 * leave-one-out rank-1 identification for a folder. Embeddings come from the cache when they can.
 */
import { readRegularFile } from '../../core/files.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_METRIC, DEFAULT_RECOGNIZER, METRICS, isMetric, type Metric, type RecognizerId } from '../../api/models.js';
import { embedImages, resolveCacheDir, type EmbedSettings, type EmbedStats, type Embedded, DEFAULT_PLAN, type PipelinePlan } from '../../api/pipeline.js';
import { accuracyAt, labelledPairs, leaveOneOutRank1, openSetLeaveOneOut, parseCsvPairs, parseLfwPairs, precisionRecall, verificationSummary, type ParsedPairs, type Rank1Result, type Scored, type VerificationSummary, plotFormat, rocSvg, writePlot, seededRandom } from '../../api/analysis.js';
import { defaultThreshold, distance } from '../../api/recognition.js';
import { FacekitError, fsError } from '../../core/errors.js';
import { listImages } from '../../core/image.js';
import {
  action, addCommonOptions, addWorkersOption, MODEL_CHOICES, parseDetector, parseModel, parseNumber, Progress, warn, type BatchOptions,
} from '../common.js';
import { plainTable } from '../output.js';

interface EvalOptions extends BatchOptions {
  images?: string;
  model: RecognizerId;
  metric: string;
  skipDetect: boolean;
  detector: PipelinePlan['detector'];
  minScore: number;
  flip: boolean;
  folds: number;
  maxPairs: number;
  seed: number;
  roc?: string;
  json: boolean;
  cache?: string | boolean;
}

type Kind = 'lfw-pairs' | 'csv-pairs' | 'folder';

export interface EvalReport {
  input: string;
  kind: Kind;
  model: RecognizerId;
  metric: Metric;
  flip: boolean;
  skipDetect: boolean;
  detector: string | null;
  pairs: { listed: number; scored: number; same: number; different: number; unscored: number; badLines: number; sampled: boolean };
  images: { total: number; embedded: number; failed: number; fromCache: number; computed: number; seconds: number; cache: string | null };
  accuracy: { mean: number; std: number; folds: number; threshold: number; perFold: { fold: number; threshold: number; accuracy: number; pairs: number }[] };
  auc: number;
  eer: { rate: number; threshold: number };
  tarAtFar: { far: number; tar: number; threshold: number }[];
  bestThreshold: { threshold: number; accuracy: number; precision: number; recall: number };
  defaultThreshold: { threshold: number; accuracy: number; precision: number; recall: number };
  rank1?: { correct: number; total: number; accuracy: number; alone: number; mistakes: { image: string; label: string; predicted: string; nearest: string; distance: number }[] };
  /** leave-one-out open-set identification at the default threshold (folders only) */
  openSet?: { threshold: number; accepted: number; rejected: number; total: number };
}

const DEFAULT_MAX_PAIRS = 300_000;

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('measure verification (and identification) accuracy on LFW pairs, a CSV of pairs, or a folder of people')
    .argument('<input>', "LFW's pairs.txt, a CSV of image_a,image_b,same, or DIR/<person>/*.jpg")
    .option('--images <dir>', "pairs.txt: the folder holding <Name>/<Name>_0001.jpg (default: images/ beside it); CSV: where relative paths start (default: the CSV's folder)")
    .option('--model <name>', `recognition model: ${MODEL_CHOICES}`, parseModel, DEFAULT_RECOGNIZER)
    .option('--metric <name>', `distance: ${METRICS.join(' | ')}`, DEFAULT_METRIC)
    .option('--skip-detect', 'the images are already aligned face crops (as the LFW crops): no detector', false)
    .option('--detector <name>', 'blazeface | ssd | tiny', parseDetector, DEFAULT_PLAN.detector)
    .option('--min-score <s>', 'lowest detector confidence kept', parseNumber('--min-score', { min: 0, max: 1 }), DEFAULT_PLAN.minScore)
    .option('--no-flip', 'embed each face only, not also its mirror image')
    .option('--folds <k>', 'folds for the accuracy (pairs.txt brings its own)', parseNumber('--folds', { min: 2, integer: true }), 10)
    .option('--max-pairs <n>', 'folder: at most this many different-person pairs (a seeded sample beyond)', parseNumber('--max-pairs', { min: 1, integer: true }), DEFAULT_MAX_PAIRS)
    .option('--seed <n>', 'seed for that sample', parseNumber('--seed', { integer: true }), 1)
    .option('--roc <file>', 'draw the ROC curve to this .png or .svg')
    .option('--json', 'print the figures as one JSON object instead of a table', false)
    .option('--cache <dir>', 'embedding cache folder (default $XDG_CACHE_HOME/facekit or ~/.cache/facekit)')
    .option('--no-cache', 'neither read nor write the embedding cache');
  addWorkersOption(addCommonOptions(cmd));
  cmd.addHelpText('after', `
Examples:
  $ facekit eval lfw/pairs.txt --images lfw/images --skip-detect     LFW protocol, 10 folds
  $ facekit eval pairs.csv --roc roc.png                              image_a,image_b,same (yes/no, 1/0, true/false)
  $ facekit eval ./people --model faceres --json                     every pair + rank-1 identification

Embeddings are cached by image content and settings (see --cache); a second run is fast.
Exit code: 0, or 2 on bad input (a missing image is fatal; a bad line is reported, the rest evaluated).`);
  cmd.action(action(async (input: string, opts: EvalOptions) => {
    if (!isMetric(opts.metric)) throw new FacekitError('usage', `--metric must be one of ${METRICS.join(', ')}; got "${opts.metric}"`);
    if (opts.roc) plotFormat(opts.roc, '--roc');
    let st;
    try {
      st = statSync(input);
    } catch (err) {
      throw fsError(err, input);
    }
    const { report, roc, badLines } = st.isDirectory() ? await evalFolder(input, opts) : await evalPairs(input, opts);
    if (opts.roc) await writePlot(opts.roc, rocPlot(report, roc), '--roc');
    if (opts.json) process.stdout.write(JSON.stringify(report) + '\n');
    else printReport(report);
    if (opts.roc) warn(`wrote the ROC curve to ${opts.roc}`);
    return badLines > 0 ? 2 : 0;
  }));
}

function settingsOf(opts: EvalOptions): EmbedSettings {
  return { model: opts.model, flip: opts.flip, skipDetect: opts.skipDetect, detector: opts.detector, minScore: opts.minScore };
}

async function embedAll(images: string[], opts: EvalOptions): Promise<{ results: Map<string, Embedded>; stats: EmbedStats }> {
  let progress: Progress | undefined;
  const out = await embedImages(images, settingsOf(opts), {
    cache: resolveCacheDir(opts.cache), workers: opts.workers, backend: opts.backend, maxPixels: opts.maxPixels,
    onStart: (n) => { progress = new Progress(n, 'images'); },
    onProgress: () => progress?.tick(),
    onWarn: warn,
    onCrash: (image, stack) => { if (opts.debug) process.stderr.write(`${image}: ${stack}\n`); },
  });
  progress?.end();
  return out;
}

/**
 * Say which images gave no embedding: a few by name, then how many. Returns how many could not be
 * used at all (missing, damaged, not an image): those make the exit code 2, while a photo in which
 * the detector finds no face is a result of the evaluation, not bad input.
 */
function reportFailures(failed: Embedded[], total: number, leftOut: string): number {
  const unusable = failed.filter((f) => f.error?.code !== 'no_face').length;
  if (failed.length === 0) return 0;
  for (const f of failed.slice(0, 5)) warn(`${f.image}: ${f.error?.message ?? 'no embedding'}`);
  if (failed.length > 5) warn(`... and ${failed.length - 5} more images without an embedding`);
  warn(`${failed.length} of ${total} images gave no embedding; ${leftOut}`);
  return unusable;
}

/** A distance function over vectors, with the norms computed once. */
function distanceOf(vectors: Float32Array[], metric: Metric): (i: number, j: number) => number {
  if (metric === 'euclidean') return (i, j) => distance(vectors[i]!, vectors[j]!, metric);
  const unit = vectors.map((v) => {
    let s = 0;
    for (let k = 0; k < v.length; k++) s += v[k]! * v[k]!;
    const inv = 1 / (Math.sqrt(s) || 1);
    return Float32Array.from(v, (x) => x * inv);
  });
  return (i, j) => {
    const a = unit[i]!, b = unit[j]!;
    let dp = 0;
    for (let k = 0; k < a.length; k++) dp += a[k]! * b[k]!;
    const cos = Math.min(1, Math.max(-1, dp));
    return metric === 'cosine' ? Math.max(0, 1 - cos) : Math.sqrt(Math.max(0, 2 - 2 * cos));
  };
}

function isCsv(path: string, text: string): boolean {
  if (extname(path).toLowerCase() === '.csv') return true;
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  return first !== undefined && first.includes(',');
}

async function evalPairs(file: string, opts: EvalOptions): Promise<{ report: EvalReport; roc: VerificationSummary; badLines: number }> {
  let text: string;
  try {
    text = (await readRegularFile(file)).toString('utf8');
  } catch (err) {
    throw fsError(err, file);
  }
  if (text.trim() === '') throw new FacekitError('empty_file', 'pairs file is empty', file);
  const csv = isCsv(file, text);
  let parsed: ParsedPairs;
  if (csv) {
    parsed = parseCsvPairs(text, opts.images ?? dirname(file));
  } else {
    const imagesDir = opts.images ?? join(dirname(file), 'images');
    if (!opts.images && !existsSync(imagesDir)) {
      throw new FacekitError('usage', 'LFW pairs name people and photo numbers, not files: pass --images DIR (the folder holding <Name>/<Name>_0001.jpg)', file);
    }
    if (!existsSync(imagesDir)) throw new FacekitError('not_found', 'no such folder (--images)', imagesDir);
    parsed = parseLfwPairs(text, imagesDir);
  }
  for (const p of parsed.problems.slice(0, 10)) warn(`${file} line ${p.line}: ${p.message}; line skipped`);
  if (parsed.problems.length > 10) warn(`${file}: ... and ${parsed.problems.length - 10} more bad lines, skipped`);
  if (parsed.pairs.length === 0) throw new FacekitError('usage', `no pairs to evaluate (${parsed.problems.length} bad lines)`, file);

  // every image must exist: a wrong --images or a typo would otherwise quietly shrink the test
  const firstLine = new Map<string, number>();
  for (const p of parsed.pairs) for (const img of [p.a, p.b]) if (!firstLine.has(img)) firstLine.set(img, p.line);
  const missing = [...firstLine.keys()].filter((img) => !existsSync(img));
  if (missing.length > 0) {
    const hint = !csv && !opts.images ? ' (pass --images DIR)' : csv ? ' (relative paths start at the CSV\'s folder, or at --images)' : ' (check --images)';
    throw new FacekitError('not_found',
      `image not found: ${missing[0]}${missing.length > 1 ? `; ${missing.length} of the ${firstLine.size} images named are missing` : ''}${hint}`,
      `${file} line ${firstLine.get(missing[0]!)}`);
  }

  const { results, stats } = await embedAll([...firstLine.keys()], opts);
  const failed = [...results.values()].filter((r) => !r.vector);
  const scored: (Scored & { fold: number })[] = [];
  let unscored = 0;
  const metric = opts.metric as Metric;
  for (const p of parsed.pairs) {
    const a = results.get(p.a)?.vector, b = results.get(p.b)?.vector;
    if (!a || !b) unscored++;
    else scored.push({ distance: distance(a, b, metric), same: p.same, fold: p.fold });
  }
  const unusable = reportFailures(failed, results.size, `${unscored} pairs with them are left out`);
  const summary = verificationSummary(scored, opts.folds);
  const report = buildReport(file, csv ? 'csv-pairs' : 'lfw-pairs', opts, summary, stats, failed.length, scored,
    { listed: parsed.pairs.length + parsed.problems.length, unscored, badLines: parsed.problems.length, sampled: false });
  return { report, roc: summary, badLines: parsed.problems.length + unusable };
}

async function evalFolder(dir: string, opts: EvalOptions): Promise<{ report: EvalReport; roc: VerificationSummary; badLines: number }> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw fsError(err, dir);
  }
  const people = entries.filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort();
  const images: string[] = [];
  const labelOf = new Map<string, string>();
  for (const person of people) {
    for (const img of await listImages(join(dir, person))) {
      images.push(img);
      labelOf.set(img, person);
    }
  }
  const withPhotos = new Set(labelOf.values());
  if (withPhotos.size < 2) {
    throw new FacekitError('usage', `eval needs at least two people (one folder per person, DIR/<person>/*.jpg); found ${withPhotos.size}`, dir);
  }
  const loose = entries.filter((d) => d.isFile() && /\.(jpe?g|png|webp|tiff?|gif|avif)$/i.test(d.name)).length;
  if (loose > 0) warn(`${dir}: ${loose} images directly in the folder belong to no person; left out`);

  const { results, stats } = await embedAll(images, opts);
  const ok = images.filter((img) => results.get(img)?.vector);
  const failed = images.map((img) => results.get(img)!).filter((r) => !r.vector);
  const unusable = reportFailures(failed, images.length, 'they are left out of the pairs');
  const labels = ok.map((img) => labelOf.get(img)!);
  if (new Set(labels).size < 2) throw new FacekitError('usage', 'fewer than two people have a photo with a face; nothing to compare', dir);
  const vectors = ok.map((img) => results.get(img)!.vector!);
  const metric = opts.metric as Metric;
  const dist = distanceOf(vectors, metric);
  const pairs = labelledPairs(labels, opts.maxPairs, seededRandom(opts.seed));
  const totalDifferent = (() => {
    const counts = [...new Set(labels)].map((l) => labels.filter((x) => x === l).length);
    const n = labels.length;
    return (n * (n - 1)) / 2 - counts.reduce((s, c) => s + (c * (c - 1)) / 2, 0);
  })();
  const scored = pairs.map((p) => ({ distance: dist(p.a, p.b), same: p.same, fold: -1 }));
  const summary = verificationSummary(scored, opts.folds);
  const rank1: Rank1Result = leaveOneOutRank1(labels, dist);
  const report = buildReport(dir, 'folder', opts, summary, stats, failed.length, scored,
    { listed: pairs.length, unscored: 0, badLines: 0, sampled: summary.different < totalDifferent });
  report.rank1 = {
    correct: rank1.correct, total: rank1.total, accuracy: rank1.accuracy, alone: rank1.alone,
    mistakes: rank1.mistakes.map((m) => ({ image: ok[m.index]!, label: m.label, predicted: m.predicted, nearest: ok[m.nearest]!, distance: round(m.distance) })),
  };
  // identification in a gallery: the gallery threshold, as `facekit verify --db` uses
  report.openSet = openSetLeaveOneOut(labels, dist, defaultThreshold(opts.model, opts.metric as Metric, 'gallery'));
  return { report, roc: summary, badLines: unusable };
}

const round = (v: number, digits = 4) => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);

function buildReport(input: string, kind: Kind, opts: EvalOptions, s: VerificationSummary, stats: EmbedStats, failed: number,
  scored: Scored[], pairs: { listed: number; unscored: number; badLines: number; sampled: boolean }): EvalReport {
  const metric = opts.metric as Metric;
  const dt = defaultThreshold(opts.model, metric);
  const dpr = precisionRecall(scored, dt);
  return {
    input, kind, model: opts.model, metric, flip: opts.flip, skipDetect: opts.skipDetect, detector: opts.skipDetect ? null : opts.detector,
    pairs: { listed: pairs.listed, scored: s.pairs, same: s.same, different: s.different, unscored: pairs.unscored, badLines: pairs.badLines, sampled: pairs.sampled },
    images: {
      total: stats.images, embedded: stats.images - failed, failed, fromCache: stats.cached, computed: stats.computed,
      seconds: round(stats.seconds, 1), cache: stats.cacheDir,
    },
    accuracy: {
      mean: round(s.kfold.mean, 6), std: round(s.kfold.std, 6), folds: s.kfold.perFold.length, threshold: round(s.kfold.threshold),
      perFold: s.kfold.perFold.map((f) => ({ fold: f.fold, threshold: round(f.threshold), accuracy: round(f.accuracy, 6), pairs: f.pairs })),
    },
    auc: round(s.auc, 6),
    eer: { rate: round(s.eer.eer, 6), threshold: round(s.eer.threshold) },
    tarAtFar: s.tarAtFar.map((t) => ({ far: t.far, tar: round(t.tar, 6), threshold: round(t.threshold) })),
    bestThreshold: { threshold: round(s.best.threshold), accuracy: round(s.best.accuracy, 6), precision: round(s.best.precision, 6), recall: round(s.best.recall, 6) },
    defaultThreshold: { threshold: dt, accuracy: round(accuracyAt(scored, dt), 6), precision: round(dpr.precision, 6), recall: round(dpr.recall, 6) },
  };
}

const pct = (v: number, digits = 2) => (Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : 'n/a');
const farText = (far: number) => (far >= 0.01 ? `${far * 100}%` : `${Number((far * 100).toPrecision(2))}%`);

function printReport(r: EvalReport): void {
  const t = plainTable(['figure', 'value']);
  const what = r.kind === 'folder' ? 'folder of people' : r.kind === 'lfw-pairs' ? "LFW pairs" : 'CSV pairs';
  t.push(['input', `${r.input} (${what})`]);
  t.push(['model', `${r.model}, ${r.metric}${r.flip ? ', flip' : ''}${r.skipDetect ? ', pre-aligned crops' : `, detector ${r.detector}`}`]);
  const img = r.images;
  t.push(['images', `${img.total} (${img.fromCache} from cache, ${img.computed} computed in ${img.seconds} s${img.failed ? `, ${img.failed} without a face` : ''})`]);
  const p = r.pairs;
  t.push(['pairs', `${p.scored} scored: ${p.same} same, ${p.different} different${p.sampled ? ' (sampled, --max-pairs)' : ''}` +
    `${p.unscored ? `; ${p.unscored} left out (no face)` : ''}${p.badLines ? `; ${p.badLines} bad lines skipped` : ''}`]);
  t.push([`accuracy (${r.accuracy.folds}-fold)`, `${pct(r.accuracy.mean)} ± ${pct(r.accuracy.std)}`]);
  t.push(['ROC AUC', r.auc.toFixed(4)]);
  t.push(['equal error rate', `${pct(r.eer.rate)} (at distance ${r.eer.threshold})`]);
  for (const x of r.tarAtFar) t.push([`TAR at FAR ${farText(x.far)}`, `${pct(x.tar)} (at distance ${x.threshold})`]);
  const b = r.bestThreshold;
  t.push(['best threshold', `${b.threshold} (accuracy ${pct(b.accuracy)} on all pairs)`]);
  t.push(['precision / recall', `${pct(b.precision)} / ${pct(b.recall)} at the best threshold`]);
  const d = r.defaultThreshold;
  t.push([`at the default ${d.threshold}`, `accuracy ${pct(d.accuracy)}, precision ${pct(d.precision)}, recall ${pct(d.recall)}`]);
  if (r.rank1) {
    const k = r.rank1;
    t.push(['rank-1 (leave-one-out)', `${pct(k.accuracy)} (${k.correct} of ${k.total} faces${k.alone ? `; ${k.alone} alone in their folder, not counted` : ''})`]);
    for (const m of k.mistakes.slice(0, 10)) {
      t.push(['  mistaken', `${relative(r.input, m.image)} -> ${m.predicted} (${relative(r.input, m.nearest)}, ${m.distance})`]);
    }
    if (k.mistakes.length > 10) t.push(['', `... and ${k.mistakes.length - 10} more`]);
  }
  if (r.openSet) {
    const o = r.openSet;
    t.push([`open set at ${o.threshold} (gallery)`, `${pct(o.accepted / o.total)} of faces identified as the right person (${o.accepted} of ${o.total}); ` +
      `${pct(o.rejected / o.total)} rejected as unknown with their person left out (${o.rejected} of ${o.total})`]);
  }
  process.stdout.write(t.toString() + '\n');
}

function rocPlot(r: EvalReport, s: VerificationSummary): string {
  const marks = [{ far: s.eer.eer, tar: 1 - s.eer.eer, text: `EER ${pct(s.eer.eer)}` }];
  for (const x of s.tarAtFar) {
    const point = s.roc.find((p) => p.threshold === x.threshold && p.tar === x.tar);
    if (point && point.far > 0) marks.push({ far: point.far, tar: point.tar, text: `TAR ${pct(point.tar, 1)} at FAR ${farText(x.far)}` });
  }
  const what = r.kind === 'folder' ? `${basename(r.input)}/ (every pair)` : basename(r.input);
  return rocSvg([{ name: `${r.model}, ${r.metric} (AUC ${r.auc.toFixed(4)})`, points: s.roc, marks }], {
    title: `ROC: ${what}, ${r.model}`,
    subtitle: `${r.pairs.scored} pairs (${r.pairs.same} same, ${r.pairs.different} different) · ${r.accuracy.folds}-fold accuracy ${pct(r.accuracy.mean)} · AUC ${r.auc.toFixed(4)} · EER ${pct(r.eer.rate)}`,
  });
}
