/**
 * Detect: find the faces in an image, largest first, with a box, a score and named landmarks,
 * all in the original image's pixels.
 */
import { detectors, type DetectedFace } from '../models/detectors/index.js';
import type { FaceDetectorId } from '../models/catalogue.js';
import { decodeScale, downscale, originalSize, padImage, type RgbImage } from '../core/image.js';
import { scaleRecord } from '../core/geometry.js';
import { SCHEMA_VERSION, type Box, type FaceRecord, type Landmarks, type Point } from '../core/records.js';
import { prealignedLandmarks } from './alignment.js';

export interface DetectionOptions {
  detector: FaceDetectorId;
  minScore: number;
  maxFaces: number;
  /**
   * Detectors see the image scaled down to this longer side (the models work at 128-512 px
   * anyway); coordinates are mapped back to the original pixels.
   */
  maxSide: number;
}

function mapFace(f: DetectedFace, scale: number, dx: number, dy: number, w: number, h: number): DetectedFace {
  const p = (q: Point): Point => [(q[0] - dx) / scale, (q[1] - dy) / scale];
  const landmarks = Object.fromEntries(Object.entries(f.landmarks).map(([k, v]) => [k, p(v as Point)])) as unknown as Landmarks;
  let [x, y, bw, bh] = f.box;
  x = (x - dx) / scale; y = (y - dy) / scale; bw /= scale; bh /= scale;
  // Clamp to the image: a face cut by the frame keeps the part that is in it.
  const x0 = Math.max(0, x), y0 = Math.max(0, y);
  const x1 = Math.min(w, x + bw), y1 = Math.min(h, y + bh);
  const box: Box = [x0, y0, Math.max(0, x1 - x0), Math.max(0, y1 - y0)];
  const mesh = f.mesh.map((q) => [(q[0]! - dx) / scale, (q[1]! - dy) / scale, ...q.slice(2)]);
  return { box, score: f.score, landmarks, mesh };
}

/**
 * All faces in `img`, largest first. When the detector finds none, it tries once more on the image
 * framed by a border: detectors trained on whole scenes miss a face that fills the frame (tight
 * crops such as LFW's), and a border makes it an ordinary face again.
 */
export async function detectFaces(img: RgbImage, opts: DetectionOptions): Promise<DetectedFace[]> {
  const detector = detectors[opts.detector];
  const { image: small, scale } = await downscale(img, opts.maxSide);
  const dOpts = { minScore: opts.minScore, maxFaces: opts.maxFaces };
  let faces = (await detector.detect(small, dOpts)).map((f) => mapFace(f, scale, 0, 0, img.width, img.height));
  if (faces.length === 0) {
    const pad = Math.round(Math.max(small.width, small.height) * 0.3);
    const framed = padImage(small, pad, 0);
    faces = (await detector.detect(framed, dOpts)).map((f) => mapFace(f, scale, pad, pad, img.width, img.height));
  }
  return dropDuplicates(faces.filter((f) => area(f.box) > 0))
    .sort((a, b) => area(b.box) - area(a.box))
    .slice(0, opts.maxFaces);
}

const area = (b: Box) => b[2] * b[3];

/** Overlap of two boxes as a share of the smaller one. */
export function overlapOfSmaller(a: Box, b: Box): number {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / Math.min(area(a), area(b));
}

/**
 * A detector sometimes fires twice on one face (a second box on half of it); the landmark stage
 * then fits the same face twice. Keep the more confident of two faces that mostly overlap.
 */
function dropDuplicates(faces: DetectedFace[]): DetectedFace[] {
  const kept: DetectedFace[] = [];
  for (const f of [...faces].sort((a, b) => b.score - a.score)) {
    if (!kept.some((k) => overlapOfSmaller(k.box, f.box) > 0.6)) kept.push(f);
  }
  return kept;
}

const r2 = (v: number) => Math.round(v * 100) / 100;
const roundPoint = (p: Point): Point => [r2(p[0]), r2(p[1])];

/** One record per face (or one `no_face` error record), as the record contract says. */
export function detectionRecords(image: string, img: RgbImage, faces: DetectedFace[], detector: string, withMesh: boolean): FaceRecord[] {
  // Coordinates are in the image's original pixels, also when it was shrunk as it was decoded.
  const { width, height } = originalSize(img);
  const [sx, sy] = decodeScale(img);
  const base = { schema: SCHEMA_VERSION, image, width, height };
  if (faces.length === 0) {
    return [{ ...base, face: null, detector, error: { code: 'no_face', message: 'no face found' } }];
  }
  return faces.map((decoded, i) => {
    const f = scaleRecord(decoded, sx, sy);
    const rec: FaceRecord = {
      ...base,
      face: i,
      detector,
      box: f.box.map(r2) as Box,
      score: Math.round(f.score * 1e4) / 1e4,
      landmarks: Object.fromEntries(Object.entries(f.landmarks).map(([k, v]) => [k, roundPoint(v as Point)])) as unknown as Landmarks,
    };
    if (withMesh) rec.mesh = f.mesh.map((q) => q.map(r2));
    return rec;
  });
}

/**
 * The record of detector `none` (any-image mode): the whole image is the one subject. It has no
 * landmarks; align letterboxes the whole picture into the recognizer's square.
 */
export function wholeImageRecord(image: string, img: RgbImage): FaceRecord {
  const { width, height } = originalSize(img);
  return { schema: SCHEMA_VERSION, image, width, height, face: 0, detector: 'none', box: [0, 0, width, height], score: 1 };
}

/** A record for an image that is already an aligned face crop (ArcFace template): no detector runs. */
export function prealignedRecord(image: string, img: RgbImage): FaceRecord {
  const { width, height } = originalSize(img);
  return {
    schema: SCHEMA_VERSION, image, width, height, face: 0, detector: 'skip',
    box: [0, 0, width, height], score: 1, landmarks: prealignedLandmarks(width, height),
  };
}
