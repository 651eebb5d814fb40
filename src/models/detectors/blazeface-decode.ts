/**
 * BlazeFace's input and output, whichever engine runs the network: the letterboxed 256x256 input,
 * and the decoding of its 896 anchors (box, score, six keypoints) with non-maximum suppression.
 * Plain JavaScript, so that the onnxruntime path never loads TensorFlow.js.
 */
import { sharp } from '../../core/sharp.js';
import type { RgbImage } from '../../core/image.js';

export const DETECTOR_SIZE = 256;
/** Columns of one anchor's row: the score logit, then the box (cx, cy, w, h) and six keypoints. */
export const ROW = 17;
/** Boxes that overlap more than this (intersection over union) are one face. */
const IOU_THRESHOLD = 0.3;

/** BlazeFace's anchor centres for a 256 input: strides 16 and 32 with 2 and 6 anchors per cell. */
function anchors(): Float32Array {
  const out: number[] = [];
  for (const [stride, perCell] of [[16, 2], [32, 6]] as const) {
    const cells = Math.ceil(DETECTOR_SIZE / stride);
    for (let gy = 0; gy < cells; gy++) {
      for (let gx = 0; gx < cells; gx++) {
        for (let n = 0; n < perCell; n++) out.push(stride * (gx + 0.5), stride * (gy + 0.5));
      }
    }
  }
  return Float32Array.from(out);
}
export const ANCHORS = anchors();
export const ANCHOR_COUNT = ANCHORS.length / 2;

export interface RawDetection {
  /** corners in image pixels */
  x0: number; y0: number; x1: number; y1: number;
  score: number;
  /** BlazeFace's 6 keypoints in image pixels: eye, eye, nose, mouth, ear, ear */
  keypoints: [number, number][];
}

export interface Letterboxed {
  /** NHWC [1, 256, 256, 3], pixels scaled to -1..1 */
  input: Float32Array;
  scale: number;
  dx: number;
  dy: number;
}

/** Letterbox into the detector's square input: scaled to fit, centred on black. */
export async function letterbox(img: RgbImage): Promise<Letterboxed> {
  const scale = DETECTOR_SIZE / Math.max(img.width, img.height);
  const w = Math.max(1, Math.round(img.width * scale));
  const h = Math.max(1, Math.round(img.height * scale));
  const small = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(w, h, { fit: 'fill' })
    .raw()
    .toBuffer();
  const dx = Math.floor((DETECTOR_SIZE - w) / 2);
  const dy = Math.floor((DETECTOR_SIZE - h) / 2);
  // BlazeFace takes pixels scaled to -1..1; the black border is -1.
  const input = new Float32Array(DETECTOR_SIZE * DETECTOR_SIZE * 3).fill(-1);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3, d = ((y + dy) * DETECTOR_SIZE + (x + dx)) * 3;
      input[d] = small[s]! / 127.5 - 1;
      input[d + 1] = small[s + 1]! / 127.5 - 1;
      input[d + 2] = small[s + 2]! / 127.5 - 1;
    }
  }
  return { input, scale: w / img.width, dx, dy };
}

/**
 * The network's four outputs (scores [512, 1] + [384, 1], regressors [512, 16] + [384, 16], by
 * anchor layer, as both exports split them) joined as [896, 17] in anchor order.
 */
export function joinOutputs(outputs: { data: Float32Array; dims: readonly number[] }[]): Float32Array {
  const part = (n: number, d: number): Float32Array => {
    const t = outputs.find((o) => o.dims[1] === n && o.dims[2] === d);
    if (!t) throw new Error(`BlazeFace output [1, ${n}, ${d}] is missing`);
    return t.data;
  };
  const rows = new Float32Array(ANCHOR_COUNT * ROW);
  let row = 0;
  for (const n of [512, 384]) {
    const scores = part(n, 1), regs = part(n, 16);
    for (let i = 0; i < n; i++, row++) {
      rows[row * ROW] = scores[i]!;
      rows.set(regs.subarray(i * 16, i * 16 + 16), row * ROW + 1);
    }
  }
  return rows;
}

