/**
 * project: embeddings down to 2-D (t-SNE or PCA), from a gallery (any store), represent records,
 * a folder of people (embedded, through the cache) or vectors given directly, with query photos
 * placed among them as unknown; and scatterPlot, the picture of it. `facekit tsne` is these two.
 */
import { statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { FacekitError, fsError } from '../core/errors.js';
import { readRegularFile } from '../core/files.js';
import { listImages } from '../core/image.js';
import { personOf } from '../core/people.js';
import { parseRecord } from '../core/records.js';
import { l2normalize } from '../core/vector.js';
import { DEFAULT_DETECTOR, DEFAULT_METRIC, isDetectorId, isRecognizerId, subjectOf, type DetectorId, type Metric, type RecognizerId, type Subject } from '../models/catalogue.js';
import { subjectSettings } from '../pipeline/plan.js';
import { defaultCacheDir, embedImages, type EmbedSettings } from '../pipeline/embeddings-cache.js';
import { isDbUrl, isMemoryLocation, openBackend } from '../recognition/store/open.js';
import {
  checkPerplexity, defaultPerplexity, displayName, matrixFrom, pca, points2d, scatterSvg, tsne, type ScatterPoint, type TsneAlgorithm,
} from '../evaluation/index.js';
import type { Facekit } from './facekit.js';
import type { RunOptions } from './options.js';
import { sharedEngine } from './shared.js';

/** One face to place: a vector with the person it shows (null: unknown). */
export interface EmbeddingPoint {
  vector: ArrayLike<number>;
  label: string | null;
  image: string;
  face?: number | null;
}

export interface ProjectOptions extends RunOptions {
  method?: 'tsne' | 'pca';
  /** t-SNE: about how many neighbours each point keeps close (default 30, less for few points) */
  perplexity?: number;
  iterations?: number;
  seed?: number;
  algorithm?: TsneAlgorithm;
  /** the distance the picture should follow (default: the gallery's, else euclidean_l2) */
  metric?: Metric;
  /** photos to place among the points, marked as unknown (their largest face) */
  query?: string[];
  /** a folder source: how its photos are embedded (`subject: 'image'`: whole images, an image recognizer, no detector) */
  subject?: Subject;
  model?: RecognizerId;
  skipDetect?: boolean;
  detector?: DetectorId;
  minScore?: number;
  flip?: boolean;
  /** embedding cache folder; null: none (default $XDG_CACHE_HOME/facekit or ~/.cache/facekit) */
  cache?: string | null;
  engine?: Facekit;
  onWarn?: (line: string) => void;
  /** called every 10 t-SNE iterations */
  onIteration?: (iteration: number, total: number) => void;
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

export interface Projection {
  method: 'tsne' | 'pca';
  /** how the points were made, in words */
  projection: string;
  axes: [string, string];
  metric: Metric;
  model: string;
  points: PlacedPoint[];
  /** points from the source (the others are queries) */
  sourceCount: number;
  seconds: number;
}

interface Loaded {
  items: (EmbeddingPoint & { query: boolean })[];
  /** settings to embed query photos so that they compare with the source */
  settings: EmbedSettings;
  metric: Metric;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
const pctOf = (v: number | undefined) => `${((v ?? 0) * 100).toFixed(1)}%`;

/** Place `source`'s embeddings (and the query photos) in 2-D. */
export async function project(source: string | EmbeddingPoint[], opts: ProjectOptions = {}): Promise<Projection> {
  const method = opts.method ?? 'tsne';
  const loaded = typeof source === 'string' ? await loadSource(source, opts) : given(source, opts);
  const items = [...loaded.items];
  if (opts.query?.length) items.push(...(await placeQueries(opts.query, loaded.settings, opts)));
  const metric = opts.metric ?? loaded.metric;
  if (items.length < 2) throw new FacekitError('usage', `nothing to plot: ${items.length} face${items.length === 1 ? '' : 's'}`, typeof source === 'string' ? source : undefined);
  // project what the metric compares: unit vectors for cosine and euclidean_l2
  const x = matrixFrom(items.map((it) => (metric === 'euclidean' ? it.vector : l2normalize(it.vector))));
  const started = Date.now();
  let xy: [number, number][];
  let how: string;
  let axes: [string, string];
  if (method === 'pca') {
    const p = pca(x, 2);
    xy = points2d(p.coords.cols === 2 ? p.coords : { rows: p.coords.rows, cols: 2, data: Float64Array.from({ length: p.coords.rows * 2 }, (_, i) => (i % 2 === 0 ? p.coords.data[i / 2]! : 0)) });
    how = 'PCA';
    axes = [`principal component 1 (${pctOf(p.explained[0])} of the variance)`, `principal component 2 (${pctOf(p.explained[1])} of the variance)`];
  } else {
    const perplexity = opts.perplexity ?? defaultPerplexity(items.length);
    const iterations = opts.iterations ?? 1000;
    const seed = opts.seed ?? 1;
    checkPerplexity(perplexity, items.length);
    const r = tsne(x, { perplexity, iterations, seed, algorithm: opts.algorithm ?? 'auto', onIteration: opts.onIteration });
    xy = points2d(r.coords);
    how = `${r.algorithm === 'exact' ? 'exact' : 'Barnes-Hut'} t-SNE, perplexity ${round(perplexity, 2)}, ${iterations} iterations, seed ${seed}${r.pcaDims ? `, PCA to ${r.pcaDims}-d first` : ''}`;
    axes = ['t-SNE 1  (the axes have no units: nearby points are faces the model finds alike)', 't-SNE 2'];
  }
  const points = items.map((it, i) => ({
    x: round(xy[i]![0], 5), y: round(xy[i]![1], 5), label: it.label, image: it.image, face: it.face ?? null, query: it.query,
  }));
  return { method, projection: how, axes, metric, model: loaded.settings.model, points, sourceCount: loaded.items.length, seconds: (Date.now() - started) / 1000 };
}

/** The projection as a scatter plot (SVG): one colour per person, queries marked as unknown. */
export function scatterPlot(p: Projection, o: { title?: string; labels?: boolean; unknownLabel?: string } = {}): string {
  const UNLABELLED = '(no label)';
  const people = new Set(p.points.filter((it) => !it.query).map((it) => it.label)).size;
  const queries = p.points.length - p.sourceCount;
  // whole pictures (an image recognizer) are of categories, not faces of people
  const image = subjectOf(p.model) === 'image';
  const [what, one, many] = image ? ['pictures', 'category', 'categories'] : ['faces', 'person', 'people'];
  const title = o.title ?? `${p.method === 'pca' ? 'PCA' : 't-SNE'} of ${p.sourceCount} ${what} of ${people} ${people === 1 ? one : many}` +
    (queries ? ` and ${queries} unknown` : '');
  const scatter: ScatterPoint[] = p.points.map((it) => ({
    x: it.x, y: it.y, group: it.query ? null : (it.label ?? UNLABELLED),
    text: it.query ? basename(it.image) : displayName(it.label ?? UNLABELLED),
  }));
  return scatterSvg(scatter, {
    title, subtitle: `${p.model} embeddings, ${p.metric} · ${p.projection}`,
    xLabel: image ? p.axes[0].replace('faces the model', 'pictures the model') : p.axes[0], yLabel: p.axes[1], labels: o.labels ?? false,
    unknownLabel: o.unknownLabel ?? 'unknown', groupsName: many,
  });
}

function folderSettings(opts: ProjectOptions): EmbedSettings {
  const s = subjectSettings(opts);
  return { model: s.model, flip: s.flip, skipDetect: opts.skipDetect ?? false, detector: s.detector, minScore: opts.minScore ?? 0.5 };
}

function given(points: EmbeddingPoint[], opts: ProjectOptions): Loaded {
  return { items: points.map((p) => ({ ...p, face: p.face ?? null, query: false })), settings: folderSettings(opts), metric: DEFAULT_METRIC };
}

async function loadSource(source: string, opts: ProjectOptions): Promise<Loaded> {
  if (isDbUrl(source) || isMemoryLocation(source)) return fromGallery(source, opts);
  let st;
  try {
    st = statSync(source);
  } catch (err) {
    throw fsError(err, source);
  }
  if (st.isDirectory()) return loadFolder(source, opts);
  const ext = extname(source).toLowerCase();
  let text: string;
  try {
    text = (await readRegularFile(source)).toString('utf8');
  } catch (err) {
    throw err instanceof FacekitError ? err : fsError(err, source);
  }
  if (ext === '.json' && /"format"\s*:\s*"facekit-gallery"/.test(text.slice(0, 4096))) return fromGallery(source, opts);
  if (!['.ndjson', '.jsonl', '.json'].includes(ext)) {
    throw new FacekitError('usage', 'expected a gallery (.json), records (.ndjson / .jsonl) or a folder of people', source);
  }
  return fromRecordsText(text, source, opts);
}

/** A gallery (any store) as the points to plot. */
async function fromGallery(source: string, opts: ProjectOptions): Promise<Loaded> {
  const g = await openBackend(source);
  try {
    const items: Loaded['items'] = [];
    for await (const b of g.rows()) {
      b.entries.forEach((e, i) => items.push({ vector: b.vectors.subarray(i * g.meta.dim, (i + 1) * g.meta.dim), label: e.label, image: e.image, face: e.face, query: false }));
    }
    if (items.length === 0) throw new FacekitError('bad_gallery', 'gallery is empty', source);
    const m = g.meta;
    if (!isRecognizerId(m.model)) throw new FacekitError('model_mismatch', `gallery model "${m.model}" is unknown to this facekit`, source);
    return { items, settings: { ...folderSettings(opts), model: m.model, flip: m.flip, detector: isDetectorId(m.detector) ? m.detector : opts.detector ?? DEFAULT_DETECTOR }, metric: m.metric };
  } finally {
    await g.close();
  }
}

function fromRecordsText(text: string, source: string, opts: ProjectOptions): Loaded {
  const items: Loaded['items'] = [];
  let skipped = 0;
  let model: string | undefined;
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${source} line ${i + 1}`;
    const r = parseRecord(line, where);
    if (r.error) {
      skipped++;
      return;
    }
    if (!r.embedding) throw new FacekitError('missing_key', 'record has no "embedding" (run `facekit represent` first)', where);
    if (model === undefined) model = r.embedding.model;
    else if (r.embedding.model !== model) {
      throw new FacekitError('model_mismatch', `record holds a ${r.embedding.model} embedding, earlier ones ${model}: a plot can only compare one model's`, where);
    }
    items.push({ vector: r.embedding.vector, label: r.label ?? null, image: r.image, face: r.face, query: false });
  });
  if (items.length === 0) {
    throw new FacekitError('usage', `no records with an embedding${skipped ? ` (only ${skipped} error record${skipped === 1 ? '' : 's'}: faces not found)` : ''}`, source);
  }
  if (skipped) opts.onWarn?.(`${source}: ${skipped} error records (faces not found) left out`);
  if (model === undefined || !isRecognizerId(model)) throw new FacekitError('model_mismatch', `embedding model "${model}" is unknown to this facekit`, source);
  return { items, settings: { ...folderSettings(opts), model }, metric: DEFAULT_METRIC };
}

