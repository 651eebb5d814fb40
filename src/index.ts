/**
 * facekit as a library: the face-recognition pipeline from code.
 *
 *   import { detect, analyze, represent, verify, Gallery, close } from 'facekit';
 *   const faces = await detect('group.jpg');                  // boxes, scores, landmarks
 *   const [face] = await analyze('photo.jpg');                // face.analysis: age, gender, emotion, spoof
 *   const { verified, distance } = await verify('a.jpg', 'b.jpg');
 *   const gallery = await Gallery.open('db/gallery.json');
 *   const [who] = await gallery.identify('query.jpg');        // { identity, distance, threshold, candidates }
 *   await close();                                            // release the worker threads
 *
 * Importing has no side effects: no process handlers, no global fetch, no flags read. The module
 * functions share one engine, made on first use; `new Facekit({ backend, workers })` makes another.
 */
import type { ImageInput } from './api/images.js';
import type { AnalyzeOptions, DetectOptions, FacekitOptions, RepresentOptions, VerifyOptions, VerifyResult } from './api/engine.js';
import type { FaceRecord } from './core/records.js';
import { closeSharedEngine, sharedEngine } from './api/shared-engine.js';

export { Facekit } from './api/engine.js';
export type { AnalyzeOptions, DetectOptions, FacekitOptions, RepresentOptions, VerifyOptions, VerifyResult } from './api/engine.js';
export { Gallery } from './api/gallery.js';
export type { AddResult, EmbeddingInput, GalleryOpenOptions, IdentifyOptions } from './api/gallery.js';
export type { DecodedImage, ImageInput } from './api/images.js';
export type { Candidate, FaceAnswer } from './recognition/identify.js';
export type { GalleryEntry, GalleryMeta } from './recognition/gallery.js';
export type { AlignedInfo, Box, Embedding, EmotionLabel, FaceAnalysis, FaceRecord, Gender, Landmarks, NormalizedInfo, Point, SpoofVerdict } from './core/records.js';
export { EMOTION_LABELS } from './core/records.js';
export { ANALYSIS_ACTIONS, type AnalysisAction, type AgeGenderModelId, type EmotionModelId, type SpoofModelId } from './models/analyzers/index.js';
export { FacekitError, type ErrorCode, type ErrorInfo } from './core/errors.js';
export { VERSION } from './core/version.js';
export { DETECTORS, RECOGNIZERS, METRICS, type DetectorId, type Metric, type RecognizerId } from './models/catalogue.js';
export { distance, l2normalize, similarity } from './stages/verification.js';
export { defaultThreshold } from './recognition/policy.js';

type EngineChoice = Pick<FacekitOptions, 'backend' | 'workers' | 'maxPixels'>;

function split<T extends EngineChoice>(opts: T): [EngineChoice, Omit<T, keyof EngineChoice>] {
  const { backend, workers, maxPixels, ...rest } = opts;
  const engine: EngineChoice = {};
  if (backend !== undefined) engine.backend = backend;
  if (workers !== undefined) engine.workers = workers;
  if (maxPixels !== undefined) engine.maxPixels = maxPixels;
  return [engine, rest];
}

/** The faces in an image, largest first, as the records `facekit detect` prints ([] when none). */
export function detect(image: ImageInput, options: DetectOptions & EngineChoice = {}): Promise<FaceRecord[]> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).detect(image, rest);
}

/** Each face's embedding, as the records `facekit represent` prints ([] when no face). */
export function represent(image: ImageInput, options: RepresentOptions & EngineChoice = {}): Promise<FaceRecord[]> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).represent(image, rest);
}

/** Same person? The largest face of each image: `{ verified, distance, threshold, metric, model, ... }`. */
export function verify(image1: ImageInput, image2: ImageInput, options: VerifyOptions & EngineChoice = {}): Promise<VerifyResult> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).verify(image1, image2, rest);
}

/**
 * Age, gender, emotion and real-or-spoof for each face: the records `facekit analyze` prints, each
 * with `analysis` { age, gender, genderScore, emotion, dominantEmotion, spoof } ([] when no face).
 */
export function analyze(image: ImageInput, options: AnalyzeOptions & EngineChoice = {}): Promise<FaceRecord[]> {
  const [engine, rest] = split(options);
  return sharedEngine(engine).analyze(image, rest);
}

/** Release the worker threads of the shared engine (a script then ends by itself). */
export function close(): Promise<void> {
  return closeSharedEngine();
}