/** Intersection over union of boxes i and j of `boxes` ([y0, x0, y1, x1] each). */
function iou(boxes: Float32Array, i: number, j: number): number {
  const [ay0, ax0, ay1, ax1] = [boxes[4 * i]!, boxes[4 * i + 1]!, boxes[4 * i + 2]!, boxes[4 * i + 3]!];
  const [by0, bx0, by1, bx1] = [boxes[4 * j]!, boxes[4 * j + 1]!, boxes[4 * j + 2]!, boxes[4 * j + 3]!];
  const areaA = (Math.max(ay0, ay1) - Math.min(ay0, ay1)) * (Math.max(ax0, ax1) - Math.min(ax0, ax1));
  const areaB = (Math.max(by0, by1) - Math.min(by0, by1)) * (Math.max(bx0, bx1) - Math.min(bx0, bx1));
  if (areaA <= 0 || areaB <= 0) return 0;
  const h = Math.max(Math.min(Math.max(ay0, ay1), Math.max(by0, by1)) - Math.max(Math.min(ay0, ay1), Math.min(by0, by1)), 0);
  const w = Math.max(Math.min(Math.max(ax0, ax1), Math.max(bx0, bx1)) - Math.max(Math.min(ax0, ax1), Math.min(bx0, bx1)), 0);
  return (h * w) / (areaA + areaB - h * w);
}

/** Greedy non-maximum suppression, as tfjs's nonMaxSuppression: indices kept, best first. */
export function nonMaxSuppression(boxes: Float32Array, scores: Float32Array, maxOut: number, iouThreshold: number, minScore: number): number[] {
  const order = [...scores.keys()].filter((i) => scores[i]! > minScore).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const kept: number[] = [];
  for (const i of order) {
    if (kept.length >= maxOut) break;
    if (!kept.some((k) => iou(boxes, k, i) >= iouThreshold)) kept.push(i);
  }
  return kept;
}

/** Decode the [896, 17] rows into faces in image pixels (see letterbox for `at`). */
export function decode(rows: Float32Array, at: Pick<Letterboxed, 'scale' | 'dx' | 'dy'>, maxFaces: number, minScore: number): RawDetection[] {
  const boxes = new Float32Array(ANCHOR_COUNT * 4);
  const scores = new Float32Array(ANCHOR_COUNT);
  for (let i = 0; i < ANCHOR_COUNT; i++) {
    const o = i * ROW;
    const cx = rows[o + 1]! + ANCHORS[2 * i]!, cy = rows[o + 2]! + ANCHORS[2 * i + 1]!;
    const w = rows[o + 3]!, h = rows[o + 4]!;
    boxes.set([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], i * 4);
    scores[i] = 1 / (1 + Math.exp(-rows[o]!));
  }
  const keep = nonMaxSuppression(boxes, scores, maxFaces, IOU_THRESHOLD, minScore);
  // detector input pixels -> image pixels
  const back = (x: number, y: number): [number, number] => [(x - at.dx) / at.scale, (y - at.dy) / at.scale];
  return keep.map((i) => {
    const o = i * ROW;
    const [x0, y0] = back(boxes[i * 4 + 1]!, boxes[i * 4]!);
    const [x1, y1] = back(boxes[i * 4 + 3]!, boxes[i * 4 + 2]!);
    const keypoints: [number, number][] = [];
    for (let k = 0; k < 6; k++) {
      keypoints.push(back(rows[o + 5 + 2 * k]! + ANCHORS[2 * i]!, rows[o + 6 + 2 * k]! + ANCHORS[2 * i + 1]!));
    }
    return { x0, y0, x1, y1, score: scores[i]!, keypoints };
  });
}
