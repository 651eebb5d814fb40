/**
 * FaceMesh (468 points), the model that ships with @vladmandic/human, for each face BlazeFace
 * found: the five points for alignment are predicted from it. Its tfjs graph is converted to ONNX
 * (../graph/tfjs-graph.ts) and run on onnxruntime-node, or run on tfjs where that cannot load.
 *
 * Why not Human's own pipeline: it rounds mesh points to whole pixels (1 px is 3% of the eye
 * distance on a 112 px face), stretches non-square photos to the detector's square input, and
 * rotates the whole image before cropping a face. Here each face is cut out already rotated
 * upright (a 192x192 warp), and points stay in floating point.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { RgbImage } from '../../core/image.js';
import type { Box, Landmarks } from '../../core/records.js';
import { invertAffine, warpAffine, type Affine } from '../../core/geometry.js';
import { loadGraphModel, tf } from '../runtime.js';
import { loadTfjsGraphAsOnnx } from '../graph/load.js';
import { createSession, type OrtSession } from '../ort.js';
import type { DetectionEngine } from './blazeface-net.js';
import { pt } from './detector.js';
import { mtcnnFive } from './mtcnn-five.js';
import type { RawDetection } from './blazeface-decode.js';

const HUMAN = '@vladmandic/human';
const MESH_SIZE = 192;
/** The mesh crop is the detector's box grown by this factor (Human's default). */
const MESH_CROP_SCALE = 1.5;
/** Below this mesh confidence the "face" is rejected as a false detection. */
export const MIN_MESH_CONFIDENCE = 0.3;

/** The mesh's named points; the five MTCNN points predicted from the whole mesh (./mtcnn-five.ts). */
export function meshLandmarks(mesh: number[][]): Landmarks {
  const at = (i: number) => pt(mesh[i]);
  return {
    ...mtcnnFive(mesh),
    leftEyeOuter: at(33),
    leftEyeInner: at(133),
    rightEyeInner: at(362),
    rightEyeOuter: at(263),
    noseBase: at(2),
  };
}

/** The box around the mesh (forehead to chin, cheek to cheek), clamped to the image. */
export function meshBox(mesh: number[][], width: number, height: number): Box {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of mesh) {
    x0 = Math.min(x0, p[0]!); y0 = Math.min(y0, p[1]!); x1 = Math.max(x1, p[0]!); y1 = Math.max(y1, p[1]!);
  }
  x0 = Math.max(0, x0); y0 = Math.max(0, y0); x1 = Math.min(width, x1); y1 = Math.min(height, y1);
  return [x0, y0, Math.max(0, x1 - x0), Math.max(0, y1 - y0)];
}

/**
 * The image -> crop map that cuts a `side`-pixel square centred on (cx, cy), rotated by `angle`
 * radians so that the face is upright, into the mesh model's 192x192 input.
 */
function cropTransform(cx: number, cy: number, side: number, angle: number): Affine {
  const s = MESH_SIZE / side;
  const cos = Math.cos(-angle) * s, sin = Math.sin(-angle) * s;
  // x' = R(-angle) * s * (x - c) + MESH_SIZE / 2
  return [cos, -sin, MESH_SIZE / 2 - (cos * cx - sin * cy), sin, cos, MESH_SIZE / 2 - (sin * cx + cos * cy)];
}

/** The graph's outputs: the mesh [1, 1404] and the face flag [1, 1] (its third, contours, is not needed). */
const OUTPUTS = ['Identity_2', 'Identity_1'];
let onnx: Promise<{ session: OrtSession; input: string; mesh: string; flag: string }> | undefined;

/** The ONNX model's session, started once (the first call converts or reads the model). */
export function meshSession(): NonNullable<typeof onnx> {
  if (!onnx) {
    onnx = (async () => {
      const conv = await loadTfjsGraphAsOnnx(HUMAN, 'models/facemesh.json', [MESH_SIZE, MESH_SIZE, 3], OUTPUTS);
      return { session: await createSession(() => conv.bytes, { cacheAs: conv.key }), input: conv.inputName, mesh: conv.outputNames[0]!, flag: conv.outputNames[1]! };
    })();
    onnx.catch(() => { onnx = undefined; });
  }
  return onnx;
}

