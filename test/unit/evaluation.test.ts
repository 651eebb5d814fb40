import { describe, expect, it } from 'vitest';
import { accuracyAt, bestThreshold, equalErrorRate, kFoldAccuracy, parseCsvPairs, parseLfwPairs, precisionRecall, rocAuc, rocCurve, tarAtFar } from '../../src/evaluation/index.js';
import { distance } from '../../src/stages/verification.js';

describe('distances', () => {
  it('computes the three metrics', () => {
    expect(distance([1, 0], [0, 1], 'cosine')).toBeCloseTo(1, 9);
    expect(distance([3, 0], [0, 4], 'euclidean')).toBeCloseTo(5, 9);
    expect(distance([3, 0], [0, 4], 'euclidean_l2')).toBeCloseTo(Math.SQRT2, 9);
    expect(() => distance([1, 2], [1, 2, 3], 'cosine')).toThrow(/2-d with a 3-d/);
  });
});

describe('verification metrics', () => {
  const items = [
    { distance: 0.1, same: true }, { distance: 0.2, same: true }, { distance: 0.35, same: false },
    { distance: 0.3, same: true }, { distance: 0.5, same: false }, { distance: 0.6, same: false },
  ];
  it('finds the threshold that separates', () => {
    const b = bestThreshold(items);
    expect(b.accuracy).toBe(1);
    expect(b.threshold).toBeGreaterThan(0.3);
    expect(b.threshold).toBeLessThan(0.35);
    expect(accuracyAt(items, 0.15)).toBeCloseTo(4 / 6, 9);
  });
  it('has AUC 1 and EER 0 for separable scores, 0.5-ish for a coin', () => {
    const roc = rocCurve(items);
    expect(rocAuc(roc)).toBeCloseTo(1, 9);
    expect(equalErrorRate(roc).eer).toBe(0);
    expect(tarAtFar(roc, 0).tar).toBe(1);
    const coin = Array.from({ length: 2000 }, (_, i) => ({ distance: (i * 7919) % 1000, same: i % 2 === 0 }));
    expect(rocAuc(rocCurve(coin))).toBeGreaterThan(0.4);
    expect(rocAuc(rocCurve(coin))).toBeLessThan(0.6);
  });
  it('scores each fold at the threshold of the other folds', () => {
    const k = kFoldAccuracy(items.map((s, i) => ({ ...s, fold: i % 2 })), 2);
    expect(k.perFold).toHaveLength(2);
    expect(k.mean).toBeGreaterThan(0.5);
    expect(precisionRecall(items, 0.32)).toEqual({ precision: 1, recall: 1 });
  });
});

describe('pair lists', () => {
  it("reads LFW's pairs.txt into folds", () => {
    const text = '2\t1\nA\t1\t2\nB\t1\tC\t3\nD\t2\t3\nE\t1\tF\t12\n';
    const p = parseLfwPairs(text, '/img');
    expect(p.folds).toBe(2);
    expect(p.pairs.map((x) => x.fold)).toEqual([0, 0, 1, 1]);
    expect(p.pairs[0]).toMatchObject({ a: '/img/A/A_0001.jpg', b: '/img/A/A_0002.jpg', same: true, line: 2 });
    expect(p.pairs[3]!.b).toBe('/img/F/F_0012.jpg');
  });
  it('reads a CSV and names the bad line', () => {
    const p = parseCsvPairs('image_a,image_b,same\na.jpg,b.jpg,yes\nc.jpg,d.jpg,maybe\ne.jpg,f.jpg\n"g h.jpg",i.jpg,0\n', '/base');
    expect(p.pairs.map((x) => x.same)).toEqual([true, false]);
    expect(p.pairs[1]!.a).toBe('/base/g h.jpg');
    expect(p.problems).toEqual([
      { line: 3, message: '"maybe" is not yes/no, 1/0 or true/false' },
      { line: 4, message: 'expected at least 3 fields (image_a,image_b,same), found 2' },
    ]);
  });
  it("reads deepface's master.csv: its columns by name, the distance columns after them ignored", () => {
    const header = 'file_x,file_y,decision,VGG-Face_cosine,VGG-Face_euclidean,VGG-Face_euclidean_l2,Facenet_cosine,Facenet_euclidean,Facenet_euclidean_l2,OpenFace_cosine,OpenFace_euclidean_l2,DeepFace_cosine,DeepFace_euclidean,DeepFace_euclidean_l2';
    const p = parseCsvPairs(`${header}\ndeepface/tests/dataset/img1.jpg,deepface/tests/dataset/img2.jpg,Yes,0.2,0.5,0.6,0.1,7,0.5,0.1,0.4,0.1,40,0.4\nimg1.jpg,img5.jpg,No,0.8,1.1,1.2,0.7,12,1.1,0.5,1.0,0.3,50,0.8\n`);
    expect(p.problems).toEqual([]);
    expect(p.pairs).toMatchObject([{ a: 'deepface/tests/dataset/img1.jpg', b: 'deepface/tests/dataset/img2.jpg', same: true }, { a: 'img1.jpg', b: 'img5.jpg', same: false }]);
    // columns in another order, named
    const q = parseCsvPairs('decision,score,img2,img1\nyes,0.3,b.png,a.png\n');
    expect(q.pairs).toMatchObject([{ a: 'a.png', b: 'b.png', same: true }]);
  });
});
