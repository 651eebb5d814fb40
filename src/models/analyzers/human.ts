/**
 * Human's face-attribute models: emotion (oarriaga's mini-Xception, 64x64 grayscale), antispoof
 * (128x128 RGB) and liveness (32x32 RGB). Human runs them on its face tensor: the BlazeFace box
 * grown 1.4x, made square, turned upright and scaled to 0..1; the crop here follows that from
 * facekit's box (the FaceMesh box, a little larger than BlazeFace's, hence 1.3).
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { loadGraphModel, tf } from '../runtime.js';
import { EMOTION_LABELS, type EmotionLabel } from '../../core/records.js';
import type { RgbImage } from '../../core/image.js';
import type { EmotionModel, SpoofModel } from './analyzer.js';
import { faceCrop, toNhwc, type CropSpec, type FaceGeometry } from './crop.js';

const HUMAN = '@vladmandic/human';
const HUMAN_SCALE = 1.3;
/** The grayscale weights Human uses (MATLAB's rgb2gray). */
const GRAY = [0.2989, 0.587, 0.114];
/** oarriaga's label order, which is also deepface's. */
const EMOTION_ORDER: readonly EmotionLabel[] = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];

/** Run a graph model on one [size, size, channels] tensor per face; its first output's values per face. */
async function run(file: string, faces: Float32Array[], size: number, channels: number): Promise<Float32Array[]> {
  const model = await loadGraphModel(HUMAN, file);
  const t = tf();
  const out: Float32Array[] = [];
  for (const data of faces) {
    const res = t.tidy(() => model.execute(t.tensor4d(data, [1, size, size, channels])) as TfCore.Tensor);
    out.push((await res.data()) as Float32Array);
    res.dispose();
  }
  return out;
}

function crops(img: RgbImage, faces: FaceGeometry[], size: number): RgbImage[] {
  const spec: CropSpec = { size, scale: HUMAN_SCALE, upright: true };
  return faces.map((f) => faceCrop(img, f, spec));
}

export const humanEmotion: EmotionModel = {
  id: 'human',
  async classify(img, faces) {
    const gray = crops(img, faces, 64).map((c) => {
      const out = new Float32Array(64 * 64);
      for (let p = 0; p < out.length; p++) {
        const g = (GRAY[0]! * c.data[p * 3]! + GRAY[1]! * c.data[p * 3 + 1]! + GRAY[2]! * c.data[p * 3 + 2]!) / 255;
        out[p] = (g - 0.5) * 2;
      }
      return out;
    });
    const probs = await run('models/emotion.json', gray, 64, 1);
    return probs.map((p) => {
      const sum = p.reduce((s, v) => s + v, 0) || 1;
      const out = Object.fromEntries(EMOTION_LABELS.map((l) => [l, 0])) as Record<EmotionLabel, number>;
      EMOTION_ORDER.forEach((label, i) => { out[label] = p[i]! / sum; });
      return out;
    });
  },
};

function humanSpoof(id: 'antispoof' | 'liveness', size: number): SpoofModel {
  return {
    id,
    async score(img, faces) {
      const inputs = crops(img, faces, size).map((c) => toNhwc(c, (v) => v / 255));
      const outs = await run(`models/${id}.json`, inputs, size, 3);
      // Human reports the first output as the face's "real" / "live" score.
      return outs.map((o) => o[0]!);
    },
  };
}

export const humanAntispoof = humanSpoof('antispoof', 128);
export const humanLiveness = humanSpoof('liveness', 32);
