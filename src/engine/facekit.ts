/**
 * The engine: a backend, worker threads, and the verbs that run the pipeline: detect, extract
 * (align + normalize), represent, analyze, verify, each for one image or as a stream of many.
 * The command line, the server and library users all call these; the module functions of
 * src/index.ts use a shared default engine. The gallery verbs (Gallery, buildGallery) and the
 * evaluation verbs (evaluate, project) run on an engine too.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FacekitError } from '../core/errors.js';
import { sharp } from '../core/sharp.js';
import { DEFAULT_MAX_PIXELS } from '../core/image.js';
import type { FaceRecord } from '../core/records.js';
import { chooseBackend, initBackend, packageDir, type BackendChoice } from '../models/runtime.js';
import type { PipelinePlan, StageName } from '../pipeline/plan.js';
import { batchSession, defaultWorkers, POOL_MIN_IMAGES, WorkerPool, type ImageJob, type JobSession } from '../pipeline/pool.js';
import { peekShort } from '../pipeline/ordered.js';
import { ModelQueue, type QueueStats } from '../pipeline/queue.js';
import { prepareDirs } from '../pipeline/run.js';
import { decideThreshold, parseMetric } from '../recognition/policy.js';
import { round4 } from '../recognition/identify.js';
import { similarity, verifyPair } from '../stages/verification.js';
import { checkHeadModel, headRecognizer, headTag, openHead, projectRecord, requireProjection } from './heads.js';
import { imageName, type ImageInput } from './images.js';
import { pairDistance, pairDistanceThreshold, type Head } from '../training/head-file.js';
import {
  analyzePlan, detectPlan, extractPlan, imageError, representPlan,
  type AnalyzeOptions, type DetectOptions, type ExtractOptions, type FacekitOptions, type RepresentOptions, type RunOptions, type VerifyOptions, type VerifyResult,
} from './options.js';
import { writePreview } from './preview.js';
import { runItems, type StreamItem } from './stream.js';

/** How busy a warm engine is (a server's /health), and how long a refused caller should wait. */
export interface EngineLoad extends QueueStats {
  retryAfter: number;
}

export class Facekit implements AsyncDisposable {
  readonly backend: BackendChoice;
  readonly workers: number;
  readonly maxPixels: number;
  private readonly warm: { pool: WorkerPool; queue: ModelQueue } | undefined;
  private readonly models = new Set<string>();
  private closed = false;

  constructor(private readonly opts: FacekitOptions = {}) {
    this.backend = opts.backend ?? 'auto';
    this.workers = opts.workers ?? defaultWorkers();
    this.maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new FacekitError('usage', `workers must be a whole number of at least 1, got ${this.workers}`);
    if (!Number.isInteger(this.maxPixels) || this.maxPixels < 1) throw new FacekitError('usage', `maxPixels must be a whole number of at least 1, got ${this.maxPixels}`);
    // Records the choice; the backend starts where the models first run. A missing native
    // backend asked for by name fails here, at once.
    chooseBackend(this.backend);
    if (opts.warm) {
      const pool = new WorkerPool(this.workers, this.backend, (job, stack) => opts.onWorkerCrash?.(job.image, stack));
      this.warm = { pool, queue: new ModelQueue(pool, opts.queue ?? Number.MAX_SAFE_INTEGER) };
    }
  }

  /* ---------------------------------------------------------------- one image */

  /** The faces in an image, largest first: box, score, landmarks (the records `facekit detect` prints); [] when none. */
  async detect(image: ImageInput, opts: DetectOptions & RunOptions = {}): Promise<FaceRecord[]> {
    return this.one(image, detectPlan(opts, this.maxPixels), 'detect', opts);
  }

  /**
   * Each face aligned to the model's template (a PNG) and, unless `upTo: 'align'`, normalized into
   * its input tensor (.npy): the records `facekit align` / `facekit normalize` print. Given the
   * records of the stage before (detect records, or align records), carries them one stage on.
   */
  async extract(input: ImageInput | FaceRecord[], opts: ExtractOptions & RunOptions = {}): Promise<FaceRecord[]> {
    const plan = extractPlan(opts, this.maxPixels);
    if (Array.isArray(input)) return this.collect(this.extractEach(input, opts));
    // as extractEach: the output folders are made first, and previews written
    await prepareDirs(plan);
    const out = await this.one(input, plan, plan.upTo, opts);
    if (opts.previewDir) for (const r of out) if (r.normalized && !r.error) await writePreview(r, opts.previewDir);
    return out;
  }

