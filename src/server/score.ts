/**
 * The match score shown to people: a distance put on a scale calibrated by the threshold, so
 * that a percentage cannot be read as a probability of the wrong kind. 100% at distance 0, 50%
 * exactly at the threshold (the verdict flips there), 0% at twice the threshold and beyond;
 * linear in between. It is not a probability, and not the cosine "similarity" of /compare.
 */
export function matchScore(distance: number, threshold: number): number {
  if (!(threshold > 0) || !Number.isFinite(distance)) return 0;
  const s = 1 - distance / (2 * threshold);
  return Math.round(Math.min(1, Math.max(0, s)) * 1e4) / 1e4;
}

/** What the score means, for the OpenAPI document and the page. */
export const MATCH_SCORE_MEANING = '0..1 on a scale set by the threshold: 1 at distance 0, 0.5 exactly at the threshold, 0 at twice the threshold or more (linear in between); a calibrated score, not a probability';
