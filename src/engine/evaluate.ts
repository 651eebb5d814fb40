/**
 * evaluate: how good is the pipeline? Verification figures on a list of pairs (LFW's pairs.txt, or
 * a CSV of image_a,image_b,same) or on a folder of people (every pair), plus leave-one-out rank-1
 * and open-set identification for a folder: the report `facekit eval` prints. Embeddings come
 * from the embedding cache when they can.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { FacekitError, fsError } from '../core/errors.js';
import { readRegularFile } from '../core/files.js';
import { readPeople } from '../core/people.js';
import { DEFAULT_METRIC, type DetectorId, type Metric, type RecognizerId, type Subject } from '../models/catalogue.js';
import { subjectSettings } from '../pipeline/plan.js';
import { defaultCacheDir, embedImages, type EmbedStats, type Embedded } from '../pipeline/embeddings-cache.js';
import { parseMetric, defaultThreshold } from '../recognition/policy.js';
import { distance } from '../stages/verification.js';
import {
  accuracyAt, labelledPairs, leaveOneOutRank1, openSetLeaveOneOut, parseCsvPairs, parseLfwPairs, precisionRecall, rocSvg, seededRandom,
  verificationSummary, type ParsedPairs, type Scored, type VerificationSummary,
} from '../evaluation/index.js';
import type { Facekit } from './facekit.js';
import type { RunOptions } from './options.js';
import { sharedEngine } from './shared.js';

export interface EvaluateOptions extends RunOptions {
  /** pairs.txt: the folder holding <Name>/<Name>_0001.jpg (default images/ beside it); CSV: where relative paths start (default: its folder) */
  images?: string;
  /** `image`: whole images (an image recognizer, no detector) */
  subject?: Subject;
  model?: RecognizerId;
  metric?: Metric;
  /** the images are already aligned face crops: no detector */
  skipDetect?: boolean;
  detector?: DetectorId;
  minScore?: number;
  /** average each embedding with its mirror image's (default true) */
  flip?: boolean;
  /** folds for the accuracy (pairs.txt brings its own; default 10) */
  folds?: number;
  /** folder: at most this many different-person pairs, a seeded sample beyond (default 300 000) */
  maxPairs?: number;
  seed?: number;
  /** embedding cache folder; null: no cache (default $XDG_CACHE_HOME/facekit or ~/.cache/facekit) */
  cache?: string | null;
  engine?: Facekit;
  /** talk for a person: bad lines, images without an embedding */
  onWarn?: (line: string) => void;
  /** once the images to embed are known (before the slow part) */
  onStart?: (toEmbed: number, fromCache: number) => void;
}

export type EvalKind = 'lfw-pairs' | 'csv-pairs' | 'folder';

export interface EvalReport {
  input: string;
  kind: EvalKind;
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
  /** leave-one-out open-set identification at the gallery threshold (folders only) */
  openSet?: { threshold: number; accepted: number; rejected: number; total: number };
}

/** The report, the ROC curve behind it (rocPlot draws it), and how many inputs were bad. */
export interface Evaluation {
  report: EvalReport;
  /** the same figures unrounded, with the ROC curve (rocPlot draws it) */
  summary: VerificationSummary;
  /** bad pair lines plus images that could not be used at all (missing, damaged): bad input */
  problems: number;
}

interface Settings {
  model: RecognizerId;
  metric: Metric;
  flip: boolean;
  skipDetect: boolean;
  detector: DetectorId;
  minScore: number;
}

const DEFAULT_MAX_PAIRS = 300_000;

/** Evaluate on a pairs file (LFW's pairs.txt, or a CSV) or a folder of people. */
export async function evaluate(input: string, opts: EvaluateOptions = {}): Promise<Evaluation> {
  let st;
  try {
    st = statSync(input);
  } catch (err) {
    throw fsError(err, input);
  }
  const subject = subjectSettings(opts);
  const s: Settings = {
    model: subject.model, metric: parseMetric(opts.metric ?? DEFAULT_METRIC), flip: subject.flip,
    skipDetect: opts.skipDetect ?? false, detector: subject.detector, minScore: opts.minScore ?? 0.5,
  };
  return st.isDirectory() ? evalFolder(input, s, opts) : evalPairs(input, s, opts);
}

