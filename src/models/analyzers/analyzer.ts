/**
 * What the analysis models offer, whatever their origin (face-api, Human, faceplugin's ONNX
 * graphs): faces in, one answer per face out. Each takes the decoded image and the faces' boxes
 * and landmarks, and cuts each face the way its own network was trained to see it.
 */
import type { RgbImage } from '../../core/image.js';
import type { EmotionLabel } from '../../core/records.js';
import type { FaceGeometry } from './crop.js';

export type { FaceGeometry } from './crop.js';

export interface AgeGenderEstimate {
  /** years (only when asked for) */
  age?: number;
  /** probability that the face is a man's, 0..1 (only when asked for) */
  male?: number;
}

export interface AgeGenderModel {
  id: AgeGenderModelId;
  estimate(img: RgbImage, faces: FaceGeometry[], want: { age: boolean; gender: boolean }): Promise<AgeGenderEstimate[]>;
}

export interface EmotionModel {
  id: EmotionModelId;
  /** Probability of each emotion per face (summing to 1). */
  classify(img: RgbImage, faces: FaceGeometry[]): Promise<Record<EmotionLabel, number>[]>;
}

export interface SpoofModel {
  id: SpoofModelId;
  /** How likely each face is a live, real one (0..1; low = a photo of a photo, a screen). */
  score(img: RgbImage, faces: FaceGeometry[]): Promise<number[]>;
}

export type AgeGenderModelId = 'faceapi' | 'ssrnet';
export type EmotionModelId = 'faceapi' | 'human';
export type SpoofModelId = 'antispoof' | 'liveness' | 'minifasnet';
