/**
 * faceplugin's ONNX graphs (npm faceplugin-face-recognition-js, run with onnxruntime-node). Their
 * preprocessing is not documented; it is read from the package's lib/*.js:
 * - age and gender (SSR-Net, two separate graphs): the detector box grown 1.4x around its centre,
 *   slid inside the image, stretched to 64x64,
 *   RGB scaled to 0..1 and normalized with ImageNet's mean and std, NCHW. Nine outputs (three
 *   stages of 3 bins, their shifts and scalings) merge into one number (SSR-Net's soft stagewise
 *   regression): years for age (x101), 0..1 for gender (1 = man).
 * - liveness (a MiniFASNet-like net): the box grown 2.7x, slid inside the image, 128x128, RGB as
 *   raw 0..255, NCHW; three logits, softmax, the first is "live".
 */
import { createSession, type OrtSession } from '../ort.js';
import { modelPath } from '../model-files.js';
import type { RgbImage } from '../../core/image.js';
import type { AgeGenderModel, SpoofModel } from './analyzer.js';
import { faceCrop, softmax, toNchw, type FaceGeometry } from './crop.js';

const PKG = 'faceplugin-face-recognition-js';
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const SSR_OUTPUTS = [
  'prob_stage_1', 'prob_stage_2', 'prob_stage_3', 'stage1_delta_k', 'stage2_delta_k', 'stage3_delta_k',
  'index_offset_stage1', 'index_offset_stage2', 'index_offset_stage3',
];

const sessions = new Map<string, Promise<OrtSession>>();
function session(file: string): Promise<OrtSession> {
  let s = sessions.get(file);
  if (!s) {
    s = createSession(modelPath(PKG, `model/${file}`));
    sessions.set(file, s);
    s.catch(() => sessions.delete(file));
  }
  return s;
}

/** SSR-Net's soft stagewise regression over 3 stages of 3 bins each (faceplugin's mergeAge). */
export function ssrMerge(x: number[], range: number): number {
  const s = 3, lambdaLocal = 1, lambdaD = 1;
  let a = 0, b = 0, c = 0;
  for (let i = 0; i < s; i++) a += (i + lambdaLocal * x[12 + i]!) * x[i]!;
  a /= s * (1 + lambdaD * x[9]!);
  for (let i = 0; i < s; i++) b += (i + lambdaLocal * x[15 + i]!) * x[3 + i]!;
  b /= s * (1 + lambdaD * x[9]!) * s * (1 + lambdaD * x[10]!);
  for (let i = 0; i < s; i++) c += (i + lambdaLocal * x[18 + i]!) * x[6 + i]!;
  c /= s * (1 + lambdaD * x[9]!) * s * (1 + lambdaD * x[10]!) * s * (1 + lambdaD * x[11]!);
  return (a + b + c) * range;
}

async function ssr(file: string, img: RgbImage, face: FaceGeometry, range: number): Promise<number> {
  const crop = faceCrop(img, face, { size: 64, scale: 1.4, upright: false, insideImage: true, stretch: true });
  const input = toNchw(crop, (v, c) => (v / 255 - MEAN[c]!) / STD[c]!);
  const out = await (await session(file)).run({ input: { data: input, dims: [1, 3, 64, 64] } });
  const flat = SSR_OUTPUTS.flatMap((name) => Array.from(out[name]!.data));
  return ssrMerge(flat, range);
}

export const ssrnetAgeGender: AgeGenderModel = {
  id: 'ssrnet',
  async estimate(img, faces, want) {
    const out = [];
    for (const face of faces) {
      out.push({
        ...(want.age ? { age: await ssr('fr_age.onnx', img, face, 101) } : {}),
        ...(want.gender ? { male: Math.min(1, Math.max(0, await ssr('fr_gender.onnx', img, face, 1))) } : {}),
      });
    }
    return out;
  },
};

export const minifasnet: SpoofModel = {
  id: 'minifasnet',
  async score(img, faces) {
    const s = await session('fr_liveness.onnx');
    const out: number[] = [];
    for (const face of faces) {
      const crop = faceCrop(img, face, { size: 128, scale: 2.7, upright: false, insideImage: true, stretch: true });
      const res = await s.run({ input: { data: toNchw(crop, (v) => v), dims: [1, 3, 128, 128] } });
      out.push(softmax(res.output!.data)[0]!);
    }
    return out;
  },
};
