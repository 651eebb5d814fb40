/** Every detector facekit offers, by the name `--detector` takes. */
import type { FaceDetectorId } from '../catalogue.js';
import type { Detector } from './detector.js';
import { blazeface } from './blazeface.js';

/** face-api's detectors, their module (and face-api) loaded on first use. */
const faceapi = (id: 'ssd' | 'tiny'): Detector => ({
  id,
  detect: async (img, opts) => (await import('./faceapi.js'))[id].detect(img, opts),
});

/** The face detectors (`none`, the whole image, needs no model: see stages/detection.ts). */
export const detectors: Record<FaceDetectorId, Detector> = { blazeface, ssd: faceapi('ssd'), tiny: faceapi('tiny') };
export type { Detector, DetectedFace, DetectorOptions } from './detector.js';
