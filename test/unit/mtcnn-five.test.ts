import { describe, expect, it } from 'vitest';
import { ARCFACE_FIVE, mtcnnFive } from '../../src/models/detectors/mtcnn-five.js';
import { FEATURE_POINTS, MEAN } from '../../src/models/detectors/mesh-five.js';
import { TEMPLATES, templateTransform } from '../../src/stages/alignment.js';
import type { Landmarks, Point } from '../../src/core/records.js';

const FIVE = ['leftEye', 'rightEye', 'noseTip', 'mouthLeft', 'mouthRight'] as const;

/** An average face: the mesh's points at their mean position on aligned crops (the rest unused). */
function meanMesh(): number[][] {
  const mesh: number[][] = Array.from({ length: 468 }, () => [56, 70, 0]);
  FEATURE_POINTS.forEach((i, k) => { mesh[i] = [MEAN[k]![0], MEAN[k]![1], 0]; });
  return mesh;
}

describe('blazeface five points (MTCNN-style, predicted from the mesh)', () => {
  it('aims at the ArcFace template the align stage uses', () => {
    for (const k of FIVE) expect(TEMPLATES['arcface-112'].points[k]).toEqual(ARCFACE_FIVE[k]);
  });

  it('moves with the face: rotating, scaling and shifting the mesh does the same to the points', () => {
    const mesh = meanMesh();
    const angle = 0.4, s = 2.5, t: Point = [300, -40];
    const move = (p: number[]): Point => [
      s * (Math.cos(angle) * p[0]! - Math.sin(angle) * p[1]!) + t[0],
      s * (Math.sin(angle) * p[0]! + Math.cos(angle) * p[1]!) + t[1],
    ];
    const a = mtcnnFive(mesh);
    const b = mtcnnFive(mesh.map((p) => [...move(p), 0]));
    for (const k of FIVE) {
      const want = move(a[k]);
      expect(b[k][0]).toBeCloseTo(want[0], 6);
      expect(b[k][1]).toBeCloseTo(want[1], 6);
    }
  });

  it('puts an average face close to the template, and aligning to it is a similarity', () => {
    const five = mtcnnFive(meanMesh());
    for (const k of FIVE) {
      expect(Math.abs(five[k][0] - ARCFACE_FIVE[k][0])).toBeLessThan(2);
      expect(Math.abs(five[k][1] - ARCFACE_FIVE[k][1])).toBeLessThan(2);
    }
    // The five points are the template's, mapped by one similarity: the fit is exact.
    const m = templateTransform(five as Landmarks, TEMPLATES['arcface-112']);
    for (const k of FIVE) {
      const p = five[k];
      expect(m[0] * p[0] + m[1] * p[1] + m[2]).toBeCloseTo(ARCFACE_FIVE[k][0], 6);
      expect(m[3] * p[0] + m[4] * p[1] + m[5]).toBeCloseTo(ARCFACE_FIVE[k][1], 6);
    }
  });
});