  /** Each face's embedding (the records `facekit represent` prints); [] when there is no face. */
  async represent(image: ImageInput, opts: RepresentOptions & RunOptions = {}): Promise<FaceRecord[]> {
    if (opts.head === undefined) return this.one(image, representPlan(opts, this.maxPixels), 'represent', opts);
    const { plan, head } = await this.projectionPlan(opts.head, opts);
    return (await this.one(image, plan, 'represent', opts)).map((r) => projectRecord(r, head));
  }

  /**
   * `--head` on represent: a projection head, checked against the model asked for (none: the
   * head's own), and the plan that embeds with the head's recognizer.
   */
  private async projectionPlan(dir: string | Head, opts: RepresentOptions): Promise<{ plan: PipelinePlan; head: Head }> {
    const head = await openHead(dir);
    const model = headRecognizer(head);
    requireProjection(head, 'represent');
    if (opts.model !== undefined) checkHeadModel(head, opts.model);
    return { plan: representPlan({ ...opts, model }, this.maxPixels), head };
  }

  /**
   * Each face's age, gender, emotion and real-or-spoof verdict: the detect records with an
   * `analysis` key (the records `facekit analyze` prints); [] when there is no face.
   */
  async analyze(image: ImageInput, opts: AnalyzeOptions & RunOptions = {}): Promise<FaceRecord[]> {
    return this.one(image, analyzePlan(opts, this.maxPixels), 'detect', opts);
  }

  /**
   * Are these the same person? The largest face of each image, compared under the model's
   * calibrated threshold (or `threshold`). Throws `no_face` naming the image that has none.
   */
  async verify(image1: ImageInput, image2: ImageInput, opts: VerifyOptions & RunOptions = {}): Promise<VerifyResult> {
    const { names, metric: metricChoice, threshold: chosen, head: headChoice, ...rest } = opts;
    const head = headChoice === undefined ? undefined : await openHead(headChoice);
    if (head && rest.model !== undefined) checkHeadModel(head, rest.model);
    const plan = representPlan({ ...rest, ...(head ? { model: headRecognizer(head) } : {}), largestOnly: true }, this.maxPixels);
    const metric = parseMetric(metricChoice);
    // a head decides with its own distance and the threshold chosen when it was trained
    const decision = head ? { threshold: chosen ?? round4(pairDistanceThreshold(head)) } : decideThreshold(plan.model, metric, chosen);
    const warnings = 'warning' in decision && decision.warning ? [decision.warning] : [];
    const faces: FaceRecord[] = [];
    const found: number[] = [];
    const items = [image1, image2].map((image, i) => ({ image, ...(names?.[i] !== undefined ? { name: names[i] } : {}) }));
    let i = 0;
    for await (const records of this.stream(items, plan, 'represent', true, opts)) {
      const which = i++ === 0 ? 'first' : 'second';
      const name = records[0]?.image ?? imageName(items[i - 1]!.image, items[i - 1]!.name);
      const face = records.find((r) => r.embedding && !r.error);
      if (!face) {
        const err = imageError(records) ?? records.find((r) => r.error)?.error ?? { code: 'no_face', message: 'no face found' };
        throw new FacekitError(err.code, `${err.message} (the ${which} image)`, name);
      }
      if (records.some((r) => r.face !== null && r.face > 0 && !r.error)) warnings.push(`${face.image}: holds more than one face; comparing the largest`);
      faces.push(face);
      found.push(records.filter((r) => r.face !== null && !r.error).length);
    }
    const [a, b] = faces as [FaceRecord, FaceRecord];
    const d = head ? pairDistance(head, a.embedding!.vector, b.embedding!.vector) : undefined;
    const v = d !== undefined ? { distance: d, same: d <= decision.threshold } : verifyPair(a.embedding!.vector, b.embedding!.vector, metric, decision.threshold);
    return {
      image1: a.image, image2: b.image, verified: v.same, distance: round4(v.distance), threshold: decision.threshold,
      metric: head ? (head.kind === 'siamese' ? 'siamese' : 'cosine') : metric,
      model: plan.model, similarity: round4(similarity(a.embedding!.vector, b.embedding!.vector)), faces: [a, b],
      facesFound: [found[0]!, found[1]!], warnings, ...(head ? { head: headTag(head) } : {}),
    };
  }

  /* ---------------------------------------------------------------- many images, as streams */

