/**
 * The verification policy, in one place: which threshold decides "same person" for a model and
 * metric, which thresholds make sense at all, and when one is so loose that strangers match.
 * verify, the gallery, eval, the server and the library all ask here.
 */
import { FacekitError } from '../core/errors.js';
import { DEFAULT_METRIC, METRICS, RECOGNIZERS, isMetric, isRecognizerId, type Metric } from '../models/catalogue.js';

/** The largest distance each metric can give between two embeddings (euclidean has no bound). */
export const METRIC_MAX: Record<Metric, number> = { cosine: 2, euclidean_l2: 2, euclidean: Number.POSITIVE_INFINITY };

/**
 * How much looser than the calibrated threshold a chosen one may be before we warn: 1.5x the
 * distance for the euclidean metrics; cosine distance grows with the square of euclidean_l2, so 1.5².
 */
const LOOSE_FACTOR: Record<Metric, number> = { euclidean_l2: 1.5, euclidean: 1.5, cosine: 2.25 };

/** What a threshold decides: two faces (1:1), or a face against everyone in a gallery (1:N). */
export type ThresholdUse = 'pair' | 'gallery';

function calibratedFor(model: string, metric: Metric, use: ThresholdUse): number | null {
  if (!isRecognizerId(model)) return null;
  const info = RECOGNIZERS[model];
  return (use === 'gallery' ? info.galleryThresholds ?? info.thresholds : info.thresholds)[metric];
}

/**
 * The calibrated same-person threshold for a model and metric: for a pair, the best LFW threshold;
 * in a gallery, a stricter one where the model has it (see the catalogue).
 */
export function defaultThreshold(model: string, metric: Metric, use: ThresholdUse = 'pair'): number {
  const t = calibratedFor(model, metric, use);
  if (t === null) throw new FacekitError('model_mismatch', `no default threshold for unknown model "${model}"; pass --threshold`);
  return t;
}

/** A metric name, checked. */
export function parseMetric(value: string | undefined, fallback: Metric = DEFAULT_METRIC): Metric {
  if (value === undefined) return fallback;
  if (!isMetric(value)) throw new FacekitError('usage', `metric must be one of ${METRICS.join(', ')}; got "${value}"`, '--metric');
  return value;
}

export interface ThresholdDecision {
  threshold: number;
  metric: Metric;
  /** the calibrated threshold for this model and metric (null for a model without one) */
  calibrated: number | null;
  /** set when the chosen threshold is far looser, or far stricter, than the calibrated one */
  warning?: string;
}

/**
 * The threshold to use: the caller's (checked against the metric's range) or the calibrated one.
 * A threshold at or above the metric's largest distance would call every stranger a match: refused.
 */
export function decideThreshold(model: string, metric: Metric, chosen?: number, use: ThresholdUse = 'pair'): ThresholdDecision {
  const calibrated = calibratedFor(model, metric, use);
  if (chosen === undefined) {
    if (calibrated === null) throw new FacekitError('model_mismatch', `no default threshold for unknown model "${model}"; pass --threshold`);
    return { threshold: calibrated, metric, calibrated };
  }
  const max = METRIC_MAX[metric];
  if (!Number.isFinite(chosen) || chosen <= 0 || chosen >= max) {
    const range = Number.isFinite(max) ? `between 0 and ${max} (its distances never exceed ${max})` : 'above 0';
    throw new FacekitError('usage', `threshold ${chosen} makes no sense for ${metric}: it must be ${range}; the calibrated value for ${model} is ${calibrated ?? 'unknown'}`, '--threshold');
  }
  const decision: ThresholdDecision = { threshold: chosen, metric, calibrated };
  if (calibrated !== null && chosen > calibrated * LOOSE_FACTOR[metric]) {
    decision.warning = `threshold ${chosen} is far looser than the calibrated ${calibrated} for ${model} with ${metric}: different people will match`;
  } else if (calibrated !== null && chosen < calibrated / LOOSE_FACTOR[metric]) {
    // another model's threshold (0.4 is resnet34's) quietly rejects everyone under this one
    decision.warning = `threshold ${chosen} is far stricter than the calibrated ${calibrated} for ${model} with ${metric}: the same person will mostly not match (thresholds are per model: see \`facekit db info\`)`;
  }
  return decision;
}