async function embedAll(images: string[], s: Settings, opts: EvaluateOptions): Promise<{ results: Map<string, Embedded>; stats: EmbedStats }> {
  const engine = opts.engine ?? sharedEngine();
  const session = engine.session(images.length, opts.signal);
  try {
    return await embedImages(images, { model: s.model, flip: s.flip, skipDetect: s.skipDetect, detector: s.detector, minScore: s.minScore }, {
      cache: opts.cache === undefined ? defaultCacheDir() : opts.cache, session, maxPixels: engine.maxPixels,
      onStart: opts.onStart, onProgress: (done, total) => opts.onProgress?.({ done, total }), onWarn: opts.onWarn,
    });
  } finally {
    await session.close();
  }
}

/**
 * Say which images gave no embedding: a few by name, then how many. Returns how many could not be
 * used at all (missing, damaged, not an image): those are bad input, while a photo in which the
 * detector finds no face is a result of the evaluation.
 */
function reportFailures(failed: Embedded[], total: number, leftOut: string, warn: (l: string) => void): number {
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
    let sum = 0;
    for (let k = 0; k < v.length; k++) sum += v[k]! * v[k]!;
    const inv = 1 / (Math.sqrt(sum) || 1);
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

async function evalPairs(file: string, s: Settings, opts: EvaluateOptions): Promise<Evaluation> {
  const warn = opts.onWarn ?? (() => undefined);
  let text: string;
  try {
    text = (await readRegularFile(file)).toString('utf8');
  } catch (err) {
    throw err instanceof FacekitError ? err : fsError(err, file);
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

  const { results, stats } = await embedAll([...firstLine.keys()], s, opts);
  const failed = [...results.values()].filter((r) => !r.vector);
  const scored: (Scored & { fold: number })[] = [];
  let unscored = 0;
  for (const p of parsed.pairs) {
    const a = results.get(p.a)?.vector, b = results.get(p.b)?.vector;
    if (!a || !b) unscored++;
    else scored.push({ distance: distance(a, b, s.metric), same: p.same, fold: p.fold });
  }
  const unusable = reportFailures(failed, results.size, `${unscored} pairs with them are left out`, warn);
  const summary = verificationSummary(scored, opts.folds ?? 10);
  const report = buildReport(file, csv ? 'csv-pairs' : 'lfw-pairs', s, summary, stats, failed.length, scored,
    { listed: parsed.pairs.length + parsed.problems.length, unscored, badLines: parsed.problems.length, sampled: false });
  return { report, summary, problems: parsed.problems.length + unusable };
}

async function evalFolder(dir: string, s: Settings, opts: EvaluateOptions): Promise<Evaluation> {
  const warn = opts.onWarn ?? (() => undefined);
  const { people, loose } = await readPeople(dir, { noPeople: 'empty' });
  const images: string[] = [];
  const labelOf = new Map<string, string>();
  for (const p of people) for (const img of p.images) {
    images.push(img);
    labelOf.set(img, p.label);
  }
  const withPhotos = new Set(labelOf.values());
  if (withPhotos.size < 2) {
    throw new FacekitError('usage', `eval needs at least two people (one folder per person, DIR/<person>/*.jpg); found ${withPhotos.size}`, dir);
  }
  if (loose.length > 0) warn(`${dir}: ${loose.length} images directly in the folder belong to no person; left out`);

  const { results, stats } = await embedAll(images, s, opts);
  const ok = images.filter((img) => results.get(img)?.vector);
  const failed = images.map((img) => results.get(img)!).filter((r) => !r.vector);
  const unusable = reportFailures(failed, images.length, 'they are left out of the pairs', warn);
  const labels = ok.map((img) => labelOf.get(img)!);
  if (new Set(labels).size < 2) throw new FacekitError('usage', 'fewer than two people have a photo with a face; nothing to compare', dir);
  const vectors = ok.map((img) => results.get(img)!.vector!);
  const dist = distanceOf(vectors, s.metric);
  const pairs = labelledPairs(labels, opts.maxPairs ?? DEFAULT_MAX_PAIRS, seededRandom(opts.seed ?? 1));
  const counts = [...new Set(labels)].map((l) => labels.filter((x) => x === l).length);
  const n = labels.length;
  const totalDifferent = (n * (n - 1)) / 2 - counts.reduce((sum, c) => sum + (c * (c - 1)) / 2, 0);
  const scored = pairs.map((p) => ({ distance: dist(p.a, p.b), same: p.same, fold: -1 }));
  const summary = verificationSummary(scored, opts.folds ?? 10);
  const rank1 = leaveOneOutRank1(labels, dist);
  const report = buildReport(dir, 'folder', s, summary, stats, failed.length, scored,
    { listed: pairs.length, unscored: 0, badLines: 0, sampled: summary.different < totalDifferent });
  report.rank1 = {
    correct: rank1.correct, total: rank1.total, accuracy: rank1.accuracy, alone: rank1.alone,
    mistakes: rank1.mistakes.map((m) => ({ image: ok[m.index]!, label: m.label, predicted: m.predicted, nearest: ok[m.nearest]!, distance: round(m.distance) })),
  };
  // identification in a gallery: the gallery threshold, as `facekit verify --db` uses
  report.openSet = openSetLeaveOneOut(labels, dist, defaultThreshold(s.model, s.metric, 'gallery'));
  return { report, summary, problems: unusable };
}

const round = (v: number, digits = 4) => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);

function buildReport(input: string, kind: EvalKind, s: Settings, v: VerificationSummary, stats: EmbedStats, failed: number,
  scored: Scored[], pairs: { listed: number; unscored: number; badLines: number; sampled: boolean }): EvalReport {
  const dt = defaultThreshold(s.model, s.metric);
  const dpr = precisionRecall(scored, dt);
  return {
    input, kind, model: s.model, metric: s.metric, flip: s.flip, skipDetect: s.skipDetect, detector: s.skipDetect ? null : s.detector,
    pairs: { listed: pairs.listed, scored: v.pairs, same: v.same, different: v.different, unscored: pairs.unscored, badLines: pairs.badLines, sampled: pairs.sampled },
    images: {
      total: stats.images, embedded: stats.images - failed, failed, fromCache: stats.cached, computed: stats.computed,
      seconds: round(stats.seconds, 1), cache: stats.cacheDir,
    },
    accuracy: {
      mean: round(v.kfold.mean, 6), std: round(v.kfold.std, 6), folds: v.kfold.perFold.length, threshold: round(v.kfold.threshold),
      perFold: v.kfold.perFold.map((f) => ({ fold: f.fold, threshold: round(f.threshold), accuracy: round(f.accuracy, 6), pairs: f.pairs })),
    },
    auc: round(v.auc, 6),
    eer: { rate: round(v.eer.eer, 6), threshold: round(v.eer.threshold) },
    tarAtFar: v.tarAtFar.map((t) => ({ far: t.far, tar: round(t.tar, 6), threshold: round(t.threshold) })),
    bestThreshold: { threshold: round(v.best.threshold), accuracy: round(v.best.accuracy, 6), precision: round(v.best.precision, 6), recall: round(v.best.recall, 6) },
    defaultThreshold: { threshold: dt, accuracy: round(accuracyAt(scored, dt), 6), precision: round(dpr.precision, 6), recall: round(dpr.recall, 6) },
  };
}

/** A percentage for people, as the report prints it. */
export const pct = (v: number, digits = 2): string => (Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : 'n/a');
/** A false-accept rate in words: 1%, 0.1%. */
export const farText = (far: number): string => (far >= 0.01 ? `${far * 100}%` : `${Number((far * 100).toPrecision(2))}%`);

/** The ROC curve of an evaluation as an SVG (writePlot makes it a .svg or .png file). */
export function rocPlot(e: Evaluation): string {
  const { report: r, summary: s } = e;
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
