/**
 * `facekit tsne`: the embeddings of a gallery, a records file or a folder of people projected to
 * 2-D (t-SNE or PCA) and plotted, one colour per person, with query photos marked as unknown.
 * Coordinates go to stdout as NDJSON (or to --coords FILE as JSON).
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Option, type Command } from 'commander';
import { writeFileAtomic } from '../../core/files.js';
import {
  DEFAULT_METRIC, DEFAULT_RECOGNIZER, EXACT_LIMIT, METRICS, MIN_ITERATIONS, plotFormat, project, scatterPlot, writePlot,
  type DetectorId, type Metric, type RecognizerId, type TsneAlgorithm,
  type Subject,
} from '../../index.js';
import { action } from '../exit.js';
import { addCacheOptions, addDetectOptions, addEngineOptions, cacheOf, engineFor, parseMetric, parseModel, parseNumber, type CommonOptions } from '../options.js';
import { Progress, warn } from '../output.js';

interface TsneCommandOptions extends CommonOptions {
  subject?: Subject;
  query?: string[];
  out?: string;
  coords?: string;
  labels: boolean;
  title?: string;
  unknownLabel: string;
  perplexity?: number;
  iterations: number;
  seed: number;
  method: 'tsne' | 'pca';
  algorithm: TsneAlgorithm;
  metric?: Metric;
  model: RecognizerId;
  skipDetect: boolean;
  detector: DetectorId;
  minScore: number;
  flip: boolean;
  cache?: string | boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('tsne')
    .description('plot the embeddings in 2-D (t-SNE or PCA): one colour per person, query photos marked as unknown')
    .argument('<source>', 'a gallery (gallery.json), represent records (.ndjson with "embedding" and "label"), or DIR/<person>/*.jpg')
    .option('--query <images...>', 'photos to place among them, marked as unknown (their largest face)')
    .option('-o, --out <file>', 'write the plot to this .svg or .png')
    .option('--coords <file>', 'write the 2-D coordinates to this JSON file (default: NDJSON on stdout)')
    .option('--labels', 'write the name next to every point', false)
    .option('--title <text>', 'plot title (default: says what is plotted)')
    .option('--unknown-label <text>', 'what query points are called on the plot', 'unknown')
    .addOption(new Option('--method <name>', 'tsne, or pca for a quick, deterministic linear view').choices(['tsne', 'pca']).default('tsne'))
    .option('--perplexity <p>', 't-SNE: about how many neighbours each point keeps close (default 30, less for few points)', parseNumber('--perplexity', { min: 0 }))
    .option('--iterations <n>', 't-SNE: optimisation steps', parseNumber('--iterations', { min: MIN_ITERATIONS, integer: true }), 1000)
    .option('--seed <n>', 't-SNE: random start; the same seed gives the same picture', parseNumber('--seed', { integer: true }), 1)
    .addOption(new Option('--algorithm <name>', `t-SNE: exact (tsne-js, O(n^2)), barnes-hut (O(n log n)), or auto (exact up to ${EXACT_LIMIT} points)`)
      .choices(['auto', 'exact', 'barnes-hut']).default('auto'))
    .option('--metric <name>', `distance the plot should follow: ${METRICS.join(' | ')} (default: the gallery's, else ${DEFAULT_METRIC})`, parseMetric)
    .option('--model <name>', 'DIR source: recognition model', parseModel, DEFAULT_RECOGNIZER)
    .option('--skip-detect', 'DIR source and queries are already aligned face crops: no detector', false);
  addDetectOptions(cmd, { detector: 'DIR source: blazeface | ssd | tiny (a gallery uses its own)' })
    .option('--no-flip', 'DIR source: embed each face only, not also its mirror image');
  addEngineOptions(addCacheOptions(cmd));
  cmd.addHelpText('after', `
Examples:
  $ facekit tsne db/gallery.json --out people.png
  $ facekit tsne db/gallery.json --query who.jpg --labels --out people.svg
  $ facekit tsne ./people --method pca --coords xy.json --out pca.png
  $ facekit represent ./people --out people.ndjson && facekit tsne people.ndjson > xy.ndjson

Put --query after the source (it takes every name up to the next option).`);
  cmd.action(action(async (source: string, opts: TsneCommandOptions) => {
    if (opts.out) plotFormat(opts.out, '--out');
    const engine = engineFor(opts);
    let bar: Progress | undefined;
    let iterations: Progress | undefined;
    try {
      const p = await project(source, {
        method: opts.method, perplexity: opts.perplexity, iterations: opts.iterations, seed: opts.seed, algorithm: opts.algorithm, metric: opts.metric,
        query: opts.query, subject: opts.subject, model: opts.model, skipDetect: opts.skipDetect, detector: opts.detector, minScore: opts.minScore, flip: opts.flip,
        cache: cacheOf(opts.cache), engine, onWarn: warn,
        onProgress: ({ total }) => { if (total !== undefined) (bar ??= new Progress(total, 'images')).tick(); },
        onIteration: () => { iterations ??= new Progress(opts.iterations, 'iterations'); for (let i = 0; i < 10; i++) iterations.tick(); },
      });
      bar?.end();
      iterations?.end();
      if (opts.coords) {
        await mkdir(dirname(opts.coords), { recursive: true }).catch(() => undefined);
        await writeFileAtomic(opts.coords, JSON.stringify({ source, method: p.method, projection: p.projection, metric: p.metric, model: p.model, points: p.points }, null, 1) + '\n');
      } else {
        for (const pt of p.points) process.stdout.write(JSON.stringify(pt) + '\n');
      }
      if (opts.out) await writePlot(opts.out, scatterPlot(p, { title: opts.title, labels: opts.labels, unknownLabel: opts.unknownLabel }), '--out');
      warn(`${p.method === 'pca' ? 'PCA' : p.projection.split(',')[0]} of ${p.points.length} points in ${p.seconds.toFixed(1)} s` +
        `${opts.out ? `; wrote ${opts.out}` : ''}${opts.coords ? `; coordinates in ${opts.coords}` : ''}`);
      return 0;
    } finally {
      await engine.close();
    }
  }));
}