async function embed(images: string[], settings: EmbedSettings, opts: ProjectOptions, progress: boolean) {
  const engine = opts.engine ?? sharedEngine();
  const session = engine.session(images.length, opts.signal);
  try {
    return await embedImages(images, settings, {
      cache: opts.cache === undefined ? defaultCacheDir() : opts.cache, session, maxPixels: engine.maxPixels, onWarn: opts.onWarn,
      ...(progress ? { onProgress: (done: number, total: number) => opts.onProgress?.({ done, total }) } : {}),
    });
  } finally {
    await session.close();
  }
}

async function loadFolder(dir: string, opts: ProjectOptions): Promise<Loaded> {
  const images = await listImages(dir);
  if (images.length === 0) throw new FacekitError('no_images', 'folder holds no images (.jpg, .png, .webp, .tif, .gif, .avif)', dir);
  const settings = folderSettings(opts);
  const { results } = await embed(images, settings, opts, true);
  const items: Loaded['items'] = [];
  let failed = 0;
  for (const img of images) {
    const r = results.get(img)!;
    if (!r.vector) {
      failed++;
      if (failed <= 5) opts.onWarn?.(`${img}: ${r.error?.message ?? 'no embedding'}; left out`);
      continue;
    }
    items.push({ vector: r.vector, label: personOf(dir, img) ?? null, image: img, face: 0, query: false });
  }
  if (failed > 5) opts.onWarn?.(`${dir}: ${failed} images without a face left out`);
  return { items, settings, metric: DEFAULT_METRIC };
}

async function placeQueries(queries: string[], settings: EmbedSettings, opts: ProjectOptions): Promise<Loaded['items']> {
  for (const q of queries) {
    try {
      if (statSync(q).isDirectory()) throw new FacekitError('usage', '--query takes image files, not folders', q);
    } catch (err) {
      if (err instanceof FacekitError) throw err;
      throw fsError(err, q);
    }
  }
  const { results } = await embed(queries, settings, opts, false);
  return queries.map((q) => {
    const r = results.get(q)!;
    if (!r.vector) {
      const e = r.error;
      if (!e || e.code === 'no_face') throw new FacekitError('no_face', 'no face found; a --query photo needs a face to place', q);
      throw new FacekitError(e.code, e.message, q);
    }
    if (r.faces > 1) opts.onWarn?.(`${q}: holds ${r.faces} faces; placing the largest`);
    return { vector: r.vector, label: null, image: q, face: 0, query: true };
  });
}
