/**
 * The interface every face detector implements. A detector finds faces in RGB pixels and gives
 * each a box, a confidence and named landmarks; adding a detector is one module plus one line in
 * ./index.ts.
 */
import type { RgbImage } from '../../core/image.js';
import type { Box, Landmarks } from '../../core/records.js';
import type { FaceDetectorId } from '../catalogue.js';

export interface DetectedFace {
  box: Box;
  score: number;
  landmarks: Landmarks;
  /** the detector's full point set: 468 mesh points for blazeface, 68 for face-api */
  mesh: number[][];
}

export interface DetectorOptions {
  minScore: number;
  maxFaces: number;
  /** The engine of detectors that have two (default: onnxruntime where it loads, else tfjs). */
  engine?: 'ort' | 'tfjs';
}

export interface Detector {
  id: FaceDetectorId;
  detect(img: RgbImage, opts: DetectorOptions): Promise<DetectedFace[]>;
  /** Load the detector's models now (a cold start loads them while the first image decodes). */
  warm?(): Promise<void>;
}

type P = [number, number];
export const meanPoint = (pts: number[][]): P => {
  let x = 0, y = 0;
  for (const p of pts) { x += p[0]!; y += p[1]!; }
  return [x / pts.length, y / pts.length];
};
export const pt = (p: number[] | undefined): P => [p?.[0] ?? NaN, p?.[1] ?? NaN];
