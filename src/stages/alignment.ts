/**
 * Align: rotate and scale a face so that its landmarks land on the canonical template of the
 * recognition model (eyes level, same size and position every time), then crop. Pure functions:
 * landmarks + pixels in, pixels + transform out.
 */
import type { RgbImage } from '../core/image.js';
import type { Box, LandmarkName, Landmarks, Point } from '../core/records.js';
import type { TemplateId } from '../models/catalogue.js';
import { FacekitError } from '../core/errors.js';
import { fitSimilarity, warpAffine, type Affine } from '../core/geometry.js';

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
  // any-image mode: no points; the whole image is letterboxed into the square (boxTransform)
  'image-224': { id: 'image-224', size: [224, 224], points: {}, fitSets: [] },
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
  // a template without points (a whole image) has nothing to rotate to
  if (rotate && template.fitSets.length === 0) rotate = false;
  if (rotate) {
    if (!face.landmarks) throw new FacekitError('missing_key', 'record has no "landmarks" (run `facekit detect` first)');
    matrix = templateTransform(face.landmarks, template);
  } else {
    if (!face.box) throw new FacekitError('missing_key', 'record has no "box" (run `facekit detect` first)');
    matrix = boxTransform(face.box, template);
  }
  if (!matrix.every(Number.isFinite)) throw new FacekitError('bad_record', 'landmarks give no usable alignment (not finite)');
  const crop = warpAffine(img, matrix, template.size[0], template.size[1]);
  const angle = (Math.atan2(matrix[3], matrix[0]) * 180) / Math.PI;
  return { crop, matrix, angle: Math.round(angle * 100) / 100, rotated: rotate };
}
