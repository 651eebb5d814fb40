/**
 * facekit as a library: the face-recognition pipeline from code. Every verb the command line and
 * the server offer is here; they only translate argv or a request into one of these calls.
 *
 *   import { detect, analyze, verify, buildGallery, Gallery, evaluate, project, close } from 'facekit';
 *   const faces = await detect('group.jpg');                  // boxes, scores, landmarks
 *   const { verified, distance } = await verify('a.jpg', 'b.jpg');
 *   await buildGallery('people/', { db: 'db/gallery.json', onProgress: console.log });
 *   const gallery = await Gallery.open('db/gallery.json');    // or pglite:DIR, postgres://..., memory:
 *   const [who] = await gallery.identify('query.jpg');        // { identity, distance, threshold, candidates }
 *   const { report } = await evaluate('lfw/pairs.txt', { images: 'lfw/images', skipDetect: true });
 *   const { points } = await project('db/gallery.json', { method: 'tsne' });
 *   await close();                                            // release the worker threads
 *
 * Importing has no side effects: no process handlers, no global fetch, no flags read. The module
 * functions share one engine, made on first use; `new Facekit({ backend, workers })` makes another.
 */
import type { FaceRecord } from './core/records.js';
import type { ImageInput } from './engine/images.js';
import type {
  AnalyzeOptions, DetectOptions, ExtractOptions, FacekitOptions, RepresentOptions, RunOptions, VerifyOptions, VerifyResult,
} from './engine/options.js';
import { closeSharedEngine, sharedEngine } from './engine/shared.js';
import type { StreamItem } from './engine/stream.js';
import { analysisModelRows, modelRows, type ModelRow } from './models/inventory.js';

/* ---------------------------------------------------------------- the engine and its verbs */
export { Facekit, type EngineLoad } from './engine/facekit.js';
export type {
  AnalyzeOptions, DetectOptions, ExtractOptions, FacekitOptions, Progress, RepresentOptions, RunOptions, VerifyOptions, VerifyResult,
} from './engine/options.js';
export { DEFAULT_ALIGN_DIR, DEFAULT_NORM_DIR } from './engine/options.js';
export type { DecodedImage, ImageInput } from './engine/images.js';
export type { Done, PhotoInput, StreamItem } from './engine/stream.js';

/* ---------------------------------------------------------------- galleries */
export { Gallery, type EmbeddingInput, type GalleryOpenOptions, type IdentifyOptions, type SimilarAnswer, type SimilarMatch, type SimilarOptions, type AddOptions, type AddResult } from './engine/gallery.js';
export { buildGallery, type BuildOptions, type BuildSummary, type GallerySource } from './engine/build-gallery.js';
export { folderGallery } from './engine/folder-gallery.js';
export type { GalleryCheck, GalleryInfo, StoreKind } from './recognition/backend.js';
export { storeOf } from './recognition/store/open.js';
export { EF_SEARCH_DEFAULT, EF_SEARCH_MAX } from './recognition/store/sql-client.js';
export { assertSameModel, DEFAULT_GALLERY_PATH, type GalleryEntry, type GalleryHead, type GalleryMeta } from './recognition/gallery.js';
export type { Candidate, FaceAnswer } from './recognition/identify.js';
export { ANN_MIN_FACES, INDEX_POLICIES, isIndexPolicy, type IndexPolicy } from './recognition/vector-index.js';
export { decideThreshold, defaultThreshold, parseMetric, type ThresholdDecision, type ThresholdUse } from './recognition/policy.js';

/* ---------------------------------------------------------------- evaluation and plots */
export { evaluate, rocPlot, pct, farText, type EvalKind, type EvalReport, type EvaluateOptions, type Evaluation } from './engine/evaluate.js';
export { train, type TrainOptions, type TrainSource, type TrainSummary } from './engine/train.js';
export type { TrainResult } from './training/index.js';
// the light half of training: reading and applying a head (no tfjs); train() loads the rest when called
export {
  applyHead, loadHead, pairDistance, pairDistanceThreshold, pairScore,
  type Head, type HeadFile, type PairMetrics, type TrainReport, type WeightEntry,
} from './training/head-file.js';
export { HEAD_KINDS, type HeadKind } from './training/split.js';
export type { TrainProgress } from './training/train.js';
export { project, scatterPlot, type EmbeddingPoint, type PlacedPoint, type Projection, type ProjectOptions } from './engine/project.js';
export { EXACT_LIMIT, MIN_ITERATIONS, plotFormat, svgToPng, writePlot, type PlotFormat, type TsneAlgorithm } from './evaluation/index.js';

