/**
 * Verify: distances between embeddings and the same-person decision. Pure functions.
 */
import type { Metric } from '../models/catalogue.js';
import { FacekitError } from '../core/errors.js';
import { dot, norm, type Vector } from '../core/vector.js';
export { dot, l2normalize, norm, type Vector } from '../core/vector.js';

/** Distance under `metric`; smaller is more alike. */
export function distance(a: Vector, b: Vector, metric: Metric): number {
  if (a.length !== b.length) throw new FacekitError('model_mismatch', `cannot compare a ${a.length}-d with a ${b.length}-d embedding`);
  switch (metric) {
    case 'cosine': {
      const d = 1 - dot(a, b) / ((norm(a) * norm(b)) || 1);
      return Math.max(0, d);
    }
    case 'euclidean': {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
      return Math.sqrt(s);
    }
    case 'euclidean_l2': {
      const na = norm(a) || 1, nb = norm(b) || 1;
      let s = 0;
      for (let i = 0; i < a.length; i++) s += (a[i]! / na - b[i]! / nb) ** 2;
      return Math.sqrt(s);
    }
  }
}

export interface Verdict {
  distance: number;
  threshold: number;
  metric: Metric;
  same: boolean;
  /** a 0..1 similarity that reads the natural way round (1 = identical), for people and APIs */
  similarity: number;
}

/** How alike two vectors are, as a number in 0..1: 1 - cosine distance, clamped. */
export function similarity(a: Vector, b: Vector): number {
  return Math.min(1, Math.max(0, 1 - distance(a, b, 'cosine')));
}

export function verifyPair(a: Vector, b: Vector, metric: Metric, threshold: number): Verdict {
  const d = distance(a, b, metric);
  return { distance: d, threshold, metric, same: d <= threshold, similarity: similarity(a, b) };
}
