/**
 * `facekit tsne`: the embeddings of a gallery, a records file or a folder of people projected to
 * 2-D (t-SNE or PCA) and plotted, one colour per person, with query photos marked as unknown.
 * Coordinates go to stdout as NDJSON (or to --coords FILE as JSON).
 */
import { readRegularFile } from '../../core/files.js';
import { statSync } from 'node:fs';
import { mkdir} from 'node:fs/promises';
import { basename, dirname, extname, relative, sep } from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_METRIC, DEFAULT_RECOGNIZER, METRICS, isDetectorId, isMetric, isRecognizerId, type Metric, type RecognizerId } from '../../api/models.js';
import { embedImages, resolveCacheDir, type EmbedSettings, DEFAULT_PLAN, type PipelinePlan } from '../../api/pipeline.js';
import { isDbUrl, loadAnyGallery, loadGallery, l2normalize, type InMemoryGallery } from '../../api/recognition.js';
import { displayName, plotFormat, scatterSvg, writePlot, type ScatterPoint, checkPerplexity, defaultPerplexity, EXACT_LIMIT, matrixFrom, MIN_ITERATIONS, pca, points2d, tsne, type TsneAlgorithm } from '../../api/analysis.js';
import { FacekitError, fsError } from '../../core/errors.js';
import { listImages } from '../../core/image.js';
import { writeFileAtomic } from '../../core/files.js';
import {
  action, addCommonOptions, addWorkersOption, parseDetector, parseModel, parseNumber, parseRecordsText, Progress, warn, type BatchOptions,
} from '../common.js';

interface TsneCommandOptions extends BatchOptions {
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
  metric?: string;
  model: RecognizerId;
  skipDetect: boolean;
  detector: PipelinePlan['detector'];
  minScore: number;
  flip: boolean;
  cache?: string | boolean;
}

/** One face to place: from the source (a person) or a query (unknown). */
interface Item {
  vector: ArrayLike<number>;
  label: string | null;
  image: string;
  face: number | null;
  query: boolean;
}

export interface PlacedPoint {
  x: number;
  y: number;
  /** the person, or null for a query */
  label: string | null;
  image: string;
  face: number | null;
  query: boolean;
}

