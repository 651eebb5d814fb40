/**
 * Measuring a pipeline: k-fold verification accuracy, ROC, equal error rate, true-accept rate at
 * fixed false-accept rates, rank-1 and open-set identification. Pure functions over numbers.
 */
import { FacekitError } from '../core/errors.js';

export interface Scored {
  distance: number;
  same: boolean;
}

/** The threshold (distance <= t means "same") with the best accuracy on these pairs. */
export function bestThreshold(items: Scored[]): { threshold: number; accuracy: number } {
  if (items.length === 0) throw new FacekitError('usage', 'no pairs to choose a threshold on');
  const sorted = [...items].sort((x, y) => x.distance - y.distance);
  const positives = sorted.filter((s) => s.same).length;
  // Start with t below every distance: all "different": correct = negatives.
  let correct = sorted.length - positives;
  let best = correct;
  let bestT = sorted[0]!.distance - 1e-6;
  for (let i = 0; i < sorted.length; i++) {
    correct += sorted[i]!.same ? 1 : -1;
    // Only cut between distinct distances.
    if (i + 1 < sorted.length && sorted[i + 1]!.distance === sorted[i]!.distance) continue;
    if (correct > best) {
      best = correct;
      const next = sorted[i + 1]?.distance ?? sorted[i]!.distance + 1e-6;
      bestT = (sorted[i]!.distance + next) / 2;
    }
  }
  return { threshold: bestT, accuracy: best / sorted.length };
}

export function accuracyAt(items: Scored[], threshold: number): number {
  let c = 0;
  for (const s of items) if ((s.distance <= threshold) === s.same) c++;
  return items.length ? c / items.length : NaN;
}

export interface KFoldResult {
  mean: number;
  std: number;
  perFold: { fold: number; threshold: number; accuracy: number; pairs: number }[];
  /** median of the per-fold thresholds */
  threshold: number;
}

/**
 * k-fold accuracy: each fold is scored at the threshold chosen on the other folds (LFW's
 * protocol). Items with fold -1 are spread over `k` folds in order.
 */
export function kFoldAccuracy(items: (Scored & { fold: number })[], k = 10): KFoldResult {
  const withFold = items.map((s, i) => ({ ...s, fold: s.fold >= 0 ? s.fold : Math.floor((i * k) / items.length) }));
  const folds = [...new Set(withFold.map((s) => s.fold))].sort((a, b) => a - b);
  if (folds.length < 2) throw new FacekitError('usage', 'k-fold evaluation needs at least two folds of pairs');
  const perFold = folds.map((f) => {
    const train = withFold.filter((s) => s.fold !== f);
    const test = withFold.filter((s) => s.fold === f);
    const { threshold } = bestThreshold(train);
    return { fold: f, threshold, accuracy: accuracyAt(test, threshold), pairs: test.length };
  });
  const accs = perFold.map((p) => p.accuracy);
  const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
  const std = Math.sqrt(accs.reduce((a, b) => a + (b - mean) ** 2, 0) / accs.length);
  const ts = perFold.map((p) => p.threshold).sort((a, b) => a - b);
  return { mean, std, perFold, threshold: ts[Math.floor(ts.length / 2)]! };
}

export interface RocPoint {
  threshold: number;
  /** false accept rate: share of different-person pairs accepted */
  far: number;
  /** true accept rate: share of same-person pairs accepted */
  tar: number;
}

/** The ROC curve over every distinct threshold, FAR ascending. */
export function rocCurve(items: Scored[]): RocPoint[] {
  const sorted = [...items].sort((x, y) => x.distance - y.distance);
  const P = sorted.filter((s) => s.same).length;
  const N = sorted.length - P;
  const pts: RocPoint[] = [{ threshold: (sorted[0]?.distance ?? 0) - 1e-6, far: 0, tar: 0 }];
  let tp = 0, fp = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i]!.same) tp++; else fp++;
    if (i + 1 < sorted.length && sorted[i + 1]!.distance === sorted[i]!.distance) continue;
    pts.push({ threshold: sorted[i]!.distance, far: N ? fp / N : 0, tar: P ? tp / P : 0 });
  }
  return pts;
}

export function rocAuc(roc: RocPoint[]): number {
  let auc = 0;
  for (let i = 1; i < roc.length; i++) auc += (roc[i]!.far - roc[i - 1]!.far) * (roc[i]!.tar + roc[i - 1]!.tar) / 2;
  return auc;
}

/** Equal error rate: where the false accept rate equals the false reject rate. */
export function equalErrorRate(roc: RocPoint[]): { eer: number; threshold: number } {
  let best = { eer: 1, threshold: 0, gap: Infinity };
  for (const p of roc) {
    const frr = 1 - p.tar;
    const gap = Math.abs(frr - p.far);
    if (gap < best.gap) best = { eer: (frr + p.far) / 2, threshold: p.threshold, gap };
  }
  return { eer: best.eer, threshold: best.threshold };
}

/** The true accept rate at the largest threshold whose false accept rate is at most `far`. */
export function tarAtFar(roc: RocPoint[], far: number): { tar: number; threshold: number } {
  let best = { tar: 0, threshold: roc[0]?.threshold ?? 0 };
  for (const p of roc) if (p.far <= far && p.tar >= best.tar) best = { tar: p.tar, threshold: p.threshold };
  return best;
}

