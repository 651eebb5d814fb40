/**
 * Plane geometry for faces: the similarity transform that takes landmarks onto a template, and
 * resampling an image through an affine map. Pure functions over plain arrays and pixels.
 */
import { FacekitError } from './errors.js';
import type { RgbImage } from './image.js';
import type { Point } from './records.js';

/** 2x3 affine matrix [a, b, tx, c, d, ty]: x' = a x + b y + tx, y' = c x + d y + ty. */
export type Affine = [number, number, number, number, number, number];

/**
 * Least-squares similarity transform (rotation, uniform scale, translation) taking `src` onto
 * `dst` (Umeyama 1991, as dlib's find_similarity_transform and skimage's SimilarityTransform).
 */
export function fitSimilarity(src: Point[], dst: Point[]): Affine {
  const n = src.length;
  if (n < 2 || dst.length !== n) throw new FacekitError('bad_record', 'an alignment needs at least two landmarks');
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i]![0]; sy += src[i]![1]; dx += dst[i]![0]; dy += dst[i]![1];
  }
  sx /= n; sy /= n; dx /= n; dy /= n;
  // With centred points, the best similarity is [[a, -b], [b, a]] where
  // a = sum(s.d) / sum(|s|^2), b = sum(s x d) / sum(|s|^2).
  let num_a = 0, num_b = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const px = src[i]![0] - sx, py = src[i]![1] - sy;
    const qx = dst[i]![0] - dx, qy = dst[i]![1] - dy;
    num_a += px * qx + py * qy;
    num_b += px * qy - py * qx;
    den += px * px + py * py;
  }
  if (!(den > 0) || !Number.isFinite(den)) throw new FacekitError('bad_record', 'landmarks cannot be aligned (all at one point, or not finite)');
  const a = num_a / den;
  const b = num_b / den;
  return [a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy)];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (det === 0 || !Number.isFinite(det)) throw new FacekitError('bad_record', 'landmarks give a singular transform');
  const ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
  return [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)];
}

/**
 * Resample `img` through the affine map `toOutput` (image -> crop) into a width x height crop,
 * bilinear, with the border pixels repeated outside the image.
 */
export function warpAffine(img: RgbImage, toOutput: Affine, width: number, height: number): RgbImage {
  const [a, b, tx, c, d, ty] = invertAffine(toOutput);
  const out = new Uint8Array(width * height * 3);
  const W = img.width, H = img.height, src = img.data;
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      // Pixel centres: (u + 0.5, v + 0.5) in the crop maps to a continuous position in the image.
      const x = a * (u + 0.5) + b * (v + 0.5) + tx - 0.5;
      const y = c * (u + 0.5) + d * (v + 0.5) + ty - 0.5;
      const xc = Math.min(Math.max(x, 0), W - 1);
      const yc = Math.min(Math.max(y, 0), H - 1);
      const x0 = Math.floor(xc), y0 = Math.floor(yc);
      const x1 = Math.min(x0 + 1, W - 1), y1 = Math.min(y0 + 1, H - 1);
      const fx = xc - x0, fy = yc - y0;
      const i00 = (y0 * W + x0) * 3, i01 = (y0 * W + x1) * 3, i10 = (y1 * W + x0) * 3, i11 = (y1 * W + x1) * 3;
      const o = (v * width + u) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const top = src[i00 + ch]! + (src[i01 + ch]! - src[i00 + ch]!) * fx;
        const bot = src[i10 + ch]! + (src[i11 + ch]! - src[i10 + ch]!) * fx;
        out[o + ch] = Math.round(top + (bot - top) * fy);
      }
    }
  }
  return { data: out, width, height };
}


/**
 * A record's coordinates (box, landmarks, mesh) multiplied by (sx, sy): between an image's
 * original pixels and a shrunk copy of it.
 */
export function scaleRecord<R extends { box?: [number, number, number, number]; landmarks?: object; mesh?: number[][] }>(r: R, sx: number, sy: number): R {
  if (sx === 1 && sy === 1) return r;
  const out = { ...r };
  if (r.box) out.box = [r.box[0] * sx, r.box[1] * sy, r.box[2] * sx, r.box[3] * sy];
  if (r.landmarks) {
    out.landmarks = Object.fromEntries(Object.entries(r.landmarks).map(([k, p]) => [k, [(p as Point)[0] * sx, (p as Point)[1] * sy]]));
  }
  if (r.mesh) out.mesh = r.mesh.map((q) => [q[0]! * sx, q[1]! * sy, ...q.slice(2).map((z) => z * sx)]);
  return out;
}
