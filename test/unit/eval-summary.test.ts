import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DETECTORS } from '../../src/models/catalogue.js';
import { defaultCacheDir, EmbeddingCache, fromRecords, resolveCacheDir, settingsFolder, type EmbedSettings } from '../../src/pipeline/embeddings-cache.js';
import { assignFolds, labelledPairs, leaveOneOutRank1, openSetLeaveOneOut, verificationSummary } from '../../src/evaluation/index.js';
import { seededRandom } from '../../src/evaluation/projection/index.js';
import { tempDir } from '../helpers/cli.js';

describe('evaluation summaries', () => {
  it('deals folds so that every fold has same and different pairs, keeping given folds', () => {
    const items = [
      ...Array.from({ length: 20 }, () => ({ distance: 0.2, same: true, fold: -1 })),
      ...Array.from({ length: 40 }, () => ({ distance: 0.8, same: false, fold: -1 })),
      { distance: 0.5, same: true, fold: 7 },
    ];
    const f = assignFolds(items, 10);
    expect(f[60]!.fold).toBe(7);
    for (let k = 0; k < 10; k++) {
      expect(f.filter((s) => s.fold === k && s.same).length).toBeGreaterThanOrEqual(2);
      expect(f.filter((s) => s.fold === k && !s.same).length).toBe(4);
    }
  });

  it('gives every figure for scored pairs, whatever their order', () => {
    // same pairs at 0.1..0.5, different at 0.4..0.9: some overlap
    const items = [
      ...Array.from({ length: 50 }, (_, i) => ({ distance: 0.1 + (0.4 * i) / 49, same: true, fold: -1 })),
      ...Array.from({ length: 50 }, (_, i) => ({ distance: 0.4 + (0.5 * i) / 49, same: false, fold: -1 })),
    ];
    const s = verificationSummary(items, 10);
    expect(s).toMatchObject({ pairs: 100, same: 50, different: 50 });
    expect(s.kfold.perFold).toHaveLength(10);
    expect(s.kfold.mean).toBeGreaterThan(0.8);
    expect(s.auc).toBeGreaterThan(0.95);
    expect(s.auc).toBeLessThan(1);
    expect(s.eer.eer).toBeGreaterThan(0);
    expect(s.eer.eer).toBeLessThan(0.15);
    expect(s.tarAtFar.map((t) => t.far)).toEqual([1e-2, 1e-3]);
    expect(s.best.threshold).toBeGreaterThan(0.39);
    expect(s.best.threshold).toBeLessThan(0.51);
    expect(s.best.precision).toBeGreaterThan(0.8);
    expect(s.best.recall).toBeGreaterThan(0.8);
    // sorted by distance, the folds are still balanced (dealt separately for same and different)
    const sorted = verificationSummary([...items].sort((a, b) => a.distance - b.distance), 10);
    expect(sorted.kfold.perFold.map((f) => f.pairs)).toEqual(new Array(10).fill(10));
    expect(sorted.kfold.mean).toBeGreaterThan(0.8);
    expect(sorted.auc).toBeCloseTo(s.auc, 12);
  });

  it('needs both kinds of pairs', () => {
    expect(() => verificationSummary([{ distance: 1, same: true, fold: -1 }, { distance: 2, same: true, fold: -1 }]))
      .toThrow('evaluation needs both same-person and different-person pairs; there are 2 same and 0 different');
  });

  it('makes every labelled pair, or samples the different ones', () => {
    const labels = ['a', 'a', 'a', 'b', 'b', 'c'];
    const all = labelledPairs(labels);
    expect(all).toHaveLength(15);
    expect(all.filter((p) => p.same)).toHaveLength(4);
    const some = labelledPairs(labels, 5, seededRandom(1));
    expect(some.filter((p) => p.same)).toHaveLength(4);
    expect(some.filter((p) => !p.same)).toHaveLength(5);
    expect(new Set(some.map((p) => `${p.a}-${p.b}`)).size).toBe(9);
    for (const p of some) expect(labels[p.a] === labels[p.b]).toBe(p.same);
    expect(labelledPairs(labels, 5, seededRandom(1))).toEqual(some);
  });

  it('scores leave-one-out rank-1 identification', () => {
    // 1-D points: a at 0, 1; b at 10, 11; c at 5 (alone); a's 1.9 is nearer c... then b
    const xs = [0, 1, 10, 11, 5, 6.2];
    const labels = ['a', 'a', 'b', 'b', 'c', 'a'];
    const r = leaveOneOutRank1(labels, (i, j) => Math.abs(xs[i]! - xs[j]!));
    expect(r.alone).toBe(1);
    expect(r.total).toBe(5);
    expect(r.correct).toBe(4);
    expect(r.mistakes).toEqual([{ index: 5, label: 'a', predicted: 'c', nearest: 4, distance: expect.closeTo(1.2, 9) }]);
  });
});