const UNLABELLED = '(no label)';

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
    .option('--metric <name>', `distance the plot should follow: ${METRICS.join(' | ')} (default: the gallery's, else ${DEFAULT_METRIC})`)
    .option('--model <name>', 'DIR source: recognition model', parseModel, DEFAULT_RECOGNIZER)
    .option('--skip-detect', 'DIR source and queries are already aligned face crops: no detector', false)
    .option('--detector <name>', 'DIR source: blazeface | ssd | tiny (a gallery uses its own)', parseDetector, DEFAULT_PLAN.detector)
    .option('--min-score <s>', 'lowest detector confidence kept', parseNumber('--min-score', { min: 0, max: 1 }), DEFAULT_PLAN.minScore)
    .option('--no-flip', 'DIR source: embed each face only, not also its mirror image')
    .option('--cache <dir>', 'embedding cache folder (default $XDG_CACHE_HOME/facekit or ~/.cache/facekit)')
    .option('--no-cache', 'neither read nor write the embedding cache');
  addWorkersOption(addCommonOptions(cmd));
  cmd.addHelpText('after', `
Examples:
  $ facekit tsne db/gallery.json --out people.png
  $ facekit tsne db/gallery.json --query who.jpg --labels --out people.svg
  $ facekit tsne ./people --method pca --coords xy.json --out pca.png
  $ facekit represent ./people --out people.ndjson && facekit tsne people.ndjson > xy.ndjson

Put --query after the source (it takes every name up to the next option).`);
  cmd.action(action(async (source: string, opts: TsneCommandOptions) => {
    if (opts.metric !== undefined && !isMetric(opts.metric)) {
      throw new FacekitError('usage', `--metric must be one of ${METRICS.join(', ')}; got "${opts.metric}"`);
    }
    if (opts.out) plotFormat(opts.out, '--out');
    const loaded = await loadSource(source, opts);
    const items = [...loaded.items];
    if (opts.query?.length) items.push(...(await placeQueries(opts.query, loaded.settings, opts)));
    const metric = (opts.metric as Metric | undefined) ?? loaded.metric;
    const sourceCount = loaded.items.length;
    if (items.length < 2) throw new FacekitError('usage', `nothing to plot: ${items.length} face${items.length === 1 ? '' : 's'}`, source);

    // project what the metric compares: unit vectors for cosine and euclidean_l2
    const x = matrixFrom(items.map((it) => (metric === 'euclidean' ? it.vector : l2normalize(it.vector))));
    const started = Date.now();
    let xy: [number, number][];
    let how: string;
    let axes: [string, string];
    if (opts.method === 'pca') {
      const p = pca(x, 2);
      xy = points2d(p.coords.cols === 2 ? p.coords : { rows: p.coords.rows, cols: 2, data: Float64Array.from({ length: p.coords.rows * 2 }, (_, i) => (i % 2 === 0 ? p.coords.data[i / 2]! : 0)) });
      how = 'PCA';
      axes = [`principal component 1 (${pctOf(p.explained[0])} of the variance)`, `principal component 2 (${pctOf(p.explained[1])} of the variance)`];
    } else {
      const perplexity = opts.perplexity ?? defaultPerplexity(items.length);
      checkPerplexity(perplexity, items.length);
      const progress = new Progress(opts.iterations, 'iterations');
      const r = tsne(x, {
        perplexity, iterations: opts.iterations, seed: opts.seed, algorithm: opts.algorithm,
        onIteration: () => { for (let i = 0; i < 10; i++) progress.tick(); },
      });
      progress.end();
      xy = points2d(r.coords);
      how = `${r.algorithm === 'exact' ? 'exact' : 'Barnes-Hut'} t-SNE, perplexity ${round(perplexity, 2)}, ${opts.iterations} iterations, seed ${opts.seed}${r.pcaDims ? `, PCA to ${r.pcaDims}-d first` : ''}`;
      axes = ['t-SNE 1  (the axes have no units: nearby points are faces the model finds alike)', 't-SNE 2'];
    }
    const seconds = (Date.now() - started) / 1000;

    const points: PlacedPoint[] = items.map((it, i) => ({
      x: round(xy[i]![0], 5), y: round(xy[i]![1], 5), label: it.label, image: it.image, face: it.face, query: it.query,
    }));
    if (opts.coords) {
      await mkdir(dirname(opts.coords), { recursive: true }).catch(() => undefined);
      await writeFileAtomic(opts.coords, JSON.stringify({
        source, method: opts.method, projection: how, metric, model: loaded.settings.model, points,
      }, null, 1) + '\n');
    } else {
      for (const p of points) process.stdout.write(JSON.stringify(p) + '\n');
    }
    if (opts.out) {
      const people = new Set(items.filter((it) => !it.query).map((it) => it.label)).size;
      const queries = items.length - sourceCount;
      const title = opts.title ?? `${opts.method === 'pca' ? 'PCA' : 't-SNE'} of ${sourceCount} faces of ${people} ${people === 1 ? 'person' : 'people'}` +
        (queries ? ` and ${queries} unknown` : '');
      const scatter: ScatterPoint[] = items.map((it, i) => ({
        x: xy[i]![0], y: xy[i]![1], group: it.query ? null : (it.label ?? UNLABELLED),
        text: it.query ? basename(it.image) : displayName(it.label ?? UNLABELLED),
      }));
      const svg = scatterSvg(scatter, {
        title, subtitle: `${loaded.settings.model} embeddings, ${metric} · ${how}`,
        xLabel: axes[0], yLabel: axes[1], labels: opts.labels, unknownLabel: opts.unknownLabel,
      });
      await writePlot(opts.out, svg, '--out');
    }
    warn(`${opts.method === 'pca' ? 'PCA' : how.split(',')[0]} of ${items.length} points in ${seconds.toFixed(1)} s` +
      `${opts.out ? `; wrote ${opts.out}` : ''}${opts.coords ? `; coordinates in ${opts.coords}` : ''}`);
    return 0;
  }));
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
const pctOf = (v: number | undefined) => `${((v ?? 0) * 100).toFixed(1)}%`;

interface Loaded {
  items: Item[];
  /** settings to embed query photos so that they compare with the source */
  settings: EmbedSettings;
  metric: Metric;
}

/** A gallery (file or database) as the points to plot. */
function fromGallery(g: InMemoryGallery, source: string, dirSettings: EmbedSettings, opts: TsneCommandOptions): Loaded {
  if (g.size === 0) throw new FacekitError('bad_gallery', 'gallery is empty', source);
  if (!isRecognizerId(g.meta.model)) throw new FacekitError('model_mismatch', `gallery model "${g.meta.model}" is unknown to this facekit`, source);
  const items: Item[] = g.entries.map((e, i) => ({ vector: g.vector(i), label: e.label, image: e.image, face: e.face, query: false }));
  return {
    items,
    settings: { ...dirSettings, model: g.meta.model, flip: g.meta.flip, detector: isDetectorId(g.meta.detector) ? g.meta.detector : opts.detector },
    metric: g.meta.metric,
  };
}

