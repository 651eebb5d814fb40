/**
 * What each verb takes, and the one place where a verb's options become a pipeline plan (checked
 * by buildPlan): the command line, the server and library users all pass through here.
 */
import type { ErrorCode } from '../core/errors.js';
import type { FaceRecord } from '../core/records.js';
import type { DetectorId, Metric, RecognizerId, SchemeId, Subject } from '../models/catalogue.js';
import type { AgeGenderModelId, AnalysisAction, EmotionModelId, SpoofModelId } from '../models/analyzers/index.js';
import type { BackendChoice } from '../models/runtime.js';
import type { Head } from '../training/index.js';
import { buildPlan, type PipelinePlan } from '../pipeline/plan.js';

export interface FacekitOptions {
  /** tfjs backend: `auto` (native TensorFlow when installed, else WASM), `wasm`, `cpu`, `tensorflow`, `gpu` */
  backend?: BackendChoice;
  /** worker threads for batches (default: one per core) */
  workers?: number;
  /** refuse images larger than this many pixels */
  maxPixels?: number;
  /**
   * Start the worker threads once and run every call in them, kept warm until close(): a server's
   * engine, whose event loop never runs a model. Default: one image runs in this thread, a batch
   * on `workers` threads of its own.
   */
  warm?: boolean;
  /** warm engines: images that may wait for a worker; beyond, a call fails at once (`overloaded`) */
  queue?: number;
  /** hears of bugs inside a worker thread (the image still gets an error record) */
  onWorkerCrash?: (image: string, stack: string) => void;
}

/** Progress of a long verb: images (or faces) done, out of how many when known. */
export interface Progress {
  done: number;
  total?: number;
}

/** What every long verb takes. */
export interface RunOptions {
  /** stops the work: no new image starts; the verb then rejects with the signal's reason (buildGallery resolves with `stopped`) */
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface DetectOptions {
  /** `face` (default: detect, align) or `image`: the whole image is the subject (detector `none`, an image recognizer) */
  subject?: Subject;
  detector?: DetectorId;
  /** lowest detector confidence kept (0..1) */
  minScore?: number;
  maxFaces?: number;
  /** keep the detector's full landmark set in `mesh` */
  mesh?: boolean;
  /** name used for a Buffer or pixel input in records and messages */
  name?: string;
  /** draw boxes and landmarks onto a copy of the image: its path (.jpg, .png, .webp) */
  annotate?: string;
  /** write each face's crop (PNG) into this folder; records get `crop` */
  cropsDir?: string;
  /** margin around the box for crops, as a share of its size (default 0.2) */
  cropMargin?: number;
}

export interface ExtractOptions extends Omit<DetectOptions, 'mesh' | 'annotate' | 'cropsDir' | 'cropMargin'> {
  /** align only, or align and normalize (default) */
  upTo?: 'align' | 'normalize';
  /** the recognition model whose template and input scaling to prepare (default mobilefacenet) */
  model?: RecognizerId;
  /** where aligned crops (PNG) go (default facekit-out/aligned when aligning is the last stage; else none: the crop stays in memory) */
  alignDir?: string;
  /** where normalized tensors (.npy) go (default facekit-out/normalized) */
  normDir?: string;
  /** false: crop the detector box only, without rotation */
  rotate?: boolean;
  /** pixel scaling (default: the model's own) */
  scheme?: SchemeId;
  /** also write a viewable PNG of each normalized tensor and of each channel into this folder */
  previewDir?: string;
  /** the images are already aligned face crops (ArcFace 112x112 template) */
  skipDetect?: boolean;
}

export interface RepresentOptions extends Omit<DetectOptions, 'mesh' | 'annotate' | 'cropsDir' | 'cropMargin'> {
  /** recognition model (default mobilefacenet) */
  model?: RecognizerId;
  /** average with the mirror image's embedding (default true) */
  flip?: boolean;
  /** the images are already aligned face crops (ArcFace 112x112 template) */
  skipDetect?: boolean;
  /** refuse faces the anti-spoofing model judges not real (a `spoof` error), as deepface's anti_spoofing */
  antiSpoof?: boolean;
  /** embed tensors normalized with another scheme than the model's (experiments) */
  anyScheme?: boolean;
  /** with several faces: embed the largest only (the others stay detect records) */
  largestOnly?: boolean;
  /**
   * a head from `facekit train` (its folder, or loaded): a projection head turns each embedding
   * into its projection; verify also takes a siamese head (it scores the pair). The model is then
   * the head's recognizer.
   */
  head?: string | Head;
}

export interface AnalyzeOptions extends Omit<DetectOptions, 'mesh' | 'annotate' | 'cropsDir' | 'cropMargin'> {
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
  /** with a siamese head: 'siamese' (the distance is 1 - its probability of "same") */
  metric: Metric | 'siamese';
  model: string;
  /** the head that decided (`--head`): its kind and weights' sha256 prefix */
  head?: string;
  /** 1 - cosine distance, clamped to 0..1 */
  similarity: number;
  /** the face compared in each image (the largest) */
  faces: [FaceRecord, FaceRecord];
  /** how many faces each image holds */
  facesFound: [number, number];
  /** things the caller should know: a crowded photo, a threshold far from the calibrated one */
  warnings: string[];
}

/** Where align and normalize write when not told. */
export const DEFAULT_ALIGN_DIR = 'facekit-out/aligned';
export const DEFAULT_NORM_DIR = 'facekit-out/normalized';

const detectChoice = (o: Omit<DetectOptions, 'name'>) => ({ subject: o.subject, detector: o.detector, minScore: o.minScore, maxFaces: o.maxFaces });

export function detectPlan(o: DetectOptions, maxPixels: number): PipelinePlan {
  return buildPlan({ ...detectChoice(o), upTo: 'detect', mesh: o.mesh, maxPixels, cropsDir: o.cropsDir, cropMargin: o.cropMargin, annotatePath: o.annotate });
}

export function extractPlan(o: ExtractOptions, maxPixels: number): PipelinePlan {
  const upTo = o.upTo ?? 'normalize';
  return buildPlan({
    ...detectChoice(o), upTo, model: o.model, rotate: o.rotate, scheme: o.scheme, skipDetect: o.skipDetect, maxPixels,
    alignDir: o.alignDir ?? (upTo === 'align' ? DEFAULT_ALIGN_DIR : undefined), normDir: upTo === 'normalize' ? (o.normDir ?? DEFAULT_NORM_DIR) : undefined,
  });
}

export function representPlan(o: RepresentOptions, maxPixels: number): PipelinePlan {
  return buildPlan({
    ...detectChoice(o), upTo: 'represent', model: o.model, flip: o.flip, skipDetect: o.skipDetect, anyScheme: o.anyScheme,
    refuseSpoofs: o.antiSpoof ?? false, largestOnly: o.largestOnly, maxPixels,
  });
}

export function analyzePlan(o: AnalyzeOptions, maxPixels: number): PipelinePlan {
  const { actions, ageGenderModel, emotionModel, spoofModel, spoofThreshold } = o;
  return buildPlan({ ...detectChoice(o), upTo: 'detect', maxPixels, analysis: { actions, ageGenderModel, emotionModel, spoofModel, spoofThreshold } });
}

/** The error of an image that gave no face record, or undefined when it gave faces. */
export function imageError(records: FaceRecord[]): { code: ErrorCode; message: string } | undefined {
  if (records.some((r) => r.face !== null && !r.error)) return undefined;
  return records.find((r) => r.error)?.error ?? { code: 'no_face', message: 'no face found' };
}