describe('embedding cache', () => {
  const settings: EmbedSettings = { model: 'resnet34', flip: true, skipDetect: false, detector: 'blazeface', minScore: 0.5 };
  const hash = 'ab'.repeat(32);

  it('lives in XDG_CACHE_HOME or ~/.cache, or where --cache says, or nowhere', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/facekit');
    expect(defaultCacheDir({})).toMatch(/\.cache\/facekit$/);
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative' })).toMatch(/\.cache\/facekit$/);
    expect(resolveCacheDir('/tmp/c')).toBe('/tmp/c');
    expect(resolveCacheDir(false)).toBeNull();
  });

  it('keeps a folder per setting that changes the embedding', () => {
    const base = settingsFolder(settings);
    expect(base).toMatch(/^resnet34-flip-blazeface-[0-9a-f]{12}$/);
    expect(settingsFolder({ ...settings, flip: false })).not.toBe(base);
    expect(settingsFolder({ ...settings, detector: 'ssd' })).not.toBe(base);
    expect(settingsFolder({ ...settings, model: 'faceres' })).not.toBe(base);
    expect(settingsFolder({ ...settings, minScore: 0.6 })).not.toBe(base);
    expect(settingsFolder({ ...settings, skipDetect: true })).toMatch(/^resnet34-flip-prealigned-/);
    // new landmarks from a detector are a new alignment: a new folder
    const ssd = settingsFolder({ ...settings, detector: 'ssd' });
    DETECTORS.ssd.landmarksRevision += 1;
    try {
      expect(settingsFolder({ ...settings, detector: 'ssd' })).not.toBe(ssd);
      expect(settingsFolder({ ...settings, detector: 'ssd', skipDetect: true })).toBe(settingsFolder({ ...settings, skipDetect: true }));
    } finally {
      DETECTORS.ssd.landmarksRevision -= 1;
    }
    // the detector does not matter for pre-aligned crops
    expect(settingsFolder({ ...settings, skipDetect: true, detector: 'ssd' })).toBe(settingsFolder({ ...settings, skipDetect: true }));
  });

  it('gives back exactly what it stored, and ignores damaged entries', async () => {
    const root = tempDir();
    const cache = new EmbeddingCache(root, settings);
    expect(await cache.get(hash)).toBeUndefined();
    const vector = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i) / 3);
    await cache.put(hash, { image: 'x.jpg', faces: 2, box: [1, 2, 3, 4], vector, cached: false });
    const got = await cache.get(hash);
    expect(got).toMatchObject({ faces: 2, box: [1, 2, 3, 4], cached: true });
    expect(Array.from(got!.vector!)).toEqual(Array.from(vector));
    const noFace = 'cd'.repeat(32);
    await cache.put(noFace, { image: 'y.jpg', faces: 0, error: { code: 'no_face', message: 'no face found' }, cached: false });
    expect(await cache.get(noFace)).toEqual({ faces: 0, error: { code: 'no_face', message: 'no face found' }, cached: true });
    expect(JSON.parse(readFileSync(join(cache.dir, 'settings.json'), 'utf8'))).toMatchObject({ model: 'resnet34', flip: true });
    // no temporary files left behind
    expect(readdirSync(join(cache.dir, 'ab'))).toEqual([`${hash}.json`]);
    // truncated, foreign or wrong-sized entries are misses
    const path = join(cache.dir, 'ab', `${hash}.json`);
    for (const bad of ['{"v":1,"faces":1,"dim":128,"vector":"AAAA"}', '{"v":1,"fac', '[]', '{"v":99,"faces":1}']) {
      writeFileSync(path, bad);
      expect(await cache.get(hash)).toBeUndefined();
    }
  });

  it('warns once and goes on when it cannot write', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'embeddings'), 'a file where the folder should be');
    const warnings: string[] = [];
    const cache = new EmbeddingCache(root, settings, (m) => warnings.push(m));
    await cache.put(hash, { image: 'x.jpg', faces: 1, vector: new Float32Array(128), cached: false });
    await cache.put(hash, { image: 'x.jpg', faces: 1, vector: new Float32Array(128), cached: false });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot write the embedding cache/);
    mkdirSync(join(root, 'other'));
  });

  it('takes the largest face from records', () => {
    const rec = { schema: 1, image: 'a.jpg', face: 0, box: [0, 0, 5, 5] as [number, number, number, number], embedding: { model: 'resnet34', dim: 2, vector: [1, 2] } };
    expect(fromRecords('a.jpg', [rec, { ...rec, face: 1 }])).toMatchObject({ faces: 2, box: [0, 0, 5, 5], vector: Float32Array.from([1, 2]) });
    expect(fromRecords('b.jpg', [{ schema: 1, image: 'b.jpg', face: null, error: { code: 'no_face', message: 'no face found' } }]))
      .toEqual({ image: 'b.jpg', faces: 0, error: { code: 'no_face', message: 'no face found' } });
  });
});

describe('openSetLeaveOneOut', () => {
  it('counts right identities within the threshold and strangers beyond it', () => {
    // two people on a line: a at 0, 0.1; b at 1, 1.1; c alone at 5
    const xs = [0, 0.1, 1, 1.1, 5];
    const labels = ['a', 'a', 'b', 'b', 'c'];
    const d = (i: number, j: number) => Math.abs(xs[i]! - xs[j]!);
    expect(openSetLeaveOneOut(labels, d, 0.5)).toEqual({ threshold: 0.5, accepted: 4, rejected: 4, total: 4 });
    expect(openSetLeaveOneOut(labels, d, 0.95)).toMatchObject({ accepted: 4, rejected: 2 });
    expect(openSetLeaveOneOut(labels, d, 0.05)).toMatchObject({ accepted: 0, rejected: 4 });
  });
});