async function loadSource(source: string, opts: TsneCommandOptions): Promise<Loaded> {
  const dirSettings: EmbedSettings = { model: opts.model, flip: opts.flip, skipDetect: opts.skipDetect, detector: opts.detector, minScore: opts.minScore };
  if (isDbUrl(source)) return fromGallery(await loadAnyGallery(source), source, dirSettings, opts);
  let st;
  try {
    st = statSync(source);
  } catch (err) {
    throw fsError(err, source);
  }
  if (st.isDirectory()) return loadFolder(source, dirSettings, opts);
  const ext = extname(source).toLowerCase();
  let text: string;
  try {
    text = (await readRegularFile(source)).toString('utf8');
  } catch (err) {
    throw fsError(err, source);
  }
  if (ext === '.json' && /"format"\s*:\s*"facekit-gallery"/.test(text.slice(0, 4096))) return fromGallery(await loadGallery(source), source, dirSettings, opts);
  if (!['.ndjson', '.jsonl', '.json'].includes(ext)) {
    throw new FacekitError('usage', 'expected a gallery (.json), records (.ndjson / .jsonl) or a folder of people', source);
  }
  const { records } = parseRecordsText(text, source);
  const items: Item[] = [];
  let skipped = 0;
  let model: string | undefined;
  for (const { record: r, where } of records) {
    if (r.error) {
      skipped++;
      continue;
    }
    if (!r.embedding) throw new FacekitError('missing_key', 'record has no "embedding" (run `facekit represent` first)', where);
    if (model === undefined) model = r.embedding.model;
    else if (r.embedding.model !== model) {
      throw new FacekitError('model_mismatch', `record holds a ${r.embedding.model} embedding, earlier ones ${model}: a plot can only compare one model's`, where);
    }
    items.push({ vector: r.embedding.vector, label: r.label ?? null, image: r.image, face: r.face, query: false });
  }
  if (items.length === 0) {
    throw new FacekitError('usage', `no records with an embedding${skipped ? ` (only ${skipped} error record${skipped === 1 ? '' : 's'}: faces not found)` : ''}`, source);
  }
  if (skipped) warn(`${source}: ${skipped} error records (faces not found) left out`);
  if (model === undefined || !isRecognizerId(model)) throw new FacekitError('model_mismatch', `embedding model "${model}" is unknown to this facekit`, source);
  return { items, settings: { ...dirSettings, model }, metric: DEFAULT_METRIC };
}

async function loadFolder(dir: string, settings: EmbedSettings, opts: TsneCommandOptions): Promise<Loaded> {
  const images = await listImages(dir);
  if (images.length === 0) throw new FacekitError('no_images', 'folder holds no images (.jpg, .png, .webp, .tif, .gif, .avif)', dir);
  const labelOf = (img: string) => {
    const rel = relative(dir, img).split(sep);
    return rel.length >= 2 ? rel[0]! : null;
  };
  let progress: Progress | undefined;
  const { results } = await embedImages(images, settings, {
    cache: resolveCacheDir(opts.cache), workers: opts.workers, backend: opts.backend, maxPixels: opts.maxPixels,
    onStart: (n) => { progress = new Progress(n, 'images'); },
    onProgress: () => progress?.tick(),
    onWarn: warn,
  });
  progress?.end();
  const items: Item[] = [];
  let failed = 0;
  for (const img of images) {
    const r = results.get(img)!;
    if (!r.vector) {
      failed++;
      if (failed <= 5) warn(`${img}: ${r.error?.message ?? 'no embedding'}; left out`);
      continue;
    }
    items.push({ vector: r.vector, label: labelOf(img), image: img, face: 0, query: false });
  }
  if (failed > 5) warn(`${dir}: ${failed} images without a face left out`);
  return { items, settings, metric: DEFAULT_METRIC };
}

async function placeQueries(queries: string[], settings: EmbedSettings, opts: TsneCommandOptions): Promise<Item[]> {
  for (const q of queries) {
    try {
      if (statSync(q).isDirectory()) throw new FacekitError('usage', '--query takes image files, not folders', q);
    } catch (err) {
      if (err instanceof FacekitError) throw err;
      throw fsError(err, q);
    }
  }
  const { results } = await embedImages(queries, settings, {
    cache: resolveCacheDir(opts.cache), workers: opts.workers, backend: opts.backend, maxPixels: opts.maxPixels, onWarn: warn,
  });
  return queries.map((q) => {
    const r = results.get(q)!;
    if (!r.vector) {
      const e = r.error;
      if (!e || e.code === 'no_face') throw new FacekitError('no_face', 'no face found; a --query photo needs a face to place', q);
      throw new FacekitError(e.code, e.message, q);
    }
    if (r.faces > 1) warn(`${q}: holds ${r.faces} faces; placing the largest`);
    return { vector: r.vector, label: null, image: q, face: 0, query: true };
  });
}
