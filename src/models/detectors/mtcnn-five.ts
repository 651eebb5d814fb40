/**
 * Blazeface's five points (eye centres, nose tip, mouth corners) the way MTCNN places them,
 * predicted from FaceMesh's 468 points, so that fitting them to the ArcFace template aligns a face
 * the way the recognizers' training data (and LFW's aligned crops) were aligned.
 */
import type { Landmarks } from '../../core/records.js';
import { fitSimilarity, invertAffine, type Affine } from '../../core/geometry.js';
import { pt } from './detector.js';
import { FEATURE_POINTS, FIT_POINTS, MEAN, WEIGHTS } from './mesh-five.js';

/** InsightFace's ArcFace template for 112x112 crops: where MTCNN's five points are aligned to. */
export const ARCFACE_FIVE = {
  leftEye: [38.2946, 51.6963],
  rightEye: [73.5318, 51.5014],
  noseTip: [56.0252, 71.7366],
  mouthLeft: [41.5493, 92.3655],
  mouthRight: [70.7299, 92.2041],
} as const satisfies Partial<Record<keyof Landmarks, readonly [number, number]>>;

/** Where each fitted point sits on an average aligned crop. */
const FIT_MEAN: [number, number][] = FIT_POINTS.map((i) => [...MEAN[FEATURE_POINTS.indexOf(i)]!] as [number, number]);

const apply = (m: Affine, p: readonly number[]): [number, number] => [m[0] * p[0]! + m[1] * p[1]! + m[2], m[3] * p[0]! + m[4] * p[1]! + m[5]];

/**
 * The five points (eye centres, nose tip, mouth corners) where MTCNN would put them, predicted
 * from the whole mesh. Recognizers are trained on faces aligned by MTCNN's five points, and
 * FaceMesh's own points for them sit elsewhere (its eye-ring centres 1.2 px lower, nose tip 3.5 px
 * lower, mouth corners 2.1 px higher on a 112 px crop) and, worse, differ from MTCNN's by 6.5% in
 * scale from face to face, with the pose. So: fit the mesh to its mean position on ArcFace-aligned
 * crops (a similarity), predict from the points' positions in that frame the similarity that is
 * left to reach the crop's alignment (a linear regression fitted on LFW, ./mesh-five.ts), and
 * map the template's five points back into the image. LFW accuracy through the whole pipeline on
 * the held-out folds 6-10, mobilefacenet: 98.83% with the plain mesh points, 98.77% with them
 * fitted to their mean positions instead, 98.93% with the similarity alone, 99.23% with the
 * regression (99.40% on the crops as they are). `facekit eval` on all 10 folds: 98.63% -> 99.07%.
 */
export function mtcnnFive(mesh: number[][]): Pick<Landmarks, 'leftEye' | 'rightEye' | 'noseTip' | 'mouthLeft' | 'mouthRight'> {
  const toMean = fitSimilarity(FIT_POINTS.map((i) => pt(mesh[i])), FIT_MEAN);
  const c = [...WEIGHTS[0]!];
  FEATURE_POINTS.forEach((i, k) => {
    const [x, y] = apply(toMean, mesh[i]!);
    const wx = WEIGHTS[1 + 2 * k]!, wy = WEIGHTS[2 + 2 * k]!;
    for (let j = 0; j < 4; j++) c[j]! += (x / 10) * wx[j]! + (y / 10) * wy[j]!;
  });
  const [a, b, tx, ty] = c as [number, number, number, number];
  // image -> crop = correction * toMean; the five points are the template's, mapped back
  const m: Affine = [
    (1 + a) * toMean[0] - b * toMean[3], (1 + a) * toMean[1] - b * toMean[4], (1 + a) * toMean[2] - b * toMean[5] + tx,
    b * toMean[0] + (1 + a) * toMean[3], b * toMean[1] + (1 + a) * toMean[4], b * toMean[2] + (1 + a) * toMean[5] + ty,
  ];
  const back = invertAffine(m);
  return {
    leftEye: apply(back, ARCFACE_FIVE.leftEye),
    rightEye: apply(back, ARCFACE_FIVE.rightEye),
    noseTip: apply(back, ARCFACE_FIVE.noseTip),
    mouthLeft: apply(back, ARCFACE_FIVE.mouthLeft),
    mouthRight: apply(back, ARCFACE_FIVE.mouthRight),
  };
}
