import { describe, expect, it } from 'vitest';
import { alignFace, boxTransform, TEMPLATES, templateTransform, prealignedLandmarks } from '../../src/stages/alignment.js';
import { fitSimilarity, invertAffine, warpAffine } from '../../src/core/geometry.js';
import type { Landmarks, Point } from '../../src/core/records.js';

const apply = (m: number[], p: Point): Point => [m[0]! * p[0] + m[1]! * p[1] + m[2]!, m[3]! * p[0] + m[4]! * p[1] + m[5]!];

describe('fitSimilarity', () => {
  it('recovers a known rotation, scale and shift exactly', () => {
    const angle = 0.3, s = 1.7;
    const truth = [s * Math.cos(angle), -s * Math.sin(angle), 12, s * Math.sin(angle), s * Math.cos(angle), -5];
    const src: Point[] = [[10, 20], [40, 22], [25, 40], [15, 55], [35, 56]];
    const dst = src.map((p) => apply(truth, p));
    const m = fitSimilarity(src, dst);
    m.forEach((v, i) => expect(v).toBeCloseTo(truth[i]!, 9));
    const inv = invertAffine(m);
    const back = apply(inv, apply(m, [3, 4]));
    expect(back[0]).toBeCloseTo(3, 9);
    expect(back[1]).toBeCloseTo(4, 9);
  });
});

describe('alignFace', () => {
  // A face tilted by 20 degrees: its eyes are not level.
  const tilt = (20 * Math.PI) / 180;
  const rot = (p: Point): Point => [100 + (p[0] - 100) * Math.cos(tilt) - (p[1] - 100) * Math.sin(tilt), 100 + (p[0] - 100) * Math.sin(tilt) + (p[1] - 100) * Math.cos(tilt)];
  const upright: Landmarks = { leftEye: [80, 90], rightEye: [120, 90], noseTip: [100, 110], mouthLeft: [85, 130], mouthRight: [115, 130] };
  const tilted = Object.fromEntries(Object.entries(upright).map(([k, v]) => [k, rot(v as Point)])) as unknown as Landmarks;

  it('levels the eyes and puts them on the template', () => {
    const t = TEMPLATES['arcface-112'];
    const m = templateTransform(tilted, t);
    const l = apply(m, tilted.leftEye), r = apply(m, tilted.rightEye);
    expect(Math.abs(l[1] - r[1])).toBeLessThan(1.5);
    // The rotation undone is the tilt.
    expect((Math.atan2(m[3], m[0]) * 180) / Math.PI).toBeCloseTo(-20, 0);
  });

  it('uses the eyes alone when the template needs points the face lacks', () => {
    const t = TEMPLATES['dlib-150'];
    const m = templateTransform({ ...upright }, t);
    const l = apply(m, upright.leftEye);
    expect(l[0]).toBeCloseTo(t.points.leftEye![0], 6);
    expect(l[1]).toBeCloseTo(t.points.leftEye![1], 6);
  });

  it('produces a crop of the template size whose pixels come from the face', () => {
    const img = { width: 200, height: 200, data: new Uint8Array(200 * 200 * 3) };
    // left half red, right half blue
    for (let y = 0; y < 200; y++) for (let x = 0; x < 200; x++) img.data[(y * 200 + x) * 3 + (x < 100 ? 0 : 2)] = 255;
    const res = alignFace(img, { landmarks: upright }, TEMPLATES['dlib-150']);
    expect([res.crop.width, res.crop.height]).toEqual([150, 150]);
    expect(res.crop.data[(75 * 150 + 20) * 3]).toBe(255); // left: red
    expect(res.crop.data[(75 * 150 + 130) * 3 + 2]).toBe(255); // right: blue
    const box = alignFace(img, { box: [50, 50, 100, 100] }, TEMPLATES['arcface-112'], false);
    expect(box.angle).toBe(0);
    expect(box.rotated).toBe(false);
  });

  it('warps the identity to the same pixels', () => {
    const img = { width: 4, height: 3, data: Uint8Array.from({ length: 36 }, (_, i) => i * 7) };
    expect(Array.from(warpAffine(img, [1, 0, 0, 0, 1, 0], 4, 3).data)).toEqual(Array.from(img.data));
    expect(boxTransform([0, 0, 112, 112], TEMPLATES['arcface-112'])).toEqual([1, 0, 0, 0, 1, 0]);
  });

  it('maps a pre-aligned crop onto the ArcFace template unchanged', () => {
    const m = templateTransform(prealignedLandmarks(112, 112), TEMPLATES['arcface-112']);
    [1, 0, 0, 0, 1, 0].forEach((v, i) => expect(m[i]).toBeCloseTo(v, 9));
  });
});