export function precisionRecall(items: Scored[], threshold: number): { precision: number; recall: number } {
  let tp = 0, fp = 0, fn = 0;
  for (const s of items) {
    const accept = s.distance <= threshold;
    if (accept && s.same) tp++;
    else if (accept) fp++;
    else if (s.same) fn++;
  }
  return { precision: tp + fp ? tp / (tp + fp) : NaN, recall: tp + fn ? tp / (tp + fn) : NaN };
}

/* ---------------------------------------------------------------- folds, summaries, identification */

/**
 * Give every item without a fold (fold -1) one of `k` folds, same-person and different-person
 * items dealt round-robin separately, so that every fold holds both in the same proportion
 * whatever order the list is in. Items that have a fold keep it.
 */
export function assignFolds<T extends { same: boolean; fold: number }>(items: T[], k: number): T[] {
  let same = 0, diff = 0;
  return items.map((s) => (s.fold >= 0 ? s : { ...s, fold: s.same ? same++ % k : diff++ % k }));
}

export interface VerificationSummary {
  pairs: number;
  same: number;
  different: number;
  kfold: KFoldResult;
  roc: RocPoint[];
  auc: number;
  eer: { eer: number; threshold: number };
  /** true accept rate at each requested false accept rate */
  tarAtFar: { far: number; tar: number; threshold: number }[];
  /** the threshold with the best accuracy over all pairs, and precision / recall there */
  best: { threshold: number; accuracy: number; precision: number; recall: number };
}

/**
 * Every verification figure for scored pairs: k-fold accuracy (folds as given, or `k` stratified
 * folds for items without one), ROC and its area, equal error rate, TAR at the given FARs, and the
 * best threshold with precision and recall at it.
 */
export function verificationSummary(items: (Scored & { fold: number })[], k = 10, fars: number[] = [1e-2, 1e-3]): VerificationSummary {
  const same = items.filter((s) => s.same).length;
  const different = items.length - same;
  if (same === 0 || different === 0) {
    throw new FacekitError('usage', `evaluation needs both same-person and different-person pairs; there are ${same} same and ${different} different`);
  }
  const withFolds = assignFolds(items, Math.max(2, Math.min(k, items.length)));
  const kfold = kFoldAccuracy(withFolds, k);
  const roc = rocCurve(items);
  const bt = bestThreshold(items);
  const pr = precisionRecall(items, bt.threshold);
  return {
    pairs: items.length, same, different, kfold, roc, auc: rocAuc(roc), eer: equalErrorRate(roc),
    tarAtFar: fars.map((far) => ({ far, ...tarAtFar(roc, far) })),
    best: { threshold: bt.threshold, accuracy: bt.accuracy, precision: pr.precision, recall: pr.recall },
  };
}

export interface Rank1Result {
  /** probes whose nearest other face is the same person */
  correct: number;
  /** probes: faces whose person has at least one other face */
  total: number;
  accuracy: number;
  /** faces left out because nobody else of theirs is in the set */
  alone: number;
  mistakes: { index: number; label: string; predicted: string; nearest: number; distance: number }[];
}

/**
 * Leave-one-out rank-1 identification: each face in turn is the query and all the others the
 * gallery; right when the nearest other face is the same person.
 */
export function leaveOneOutRank1(labels: string[], dist: (i: number, j: number) => number): Rank1Result {
  const n = labels.length;
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  let correct = 0, total = 0, alone = 0;
  const mistakes: Rank1Result['mistakes'] = [];
  for (let i = 0; i < n; i++) {
    if (counts.get(labels[i]!)! < 2) {
      alone++;
      continue;
    }
    let best = Infinity, bj = -1;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = dist(i, j);
      if (d < best) {
        best = d;
        bj = j;
      }
    }
    total++;
    if (labels[bj] === labels[i]) correct++;
    else mistakes.push({ index: i, label: labels[i]!, predicted: labels[bj]!, nearest: bj, distance: best });
  }
  return { correct, total, accuracy: total ? correct / total : NaN, alone, mistakes };
}

export interface OpenSetResult {
  threshold: number;
  /** faces whose nearest other face is the same person and within the threshold */
  accepted: number;
  /** queries made of a person left out of the gallery whose nearest face is beyond the threshold */
  rejected: number;
  total: number;
}

/**
 * Open-set identification, leave-one-out, as a gallery is used: (1) each face queried against all
 * other faces must come back as its own person, within the threshold; (2) each face queried
 * against a gallery without its person must come back as "unknown" (nearest beyond the threshold).
 * Faces alone in their folder are not counted.
 */
export function openSetLeaveOneOut(labels: string[], dist: (i: number, j: number) => number, threshold: number): OpenSetResult {
  const n = labels.length;
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  let accepted = 0, rejected = 0, total = 0;
  for (let i = 0; i < n; i++) {
    if (counts.get(labels[i]!)! < 2) continue;
    let best = Infinity, bj = -1, stranger = Infinity;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = dist(i, j);
      if (d < best) { best = d; bj = j; }
      if (labels[j] !== labels[i] && d < stranger) stranger = d;
    }
    total++;
    if (labels[bj] === labels[i] && best <= threshold) accepted++;
    if (stranger > threshold) rejected++;
  }
  return { threshold, accepted, rejected, total };
}
