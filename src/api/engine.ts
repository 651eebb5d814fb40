/**
 * The engine behind every entry point: the backend, the worker threads, and the calls that run the
 * pipeline (detect, represent, verify, batches). The command line, the server and library users
 * all go through a `Facekit`; the module functions in src/index.ts use a shared default one.
 */
import { FacekitError } from '../core/errors.js';
import { DEFAULT_MAX_PIXELS } from '../core/image.js';
import type { FaceRecord } from '../core/records.js';
import type { DetectorId, Metric, RecognizerId } from '../models/catalogue.js';
import type { AgeGenderModelId, AnalysisAction, EmotionModelId, SpoofModelId } from '../models/analyzers/index.js';
import { chooseBackend, initBackend, type BackendChoice } from '../models/runtime.js';
import { buildPlan, type PipelinePlan, type PlanChoice, type StageName } from '../pipeline/plan.js';
import { defaultWorkers, runJobs, WorkerPool, type BatchOptions, type ImageJob } from '../pipeline/pool.js';
import { runRecords } from '../pipeline/run.js';
import { decideThreshold, parseMetric } from '../recognition/policy.js';
import { round4 } from '../recognition/identify.js';
import { similarity, verifyPair } from '../stages/verification.js';
import { toJob, type ImageInput } from './images.js';

export interface FacekitOptions {
  /** tfjs backend: `auto` (native TensorFlow when installed, else WASM), `wasm`, `cpu`, `tensorflow`, `gpu` */
  backend?: BackendChoice;
  /** worker threads for batches (default: one per core) */
  workers?: number;
  /** refuse images larger than this many pixels */
  maxPixels?: number;
}

export interface DetectOptions {
  detector?: DetectorId;
  /** lowest detector confidence kept (0..1) */
  minScore?: number;
  maxFaces?: number;
  /** keep the detector's full landmark set in `mesh` */
  mesh?: boolean;
  /** name used for a Buffer or pixel input in records and messages */
  name?: string;
}

export interface AnalyzeOptions extends Omit<DetectOptions, 'mesh'> {
  /** which analyses to run: age, gender, emotion, spoof (default all); only their models load */
  actions?: AnalysisAction[] | string;
  /** age and gender model: faceapi (default) | ssrnet */
  ageGenderModel?: AgeGenderModelId;
  /** emotion model: faceapi (default) | human */
  emotionModel?: EmotionModelId;
  /** real-or-spoof model: minifasnet (default) | antispoof | liveness */
  spoofModel?: SpoofModelId;
  /** realness score below which a face is a spoof (default: the model's own) */
  spoofThreshold?: number;
}

export interface RepresentOptions extends Omit<DetectOptions, 'mesh'> {
  /** recognition model (default mobilefacenet) */
  model?: RecognizerId;
  /** average with the mirror image's embedding (default true) */
  flip?: boolean;
  /** the images are already aligned face crops (ArcFace 112x112 template) */
  skipDetect?: boolean;
  /** refuse faces the anti-spoofing model judges not real (a `spoof` error), as deepface's anti_spoofing */
  antiSpoof?: boolean;
}

export interface VerifyOptions extends RepresentOptions {
  metric?: Metric;
  /** largest distance that counts as the same person (default: calibrated per model and metric) */
  threshold?: number;
  /** names for Buffer or pixel inputs */
  names?: [string, string];
}

export interface VerifyResult {
  image1: string;
  image2: string;
  verified: boolean;
  distance: number;
  threshold: number;
  metric: Metric;
  model: string;
  /** 1 - cosine distance, clamped to 0..1 */
  similarity: number;
  /** the face compared in each image (the largest) */
  faces: [FaceRecord, FaceRecord];
  /** things the caller should know: a crowded photo, a threshold far looser than calibrated */
  warnings: string[];
}

export interface RunCallbacks {
  onResult: BatchOptions['onResult'];
  onCrash?: BatchOptions['onCrash'];
  shouldStop?: BatchOptions['shouldStop'];
}

export class Facekit implements AsyncDisposable {
  readonly backend: BackendChoice;
  readonly workers: number;
  readonly maxPixels: number;
  private pool: WorkerPool | undefined;
  private closed = false;

  constructor(opts: FacekitOptions = {}) {
    this.backend = opts.backend ?? 'auto';
    this.workers = opts.workers ?? defaultWorkers();
    this.maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new FacekitError('usage', `workers must be a whole number of at least 1, got ${this.workers}`);
    if (!Number.isInteger(this.maxPixels) || this.maxPixels < 1) throw new FacekitError('usage', `maxPixels must be a whole number of at least 1, got ${this.maxPixels}`);
    // Records the choice; the backend starts where the models first run. A missing native
    // backend asked for by name fails here, at once.
    chooseBackend(this.backend);
  }

  /** A checked plan with this engine's pixel limit. */
  plan(choice: PlanChoice): PipelinePlan {
    return buildPlan({ maxPixels: this.maxPixels, ...choice });
  }

