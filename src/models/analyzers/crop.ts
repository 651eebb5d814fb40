/**
 * Face crops for the analysis models. Each model was trained on faces cut out its own way (a box
 * grown by some factor, upright or not, square or not); a `CropSpec` says which, and `faceCrop`
 * cuts it from the decoded image with one affine warp.
 */
import { warpAffine, type Affine } from '../../core/geometry.js';
import type { RgbImage } from '../../core/image.js';
import type { Box, Landmarks } from '../../core/records.js';

/** A face as the analyzers get it: box and landmarks in the decoded image's pixels. */
export interface FaceGeometry {
  box: Box;
  landmarks?: Landmarks;
}

export interface CropSpec {
  /** output side in pixels (crops are square) */
  size: number;
  /** the square's side as a multiple of the box's longer side */
  scale: number;
  /** turn the face upright (eyes level) before cutting, as Human's pipeline does */
  upright: boolean;
  /**
   * Keep the grown square inside the image by sliding it (faceplugin's crop) instead of repeating
   * the border pixels; the scale then shrinks to what fits.
   */
  insideImage?: boolean;
  /** grow width and height each by `scale` and stretch to the square output (faceplugin's crop) */
  stretch?: boolean;
  /** move the centre down by this share of the box's height (a box from forehead to chin, for nets trained on brow to chin) */
  shiftY?: number;
}

/** The eyes' angle in radians (0 when level), from the landmarks when there are any. */
function eyeAngle(lm: Landmarks | undefined): number {
  if (!lm) return 0;
  const [lx, ly] = lm.leftEye;
  const [rx, ry] = lm.rightEye;
  return Math.atan2(ry - ly, rx - lx);
}

/** The rectangle (centre, width, height) a spec cuts around a box, moved inside the image when asked. */
export function cropRect(img: { width: number; height: number }, box: Box, spec: CropSpec): { cx: number; cy: number; w: number; h: number } {
  const [x, y, bw, bh] = box;
  let cx = x + bw / 2, cy = y + bh / 2 + (spec.shiftY ?? 0) * bh;
  const side = Math.max(bw, bh, 1);
  let [w, h] = spec.stretch ? [Math.max(bw, 1), Math.max(bh, 1)] : [side, side];
  let scale = spec.scale;
  if (spec.insideImage) {
    scale = Math.min(scale, (img.width - 1) / w, (img.height - 1) / h);
    w *= scale; h *= scale;
    cx = Math.min(Math.max(cx, w / 2), img.width - w / 2);
    cy = Math.min(Math.max(cy, h / 2), img.height - h / 2);
  } else {
    w *= scale; h *= scale;
  }
  return { cx, cy, w, h };
}

/** The crop `spec` describes around `face`, as packed RGB of spec.size x spec.size. */
export function faceCrop(img: RgbImage, face: FaceGeometry, spec: CropSpec): RgbImage {
  const { cx, cy, w, h } = cropRect(img, face.box, spec);
  const angle = spec.upright ? eyeAngle(face.landmarks) : 0;
  const kx = spec.size / w, ky = spec.size / h;
  const cos = Math.cos(-angle), sin = Math.sin(-angle);
  // image -> crop: move the centre to the origin, rotate by -angle, scale, move to the crop's centre
  const [a, b, c, d] = [cos * kx, -sin * kx, sin * ky, cos * ky];
  const m: Affine = [a, b, spec.size / 2 - (a * cx + b * cy), c, d, spec.size / 2 - (c * cx + d * cy)];
  return warpAffine(img, m, spec.size, spec.size);
}

/** Packed RGB bytes as float32 NHWC [h, w, 3], each value mapped by `f`. */
export function toNhwc(img: RgbImage, f: (v: number, channel: number) => number): Float32Array {
  const out = new Float32Array(img.width * img.height * 3);
  for (let i = 0; i < out.length; i++) out[i] = f(img.data[i]!, i % 3);
  return out;
}

/** Packed RGB bytes as float32 NCHW [3, h, w] (ONNX models exported from PyTorch), mapped by `f`. */
export function toNchw(img: RgbImage, f: (v: number, channel: number) => number): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = f(img.data[p * 3 + c]!, c);
  }
  return out;
}

/** The crop mirrored left-right (test-time augmentation: a net's answer averaged over both). */
export function mirror(img: RgbImage): RgbImage {
  const { width: w, height: h } = img;
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3, d = (y * w + (w - 1 - x)) * 3;
      out[d] = img.data[s]!; out[d + 1] = img.data[s + 1]!; out[d + 2] = img.data[s + 2]!;
    }
  }
  return { data: out, width: w, height: h };
}

export function softmax(logits: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(logits));
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const sum = e.reduce((s, v) => s + v, 0);
  return e.map((v) => v / sum);
}
