/**
 * `facekit eval`: how good is the pipeline? Verification figures on a list of pairs (LFW's
 * pairs.txt, or a CSV of image_a,image_b,same) or on a folder of people (every pair), plus
 * leave-one-out rank-1 identification for a folder. Embeddings come from the cache when they can.
 */
import { relative } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_METRIC, DEFAULT_RECOGNIZER, METRICS, evaluate, farText, pct, plotFormat, rocPlot, writePlot, type DetectorId, type EvalReport, type Metric, type RecognizerId, type Subject } from '../../index.js';
import { action } from '../exit.js';
import { addCacheOptions, addDetectOptions, addEngineOptions, addFormatOptions, addModelOption, cacheOf, engineFor, MODEL_CHOICES, parseMetric, parseNumber, wantsTable, type CommonOptions, type FormatOptions } from '../options.js';
import { plainTable, progressBar, warn } from '../output.js';

interface EvalOptions extends CommonOptions, FormatOptions {
  subject?: Subject;
  images?: string;
  model: RecognizerId;
  metric: Metric;
  skipDetect: boolean;
  detector: DetectorId;
  minScore: number;
  flip: boolean;
  folds: number;
  maxPairs: number;
  seed: number;
  roc?: string;
  cache?: string | boolean;
}

const DEFAULT_MAX_PAIRS = 300_000;

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('measure verification (and identification) accuracy on LFW pairs, a CSV of pairs, or a folder of people')
    .argument('<input>', "LFW's pairs.txt, a CSV of image_a,image_b,same, or DIR/<person>/*.jpg")
    .option('--images <dir>', "pairs.txt: the folder holding <Name>/<Name>_0001.jpg (default: images/ beside it); CSV: where relative paths start (default: the CSV's folder)");
  addModelOption(cmd, `recognition model: ${MODEL_CHOICES}`, DEFAULT_RECOGNIZER)
    .option('--metric <name>', `distance: ${METRICS.join(' | ')}`, parseMetric, DEFAULT_METRIC)
    .option('--skip-detect', 'the images are already aligned face crops (as the LFW crops): no detector', false);
  addDetectOptions(cmd)
    .option('--no-flip', 'embed each face only, not also its mirror image')
    .option('--folds <k>', 'folds for the accuracy (pairs.txt brings its own)', parseNumber('--folds', { min: 2, integer: true }), 10)
    .option('--max-pairs <n>', 'folder: at most this many different-person pairs (a seeded sample beyond)', parseNumber('--max-pairs', { min: 1, integer: true }), DEFAULT_MAX_PAIRS)
    .option('--seed <n>', 'seed for that sample', parseNumber('--seed', { integer: true }), 1)
    .option('--roc <file>', 'draw the ROC curve to this .png or .svg');
  addFormatOptions(cmd, 'the figures as one JSON object');
  addEngineOptions(addCacheOptions(cmd));
  cmd.addHelpText('after', `
Examples:
  $ facekit eval lfw/pairs.txt --images lfw/images --skip-detect     LFW protocol, 10 folds
  $ facekit eval pairs.csv --roc roc.png                              image_a,image_b,same (yes/no, 1/0, true/false)
  $ facekit eval ./people --model faceres --json                     every pair + rank-1 identification

Embeddings are cached by image content and settings (see --cache); a second run is fast.
Exit code: 0, or 2 on bad input (a missing image is fatal; a bad line is reported, the rest evaluated).`);
  cmd.action(action(async (input: string, opts: EvalOptions) => {
    if (opts.roc) plotFormat(opts.roc, '--roc');
    const table = wantsTable(opts);
    const engine = engineFor(opts);
    const bar = progressBar();
    try {
      const e = await evaluate(input, {
        images: opts.images, subject: opts.subject, model: opts.model, metric: opts.metric, skipDetect: opts.skipDetect, detector: opts.detector, minScore: opts.minScore,
        flip: opts.flip, folds: opts.folds, maxPairs: opts.maxPairs, seed: opts.seed, cache: cacheOf(opts.cache), engine,
        onWarn: warn, onProgress: bar.update,
      });
      bar.end();
      if (opts.roc) await writePlot(opts.roc, rocPlot(e), '--roc');
      if (!table) process.stdout.write(JSON.stringify(e.report) + '\n');
      else printReport(e.report);
      if (opts.roc) warn(`wrote the ROC curve to ${opts.roc}`);
      return e.problems > 0 ? 2 : 0;
    } finally {
      await engine.close();
    }
  }));
}

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