  /** Detect records of many images, in input order; an image that fails is an error record and the stream goes on. */
  detectEach(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, opts: DetectOptions & RunOptions = {}): AsyncGenerator<FaceRecord> {
    return this.flat(this.stream(items, detectPlan(opts, this.maxPixels), 'detect', false, opts));
  }

  /** Align (and normalize) many images, or carry the records of the stage before one stage on. */
  async *extractEach(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, opts: ExtractOptions & RunOptions = {}): AsyncGenerator<FaceRecord> {
    const plan = extractPlan(opts, this.maxPixels);
    await prepareDirs(plan);
    for await (const r of this.flat(this.stream(items, plan, plan.upTo, true, opts))) {
      if (opts.previewDir && r.normalized && !r.error) await writePreview(r, opts.previewDir);
      yield r;
    }
  }

  /** Embeddings of many images, or of normalize records, in input order. */
  representEach(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, opts: RepresentOptions & RunOptions = {}): AsyncGenerator<FaceRecord> {
    if (opts.head === undefined) return this.flat(this.stream(items, representPlan(opts, this.maxPixels), 'represent', true, opts));
    return this.flat(this.projectedBatch(items, opts.head, opts));
  }

  /** Analyses of many images, or of detect records, in input order. */
  analyzeEach(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, opts: AnalyzeOptions & RunOptions = {}): AsyncGenerator<FaceRecord> {
    return this.flat(this.stream(items, analyzePlan(opts, this.maxPixels), 'detect', true, opts));
  }

  /**
   * Each image's records as one array, in input order: a batch API's view (an image that failed is
   * one error record; no face is a `no_face` error record with the image's size).
   */
  batch(verb: 'detect', items: StreamItem[] | AsyncIterable<StreamItem>, opts?: DetectOptions & RunOptions): AsyncGenerator<FaceRecord[]>;
  batch(verb: 'represent', items: StreamItem[] | AsyncIterable<StreamItem>, opts?: RepresentOptions & RunOptions): AsyncGenerator<FaceRecord[]>;
  batch(verb: 'analyze', items: StreamItem[] | AsyncIterable<StreamItem>, opts?: AnalyzeOptions & RunOptions): AsyncGenerator<FaceRecord[]>;
  batch(verb: 'detect' | 'represent' | 'analyze', items: StreamItem[] | AsyncIterable<StreamItem>, opts: (DetectOptions & RepresentOptions & AnalyzeOptions & RunOptions) = {}): AsyncGenerator<FaceRecord[]> {
    if (verb === 'represent' && opts.head !== undefined) return this.projectedBatch(items, opts.head, opts);
    const plan = verb === 'detect' ? detectPlan(opts, this.maxPixels) : verb === 'represent' ? representPlan(opts, this.maxPixels) : analyzePlan(opts, this.maxPixels);
    return this.stream(items, plan, verb === 'represent' ? 'represent' : 'detect', verb !== 'detect', opts);
  }

  /** Each image's records, their embeddings projected by a projection head. */
  private async *projectedBatch(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, dir: string | Head, opts: RepresentOptions & RunOptions): AsyncGenerator<FaceRecord[]> {
    const { plan, head } = await this.projectionPlan(dir, opts);
    for await (const records of this.stream(items, plan, 'represent', true, opts)) yield records.map((r) => projectRecord(r, head));
  }

  /* ---------------------------------------------------------------- the engine itself */