/** The mesh model's raw outputs for a 192x192 input (0..1), on the engine asked for. */
export async function meshForward(input: Float32Array, engine: DetectionEngine): Promise<{ coords: Float32Array; flag: Float32Array }> {
  if (engine === 'ort') {
    const m = await meshSession();
    const out = await m.session.run({ [m.input]: { data: input, dims: [1, MESH_SIZE, MESH_SIZE, 3] } });
    return { coords: out[m.mesh]!.data, flag: out[m.flag]!.data };
  }
  const t = tf();
  const model = await loadGraphModel(HUMAN, 'models/facemesh.json');
  const outs = t.tidy(() => model.execute(t.tensor4d(input, [1, MESH_SIZE, MESH_SIZE, 3])) as TfCore.Tensor[]);
  const meshT = outs.find((o) => o.shape[o.shape.length - 1] === 1404)!;
  const flagT = outs.find((o) => o.shape[o.shape.length - 1] === 1)!;
  const [coords, flag] = await Promise.all([meshT.data() as Promise<Float32Array>, flagT.data() as Promise<Float32Array>]);
  t.dispose(outs);
  return { coords, flag };
}

async function runMesh(img: RgbImage, toCrop: Affine, engine: DetectionEngine): Promise<{ mesh: number[][]; confidence: number }> {
  const crop = warpAffine(img, toCrop, MESH_SIZE, MESH_SIZE);
  const input = new Float32Array(crop.data.length);
  for (let i = 0; i < input.length; i++) input[i] = crop.data[i]! / 255;
  const { coords, flag } = await meshForward(input, engine);
  const [a, b, tx, c, d, ty] = invertAffine(toCrop);
  const mesh: number[][] = [];
  const zScale = Math.hypot(a, c); // crop pixels -> image pixels
  for (let i = 0; i < 468; i++) {
    const u = coords[3 * i]!, v = coords[3 * i + 1]!, z = coords[3 * i + 2]!;
    mesh.push([a * u + b * v + tx, c * u + d * v + ty, z * zScale]);
  }
  const f = flag[0]!;
  // The face flag is a logit in some exports of the model and a probability in others.
  const confidence = f >= 0 && f <= 1 ? f : 1 / (1 + Math.exp(-f));
  return { mesh, confidence };
}

/**
 * The 468-point mesh of a face BlazeFace found, or undefined when the mesh model judges it no face.
 * A second pass on a crop cut around the first mesh (centred, upright from the eye corners) fits
 * the points better than the detector's rough box (+0.2 points of LFW accuracy through the full
 * pipeline when the five points came from the mesh).
 */
export async function faceMesh(img: RgbImage, det: RawDetection, engine: DetectionEngine): Promise<number[][] | undefined> {
  const [eyeA, eyeB] = det.keypoints;
  const angle = Math.atan2(eyeB![1] - eyeA![1], eyeB![0] - eyeA![0]);
  const side = Math.max(det.x1 - det.x0, det.y1 - det.y0) * MESH_CROP_SCALE;
  const first = await runMesh(img, cropTransform((det.x0 + det.x1) / 2, (det.y0 + det.y1) / 2, side, angle), engine);
  if (first.confidence < MIN_MESH_CONFIDENCE) return undefined;
  const b = meshBox(first.mesh, Infinity, Infinity);
  const upright = Math.atan2(first.mesh[263]![1]! - first.mesh[33]![1]!, first.mesh[263]![0]! - first.mesh[33]![0]!);
  const { mesh } = await runMesh(img, cropTransform(b[0] + b[2] / 2, b[1] + b[3] / 2, Math.max(b[2], b[3]) * MESH_CROP_SCALE, upright), engine);
  return mesh;
}
