/** The one plan builder and the one verification policy: what they derive, what they refuse. */
import { describe, expect, it } from 'vitest';
import { buildPlan, DEFAULT_PLAN } from '../../src/pipeline/plan.js';
import { decideThreshold, defaultThreshold, parseMetric } from '../../src/recognition/policy.js';

describe('buildPlan', () => {
  it('derives the scheme from the model', () => {
    expect(buildPlan({ model: 'faceres' }).scheme).toBe('raw');
    expect(buildPlan().scheme).toBe('arcface'); // mobilefacenet's
    expect(buildPlan({ model: 'resnet34' }).scheme).toBe('dlib');
    expect(buildPlan({ detector: 'ssd', upTo: 'detect' })).toMatchObject({ ...DEFAULT_PLAN, detector: 'ssd', upTo: 'detect' });
  });

  it("refuses a plan that embeds with another model's pixel scaling, unless that is asked for", () => {
    expect(() => buildPlan({ model: 'faceres', scheme: 'dlib' })).toThrow(/faceres needs the "raw" scheme, not "dlib"/);
    expect(buildPlan({ model: 'faceres', scheme: 'dlib', upTo: 'normalize' }).scheme).toBe('dlib');
    expect(buildPlan({ model: 'faceres', scheme: 'dlib', anyScheme: true }).scheme).toBe('dlib');
  });

  it('refuses unknown ids and values out of range', () => {
    expect(() => buildPlan({ model: 'arcface' })).toThrow(/unknown model "arcface"/);
    expect(() => buildPlan({ detector: 'yunet' })).toThrow(/unknown detector "yunet"/);
    expect(() => buildPlan({ scheme: 'zscore' })).toThrow(/unknown scheme/);
    expect(() => buildPlan({ minScore: 1.5 })).toThrow(/min score must be a number from 0 to 1/);
    expect(() => buildPlan({ maxFaces: 0 })).toThrow(/max faces/);
    expect(() => buildPlan({ maxPixels: 2.5 })).toThrow(/max pixels must be an integer/);
  });
});

describe('the verification policy', () => {
  it('gives the calibrated threshold per model and metric', () => {
    expect(decideThreshold('resnet34', 'euclidean_l2')).toEqual({ threshold: 0.4, metric: 'euclidean_l2', calibrated: 0.4 });
    expect(defaultThreshold('faceres', 'cosine')).toBe(0.46);
    // in a gallery (1:N) a stricter threshold where the model has one; the pair threshold otherwise
    expect(defaultThreshold('mobilefacenet', 'euclidean_l2')).toBe(1.12);
    expect(defaultThreshold('mobilefacenet', 'euclidean_l2', 'gallery')).toBe(0.98);
    expect(decideThreshold('mobilefacenet', 'cosine', undefined, 'gallery')).toEqual({ threshold: 0.48, metric: 'cosine', calibrated: 0.48 });
    expect(defaultThreshold('resnet34', 'euclidean_l2', 'gallery')).toBe(0.4);
    expect(decideThreshold('mobilefacenet', 'euclidean_l2', 1.5, 'gallery').warning).toMatch(/far looser than the calibrated 0.98/);
  });

  it('refuses thresholds outside the metric\'s range and warns about loose ones', () => {
    expect(() => decideThreshold('resnet34', 'euclidean_l2', 5)).toThrow(/between 0 and 2/);
    expect(() => decideThreshold('resnet34', 'cosine', 2)).toThrow(/between 0 and 2/);
    expect(() => decideThreshold('resnet34', 'euclidean', 0)).toThrow(/above 0/);
    expect(decideThreshold('resnet34', 'euclidean', 50).threshold).toBe(50);
    expect(decideThreshold('resnet34', 'cosine', 0.9).warning).toMatch(/far looser than the calibrated 0.08/);
    expect(decideThreshold('resnet34', 'euclidean_l2', 0.5).warning).toBeUndefined();
    expect(decideThreshold('resnet34', 'euclidean_l2', 0.61).warning).toMatch(/different people will match/);
  });

  it("warns about a threshold far stricter than the calibrated one (issue 22: --threshold 0.4, resnet34's, rejected everyone under mobilefacenet)", () => {
    expect(decideThreshold('mobilefacenet', 'euclidean_l2', 0.4, 'gallery').warning).toBe(
      'threshold 0.4 is far stricter than the calibrated 0.98 for mobilefacenet with euclidean_l2: the same person will mostly not match (thresholds are per model: see `facekit db info`)');
    expect(decideThreshold('mobilefacenet', 'euclidean_l2', 0.9, 'gallery').warning).toBeUndefined(); // verify --help's example
    expect(decideThreshold('resnet34', 'euclidean_l2', 0.4).warning).toBeUndefined();
    expect(decideThreshold('resnet34', 'euclidean_l2', 0.1).warning).toMatch(/far stricter than the calibrated 0.4 for resnet34/);
  });

  it('names the metrics it knows', () => {
    expect(parseMetric(undefined)).toBe('euclidean_l2');
    expect(() => parseMetric('manhattan')).toThrow(/metric must be one of cosine, euclidean, euclidean_l2/);
  });
});