  /** Start the backend in this thread now and name it (a server reports it before any request). */
  async startBackend(): Promise<string> {
    try {
      return await initBackend(this.backend);
    } catch (err) {
      if (err instanceof FacekitError) throw err;
      throw new FacekitError('backend', `cannot start the ${this.backend} backend: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * Load the models of the embedding `opts` describe in every warm worker before the first call:
   * one photo with faces per worker, all at once, so that each runs every stage. Throws when the
   * workers cannot run them.
   */
  async warmUp(opts: RepresentOptions = {}): Promise<void> {
    if (!this.warm) return;
    const plan = representPlan(opts, this.maxPixels);
    const photo = await samplePhoto();
    const jobs: ImageJob[] = Array.from({ length: this.warm.pool.size }, () => ({ image: 'warm-up', plan, bytes: photo }));
    const results = await Promise.all(jobs.map((j) => this.warm!.pool.run(j)));
    for (const records of results) {
      const broken = records.find((r) => r.error && (r.error.code === 'backend' || r.error.code === 'internal'));
      if (broken) throw new FacekitError('backend', `the workers cannot run the models: ${broken.error!.message}`);
      this.note(plan, records);
    }
  }

  /** A warm engine's load: workers, jobs running and waiting, seconds per image, and how long a refused caller should wait. */
  load(): EngineLoad {
    const stats = this.warm?.queue.stats() ?? { workers: this.workers, running: 0, waiting: 0, maxWaiting: 0, secondsPerImage: 0 };
    return { ...stats, retryAfter: this.warm?.queue.retryAfter() ?? 1 };
  }

  /** Whether a warm engine's queue takes `n` more images now (a server refuses a request before reading it). */
  accepts(n = 1): boolean {
    return this.warm?.queue.canTake(n) ?? true;
  }

  /** Catalogue ids of the detectors and recognizers this engine's calls have run. */
  loadedModels(): string[] {
    return [...this.models];
  }

  /** Stop the worker threads this engine started. Models loaded in this thread stay until exit. */
  async close(): Promise<void> {
    this.closed = true;
    await this.warm?.queue.idle();
    await this.warm?.pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /* ---------------------------------------------------------------- how calls run */

  /**
   * @internal
   * Where a call's images run: a warm engine's queue (admitted as the call's signal allows), else
   * this thread for one image, or `workers` threads of the call's own.
   */
  session(expected?: number, signal?: AbortSignal): JobSession {
    if (this.closed) throw new FacekitError('usage', 'this Facekit was closed');
    if (this.warm) {
      const { queue, pool } = this.warm;
      return { parallel: pool.size, together: true, submit: (jobs) => queue.submit(jobs, signal), close: async () => undefined };
    }
    return batchSession({
      workers: this.workers, backend: this.backend, expected,
      onCrash: (job, stack) => this.opts.onWorkerCrash?.(job.image, stack),
    });
  }

  /** @internal Each image's records (or each group of records carried on), in input order. */
  async *stream(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, plan: PipelinePlan, stage: StageName, records: boolean, opts: RunOptions = {}): AsyncGenerator<FaceRecord[]> {
    let expected = Array.isArray(items) ? items.filter((x) => !isRecordLike(x)).length : undefined;
    if (expected === undefined && !this.warm && this.workers > 1) {
      // a stream of a few photos (a command given one) runs here: workers would load the models again
      const peeked = await peekShort(items, POOL_MIN_IMAGES, SHORT_STREAM_WAIT_MS);
      expected = peeked.count;
      items = peeked.rest;
    }
    const session = this.session(expected, opts.signal);
    try {
      yield* runItems(items, plan, stage, {
        session, records, signal: opts.signal, onProgress: opts.onProgress, onImage: (r) => this.note(plan, r),
      });
    } finally {
      await session.close();
    }
  }

  private async *flat(groups: AsyncIterable<FaceRecord[]>): AsyncGenerator<FaceRecord> {
    for await (const g of groups) yield* g;
  }

  private async collect(records: AsyncIterable<FaceRecord>): Promise<FaceRecord[]> {
    const out: FaceRecord[] = [];
    for await (const r of records) out.push(r);
    return out;
  }

  /** One image through a plan; an image that cannot be read throws; no face is []. */
  private async one(image: ImageInput, plan: PipelinePlan, stage: StageName, opts: DetectOptions & RunOptions): Promise<FaceRecord[]> {
    let out: FaceRecord[] = [];
    const item = opts.name !== undefined ? { image, name: opts.name } : image;
    for await (const records of this.stream([item], plan, stage, true, opts)) out = records;
    // the image as a whole failed (unreadable, not an image, no face); a face refused (a spoof) stays a record
    const failed = out.find((r) => r.face === null && r.error)?.error;
    if (failed) {
      if (failed.code === 'no_face') return [];
      throw new FacekitError(failed.code, failed.message, out[0]?.image ?? imageName(image, opts.name));
    }
    return out;
  }

  /** Remember which models ran, from an image's records. */
  private note(plan: PipelinePlan, records: FaceRecord[]): void {
    if (records.some((r) => r.detector === plan.detector)) this.models.add(plan.detector);
    if (records.some((r) => r.embedding)) this.models.add(plan.model);
  }
}

/** How long after its first item a stream may take to end and still count as a few photos. */
const SHORT_STREAM_WAIT_MS = 300;

const isRecordLike = (x: unknown): boolean => typeof x === 'object' && x !== null && 'schema' in x;

/** A photo with faces to warm the models up on: face-api's demo photo, or a grey square without it. */
async function samplePhoto(): Promise<Uint8Array> {
  try {
    return await readFile(join(packageDir('@vladmandic/face-api'), 'demo', 'sample1.jpg'));
  } catch {
    return sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toBuffer();
  }
}

