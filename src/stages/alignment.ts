/**
 * Align: rotate and scale a face so that its landmarks land on the canonical template of the
 * recognition model (eyes level, same size and position every time), then crop. Pure functions:
 * landmarks + pixels in, pixels + transform out.
 */
import type { RgbImage } from '../core/image.js';
import type { Box, LandmarkName, Landmarks, Point } from '../core/records.js';
import type { TemplateId } from '../models/catalogue.js';
import { FacekitError } from '../core/errors.js';

export interface Template {
  id: TemplateId;
  size: [number, number];
  /** Where named points sit in the output crop, in pixels. */
  points: Partial<Record<LandmarkName, Point>>;
  /** The points fitted, best first: the first set whose points a face has is used. */
  fitSets: LandmarkName[][];
}

/** dlib's 5-point chip template (get_face_chip_details, size 150, padding 0.25). */
function dlibPoint(x: number, y: number): Point {
  const pad = 0.25;
  return [((pad + x) / (2 * pad + 1)) * 150, ((pad + y) / (2 * pad + 1)) * 150];
}
const dlibLeftOuter = dlibPoint(0.1205750620789, 0.2137274526848);
const dlibLeftInner = dlibPoint(0.3340850613712, 0.2290642403242);
const dlibRightInner = dlibPoint(0.6460604764104, 0.2289674387433);
const dlibRightOuter = dlibPoint(0.8595674595992, 0.2134981538014);
const mid = (a: Point, b: Point): Point => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];

/** InsightFace's ArcFace template for 112x112 crops (also what the LFW crops follow). */
const ARCFACE: Record<'leftEye' | 'rightEye' | 'noseTip' | 'mouthLeft' | 'mouthRight', Point> = {
  leftEye: [38.2946, 51.6963],
  rightEye: [73.5318, 51.5014],
  noseTip: [56.0252, 71.7366],
  mouthLeft: [41.5493, 92.3655],
  mouthRight: [70.7299, 92.2041],
};
const scaled = (pts: Record<string, Point>, s: number): Record<string, Point> =>
  Object.fromEntries(Object.entries(pts).map(([k, [x, y]]) => [k, [x * s, y * s] as Point]));

const FIVE: LandmarkName[] = ['leftEye', 'rightEye', 'noseTip', 'mouthLeft', 'mouthRight'];
const EYES: LandmarkName[] = ['leftEye', 'rightEye'];

export const TEMPLATES: Record<TemplateId, Template> = {
  'dlib-150': {
    id: 'dlib-150',
    size: [150, 150],
    points: {
      leftEyeOuter: dlibLeftOuter,
      leftEyeInner: dlibLeftInner,
      rightEyeInner: dlibRightInner,
      rightEyeOuter: dlibRightOuter,
      noseBase: dlibPoint(0.4901123135679, 0.6277975316475),
      leftEye: mid(dlibLeftOuter, dlibLeftInner),
      rightEye: mid(dlibRightInner, dlibRightOuter),
    },
    fitSets: [['leftEyeOuter', 'leftEyeInner', 'rightEyeInner', 'rightEyeOuter', 'noseBase'], EYES],
  },
  'arcface-112': { id: 'arcface-112', size: [112, 112], points: ARCFACE, fitSets: [FIVE, EYES] },
  'faceres-224': { id: 'faceres-224', size: [224, 224], points: scaled(ARCFACE, 2), fitSets: [FIVE, EYES] },
};

/** Landmarks of a face that is already aligned to the ArcFace template (pre-aligned crops). */
export function prealignedLandmarks(width: number, height: number): Landmarks {
  const sx = width / 112;
  const sy = height / 112;
  const p = (q: Point): Point => [q[0] * sx, q[1] * sy];
  return {
    leftEye: p(ARCFACE.leftEye), rightEye: p(ARCFACE.rightEye), noseTip: p(ARCFACE.noseTip),
    mouthLeft: p(ARCFACE.mouthLeft), mouthRight: p(ARCFACE.mouthRight),
  };
}

/** 2x3 affine matrix [a, b, tx, c, d, ty]: x' = a x + b y + tx, y' = c x + d y + ty. */
export type Affine = [number, number, number, number, number, number];

/**
 * Least-squares similarity transform (rotation, uniform scale, translation) taking `src` onto
 * `dst` (Umeyama 1991, as dlib's find_similarity_transform and skimage's SimilarityTransform).
 */
export function fitSimilarity(src: Point[], dst: Point[]): Affine {
  const n = src.length;
  if (n < 2 || dst.length !== n) throw new Error('fitSimilarity needs at least two point pairs');
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
  if (den === 0) throw new Error('landmarks are all at one point');
  const a = num_a / den;
  const b = num_b / den;
  return [a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy)];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (det === 0) throw new Error('singular transform');
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

export interface AlignResult {
  crop: RgbImage;
  /** image -> crop transform */
  matrix: Affine;
  /** degrees of rotation applied (positive = counter-clockwise in the image) */
  angle: number;
  rotated: boolean;
}

/** The transform that puts this face's landmarks onto the template. */
export function templateTransform(landmarks: Landmarks, template: Template): Affine {
  for (const set of template.fitSets) {
    const src: Point[] = [];
    const dst: Point[] = [];
    for (const name of set) {
      const p = landmarks[name];
      const q = template.points[name];
      if (p && q) {
        src.push([p[0], p[1]]);
        dst.push(q);
      }
    }
    if (src.length === set.length) return fitSimilarity(src, dst);
  }
  throw new FacekitError('missing_key', `landmarks lack the points template ${template.id} needs (${template.fitSets.map((s) => s.join('+')).join(' or ')})`);
}

/** Box-only crop: no rotation, the box's square around its centre scaled to the template size. */
export function boxTransform(box: Box, template: Template): Affine {
  const [x, y, w, h] = box;
  const side = Math.max(w, h);
  const s = template.size[0] / side;
  const cx = x + w / 2, cy = y + h / 2;
  return [s, 0, template.size[0] / 2 - s * cx, 0, s, template.size[1] / 2 - s * cy];
}

export function alignFace(img: RgbImage, face: { landmarks?: Landmarks; box?: Box }, template: Template, rotate = true): AlignResult {
  let matrix: Affine;
  if (rotate) {
    if (!face.landmarks) throw new FacekitError('missing_key', 'record has no "landmarks" (run `facekit detect` first)');
    matrix = templateTransform(face.landmarks, template);
  } else {
    if (!face.box) throw new FacekitError('missing_key', 'record has no "box" (run `facekit detect` first)');
    matrix = boxTransform(face.box, template);
  }
  const crop = warpAffine(img, matrix, template.size[0], template.size[1]);
  const angle = (Math.atan2(matrix[3], matrix[0]) * 180) / Math.PI;
  return { crop, matrix, angle: Math.round(angle * 100) / 100, rotated: rotate };
}
