/** Every detector facekit offers, by the name `--detector` takes. */
import type { DetectorId } from '../catalogue.js';
import type { Detector } from './detector.js';
import { blazeface } from './blazeface.js';
import { ssd, tiny } from './faceapi.js';

export const detectors: Record<DetectorId, Detector> = { blazeface, ssd, tiny };
export type { Detector, DetectedFace, DetectorOptions } from './detector.js';