/* ---------------------------------------------------------------- records, errors, models */
export type {
  AlignedInfo, Box, Embedding, EmotionLabel, FaceAnalysis, FaceRecord, Gender, Landmarks, NormalizedInfo, Point, SpoofVerdict,
} from './core/records.js';
export { EMOTION_LABELS, SCHEMA_VERSION } from './core/records.js';
export type { RecordLine } from './core/record-stream.js';
export { FacekitError, type ErrorCode, type ErrorInfo } from './core/errors.js';
export { VERSION } from './core/version.js';
export {
  DEFAULT_DETECTOR, DEFAULT_METRIC, DEFAULT_RECOGNIZER, DETECTORS, METRICS, RECOGNIZERS, RECOGNIZER_ALIASES, SUBJECTS, SUBJECT_DEFAULTS,
  isDetectorId, isMetric, isRecognizerId, isSubject, recognizerIdOf, subjectOf,
  type DetectorId, type DetectorInfo, type FaceDetectorId, type Metric, type RecognizerId, type RecognizerInfo, type SchemeId, type Subject,
} from './models/catalogue.js';
export {
  AGE_GENDER_MODEL_IDS, ANALYSIS_ACTIONS, DEFAULT_AGE_GENDER_MODEL, DEFAULT_EMOTION_MODEL, DEFAULT_SPOOF_MODEL, EMOTION_MODEL_IDS, SPOOF_MODEL_IDS,
  isAgeGenderModelId, isEmotionModelId, isSpoofModelId,
  type AgeGenderModelId, type AnalysisAction, type EmotionModelId, type SpoofModelId,
} from './models/analyzers/index.js';
export { analysisOptions, parseActions, type AnalysisChoice, type AnalysisOptions } from './stages/analysis.js';
export { SCHEMES, isSchemeId, type Scheme, type ValueRange } from './stages/normalization.js';
export type { RgbImage } from './core/image.js';
export type { Vector } from './core/vector.js';
export type { ModelFile, ModelInfo, TemplateId } from './models/catalogue.js';
export type { QueueStats } from './pipeline/queue.js';
export type { KFoldResult, RocPoint, VerificationSummary } from './evaluation/metrics.js';
export { BACKENDS, type BackendChoice } from './models/runtime.js';
export { defaultWorkers } from './pipeline/pool.js';
export { distance, l2normalize, similarity } from './stages/verification.js';
export type { ModelRow } from './models/inventory.js';
export type { ServerHandle, ServerOptions, StartServer } from './engine/server-options.js';

/* ---------------------------------------------------------------- the module functions, on the shared engine */

/** The engine options the module functions take (they make the shared engine with them). */
export type EngineChoice = Pick<FacekitOptions, 'backend' | 'workers' | 'maxPixels'>;

function split<T extends EngineChoice>(opts: T): [EngineChoice, Omit<T, keyof EngineChoice>] {
  const { backend, workers, maxPixels, ...rest } = opts;
  const engine: EngineChoice = {};
  if (backend !== undefined) engine.backend = backend;
  if (workers !== undefined) engine.workers = workers;
  if (maxPixels !== undefined) engine.maxPixels = maxPixels;
  return [engine, rest];
}

/** The faces in an image, largest first, as the records `facekit detect` prints ([] when none). */
export function detect(image: ImageInput, options: DetectOptions & RunOptions & EngineChoice = {}): Promise<FaceRecord[]> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).detect(image, rest);
}

/** Each face aligned (and normalized): the records `facekit align` / `facekit normalize` print; given records, one stage on. */
export function extract(input: ImageInput | FaceRecord[], options: ExtractOptions & RunOptions & EngineChoice = {}): Promise<FaceRecord[]> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).extract(input, rest);
}

/** Each face's embedding, as the records `facekit represent` prints ([] when no face). */
export function represent(image: ImageInput, options: RepresentOptions & RunOptions & EngineChoice = {}): Promise<FaceRecord[]> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).represent(image, rest);
}

/**
 * Age, gender, emotion and real-or-spoof for each face: the records `facekit analyze` prints, each
 * with `analysis` { age, gender, genderScore, emotion, dominantEmotion, spoof } ([] when no face).
 */
export function analyze(image: ImageInput, options: AnalyzeOptions & RunOptions & EngineChoice = {}): Promise<FaceRecord[]> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).analyze(image, rest);
}

/** Same person? The largest face of each image: `{ verified, distance, threshold, metric, model, ... }`. */
export function verify(image1: ImageInput, image2: ImageInput, options: VerifyOptions & RunOptions & EngineChoice = {}): Promise<VerifyResult> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).verify(image1, image2, rest);
}

/** Detect records of many images (or a stream of them), in input order, on every core. */
export function detectEach(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, options: DetectOptions & RunOptions & EngineChoice = {}): AsyncGenerator<FaceRecord> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).detectEach(items, rest);
}

/** Align (and normalize) many images, or carry detect / align records one stage on. */
export function extractEach(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, options: ExtractOptions & RunOptions & EngineChoice = {}): AsyncGenerator<FaceRecord> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).extractEach(items, rest);
}

/** Embeddings of many images (or of normalize records), in input order. */
export function representEach(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, options: RepresentOptions & RunOptions & EngineChoice = {}): AsyncGenerator<FaceRecord> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).representEach(items, rest);
}

/** Analyses of many images (or of detect records), in input order. */
export function analyzeEach(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, options: AnalyzeOptions & RunOptions & EngineChoice = {}): AsyncGenerator<FaceRecord> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).analyzeEach(items, rest);
}

/** Every model facekit can use (all ship inside npm packages): what `facekit models` lists. */
export function listModels(opts: { analysis?: boolean } = {}): ModelRow[] {
  return [...modelRows(), ...(opts.analysis === false ? [] : analysisModelRows())];
}

/** Release the worker threads of the shared engine (a script then ends by itself). */
export function close(): Promise<void> {
  return closeSharedEngine();
}