  /** Start the backend in this thread now and name it (the server reports it before any request). */
  async startBackend(): Promise<string> {
    try {
      return await initBackend(this.backend);
    } catch (err) {
      if (err instanceof FacekitError) throw err;
      throw new FacekitError('backend', `cannot start the ${this.backend} backend: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * Run many images through `plan`'s stages on `workers` threads, results in input order. One
   * image (or one worker) runs in this thread, with no thread start-up.
   */
  async runImages(jobs: ImageJob[], cb: RunCallbacks): Promise<void> {
    this.assertOpen();
    await runJobs(jobs, { workers: this.workers, backend: this.backend, ...cb });
  }

  /** Carry records of one image from stage `from` up to `plan.upTo`, in this thread. */
  runRecords(records: FaceRecord[], plan: PipelinePlan, from: StageName): Promise<FaceRecord[]> {
    this.assertOpen();
    return runRecords(records, plan, from);
  }

  /** A pool of warm worker threads that lives until close() (the server's). */
  workerPool(onCrash?: (job: ImageJob, stack: string) => void): WorkerPool {
    this.assertOpen();
    this.pool ??= new WorkerPool(this.workers, this.backend, onCrash);
    return this.pool;
  }

  /** One image through the stages, in this thread; an image that cannot be read throws. */
  private async one(image: ImageInput, plan: PipelinePlan, name?: string): Promise<FaceRecord[]> {
    this.assertOpen();
    let out: FaceRecord[] = [];
    await runJobs([toJob(image, plan, name)], { workers: 1, backend: this.backend, onResult: (_j, r) => { out = r; } });
    const failed = out.find((r) => r.face === null && r.error);
    if (failed?.error) {
      if (failed.error.code === 'no_face') return [];
      throw new FacekitError(failed.error.code, failed.error.message, failed.image);
    }
    return out;
  }

  /** The faces in an image, largest first: box, score, landmarks (the records `facekit detect` prints). */
  detect(image: ImageInput, opts: DetectOptions = {}): Promise<FaceRecord[]> {
    const { name, ...choice } = opts;
    return this.one(image, this.plan({ ...choice, upTo: 'detect' }), name);
  }

  /** Each face's embedding (the records `facekit represent` prints); [] when there is no face. */
  represent(image: ImageInput, opts: RepresentOptions = {}): Promise<FaceRecord[]> {
    const { name, antiSpoof, ...choice } = opts;
    return this.one(image, this.plan({ ...choice, upTo: 'represent', refuseSpoofs: antiSpoof ?? false }), name);
  }

  /**
   * Each face's age, gender, emotion and real-or-spoof verdict: the detect records with an
   * `analysis` key (the records `facekit analyze` prints); [] when there is no face.
   */
  async analyze(image: ImageInput, opts: AnalyzeOptions = {}): Promise<FaceRecord[]> {
    return this.one(image, this.analyzePlan(opts), opts.name);
  }

  /** The plan `analyze` runs (the CLI and the server build theirs here too). */
  analyzePlan(opts: AnalyzeOptions): PipelinePlan {
    const { actions, ageGenderModel, emotionModel, spoofModel, spoofThreshold, name, ...choice } = opts;
    void name; // names a Buffer input's records; no part of the plan
    return this.plan({ ...choice, upTo: 'detect', analysis: { actions, ageGenderModel, emotionModel, spoofModel, spoofThreshold } });
  }

  /**
   * Are these the same person? The largest face of each image, compared under the model's
   * calibrated threshold (or `threshold`). Throws `no_face` when an image has no face.
   */
  async verify(image1: ImageInput, image2: ImageInput, opts: VerifyOptions = {}): Promise<VerifyResult> {
    const { names, metric: metricChoice, threshold: chosen, antiSpoof, ...choice } = opts;
    const plan = this.plan({ ...choice, upTo: 'represent', largestOnly: true, refuseSpoofs: antiSpoof ?? false });
    const metric = parseMetric(metricChoice);
    const decision = decideThreshold(plan.model, metric, chosen);
    const warnings = decision.warning ? [decision.warning] : [];
    const faces: FaceRecord[] = [];
    for (const [i, image] of [image1, image2].entries()) {
      const records = await this.one(image, plan, names?.[i]);
      const face = records.find((r) => r.embedding && !r.error);
      if (!face) {
        const err = records.find((r) => r.error)?.error;
        throw new FacekitError(err?.code ?? 'no_face', err?.message ?? 'no face found', records[0]?.image ?? toJob(image, plan, names?.[i]).image);
      }
      if (records.some((r) => r.face !== null && r.face > 0 && !r.error)) warnings.push(`${face.image}: holds more than one face; comparing the largest`);
      faces.push(face);
    }
    const [a, b] = faces as [FaceRecord, FaceRecord];
    const v = verifyPair(a.embedding!.vector, b.embedding!.vector, metric, decision.threshold);
    return {
      image1: a.image, image2: b.image, verified: v.same, distance: round4(v.distance), threshold: decision.threshold, metric,
      model: plan.model, similarity: round4(similarity(a.embedding!.vector, b.embedding!.vector)), faces: [a, b], warnings,
    };
  }

  /** Stop the worker threads this engine started. Models loaded in this thread stay until exit. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new FacekitError('usage', 'this Facekit was closed');
  }
}
