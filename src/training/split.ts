/**
 * The data side of training: checking labelled embeddings, splitting them by class (a person is
 * either trained on or held out, never both: a held-out score then says how the head does on
 * people it never saw) and drawing balanced same / different pairs. All seeded: the same input
 * and seed give the same split and pairs, which a resumed run relies on.
 */
import { FacekitError } from '../core/errors.js';
import { seededRandom } from '../evaluation/projection/random.js';

export type HeadKind = 'siamese' | 'projection';
export const HEAD_KINDS: readonly HeadKind[] = ['siamese', 'projection'];

/** One face's embedding and who it is. */
export interface LabelledEmbedding {
  label: string;
  vector: Float32Array;
  /** where it came from, for error messages */
  image?: string;
}

/** Two samples (indices into the samples given) and whether they are the same class. */
export interface Pair {
  i: number;
  j: number;
  same: boolean;
}

export interface Split {
  /** class names, sorted */
  train: string[];
  test: string[];
}

/* ------------------------------------------------------------------ seeded randomness */

/**
 * mulberry32 (the projections' generator), started at `seed` itself: small, fast, and the same on
 * every platform (Math.random cannot be seeded).
 */
export function rng(seed: number): () => number {
  // seededRandom mixes its seed with this constant first; undone here, the state starts at `seed`
  return seededRandom(((seed >>> 0) ^ 0x9e3779b9) >>> 0);
}

/** A seed for one purpose (split, train pairs, epoch 7's order) derived from the run's seed. */
export function subSeed(seed: number, purpose: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(purpose + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  return Math.imul(h, 0x27d4eb2f) >>> 0;
}

/** Fisher-Yates, in place. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let k = items.length - 1; k > 0; k--) {
    const r = Math.floor(random() * (k + 1));
    [items[k], items[r]] = [items[r]!, items[k]!];
  }
  return items;
}

/* ------------------------------------------------------------------ checks */

/**
 * Refuse what cannot be trained on, with one line that says why: no samples, empty labels,
 * vectors of different lengths (two recognizers mixed), non-finite values, too few classes.
 * Returns the embedding dimension.
 */
export function checkSamples(samples: LabelledEmbedding[]): number {
  if (!Array.isArray(samples) || samples.length === 0) throw new FacekitError('usage', 'no labelled embeddings to train on');
  const name = (s: LabelledEmbedding, k: number) => s.image ?? `embedding ${k + 1} (${s.label})`;
  const first = samples[0]!;
  const dim = first.vector?.length ?? 0;
  samples.forEach((s, k) => {
    if (typeof s.label !== 'string' || s.label === '') throw new FacekitError('usage', 'an embedding without a label', name(s, k));
    if (!s.vector || typeof s.vector.length !== 'number' || s.vector.length === 0) throw new FacekitError('bad_tensor', 'an empty embedding', name(s, k));
    if (s.vector.length !== dim) {
      throw new FacekitError('model_mismatch', `embeddings of different dimensions/models: ${dim}-d (${name(first, 0)}) and ${s.vector.length}-d; train on the embeddings of one recognizer`, name(s, k));
    }
    for (let d = 0; d < dim; d++) if (!Number.isFinite(s.vector[d]!)) throw new FacekitError('bad_tensor', 'an embedding with a NaN or infinite value', name(s, k));
  });
  const counts = classCounts(samples);
  if (counts.size === 1) {
    throw new FacekitError('usage', `only one class (${first.label}): training needs at least ${MIN_CLASSES} labelled classes, ${MIN_MULTI} of them with 2 or more embeddings`);
  }
  const multi = [...counts.values()].filter((n) => n >= 2).length;
  if (counts.size < MIN_CLASSES || multi < MIN_MULTI) {
    throw new FacekitError('usage', `${counts.size} classes, ${multi} with 2 or more embeddings: training needs at least ${MIN_CLASSES} labelled classes, ${MIN_MULTI} of them with 2 or more embeddings (some to train on, some held out to test)`);
  }
  return dim;
}

/**
 * Why 4 classes and not 3: each side of the split needs a different-class pair (2 classes) and a
 * same-class pair (a class with 2 embeddings), and no class may be on both sides.
 */
const MIN_CLASSES = 4;
const MIN_MULTI = 2;

export function classCounts(samples: LabelledEmbedding[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of samples) counts.set(s.label, (counts.get(s.label) ?? 0) + 1);
  return counts;
}

/* ------------------------------------------------------------------ split */

/**
 * A seeded 70/30 split of the classes. Classes with 2+ embeddings (the only ones that give
 * same-class pairs) and single ones are split separately, so both sides get some of each; then
 * each side is topped up to 2 classes and 1 class with 2+ embeddings (checkSamples made sure
 * there are enough).
 */
export function splitClasses(samples: LabelledEmbedding[], seed: number, trainShare = 0.7): Split {
  const counts = classCounts(samples);
  const random = rng(subSeed(seed, 1));
  const multi = shuffle([...counts.keys()].filter((c) => counts.get(c)! >= 2).sort(), random);
  const single = shuffle([...counts.keys()].filter((c) => counts.get(c)! < 2).sort(), random);
  const mTrain = Math.min(Math.max(Math.round(trainShare * multi.length), 1), multi.length - 1);
  const sTrain = Math.round(trainShare * single.length);
  const train = [...multi.slice(0, mTrain), ...single.slice(0, sTrain)];
  const test = [...multi.slice(mTrain), ...single.slice(sTrain)];
  const isMulti = (c: string) => counts.get(c)! >= 2;
  // move a class from `from` to `to`: a single one if there is one, else a multi one as long
  // as `from` keeps one
  const move = (from: string[], to: string[]): boolean => {
    let k = from.findIndex((c) => !isMulti(c));
    if (k < 0 && from.filter(isMulti).length > 1) k = from.findIndex(isMulti);
    if (k < 0) return false;
    to.push(from.splice(k, 1)[0]!);
    return true;
  };
  while (test.length < 2 && train.length > 2 && move(train, test));
  while (train.length < 2 && test.length > 2 && move(test, train));
  return { train: train.sort(), test: test.sort() };
}

/* ------------------------------------------------------------------ pairs */

/**
 * The pairs of one side: all its same-class pairs and as many seeded random different-class
 * pairs, at most `maxPairs` in all, half of each kind (a balanced set: accuracy then means the
 * same thing whatever the class sizes).
 */
export function makePairs(samples: LabelledEmbedding[], classes: string[], maxPairs: number, seed: number): Pair[] {
  const wanted = new Set(classes);
  const idx: number[] = [];
  samples.forEach((s, k) => { if (wanted.has(s.label)) idx.push(k); });
  const random = rng(seed);
  const byClass = new Map<string, number[]>();
  for (const k of idx) (byClass.get(samples[k]!.label) ?? byClass.set(samples[k]!.label, []).get(samples[k]!.label)!).push(k);
  const same: Pair[] = [];
  for (const members of byClass.values()) {
    for (let a = 0; a < members.length; a++) for (let b = a + 1; b < members.length; b++) same.push({ i: members[a]!, j: members[b]!, same: true });
  }
  const half = Math.floor(maxPairs / 2);
  // how many different-class pairs exist: (n^2 - sum of n_c^2) / 2
  const diffTotal = (idx.length ** 2 - [...byClass.values()].reduce((s, m) => s + m.length ** 2, 0)) / 2;
  const n = Math.min(same.length, diffTotal, half);
  const chosenSame = same.length > n ? shuffle(same, random).slice(0, n) : same;
  let diff: Pair[];
  if (diffTotal <= 4 * n) {
    // few of them: list them all and take a random n
    diff = [];
    for (let a = 0; a < idx.length; a++) {
      for (let b = a + 1; b < idx.length; b++) {
        if (samples[idx[a]!]!.label !== samples[idx[b]!]!.label) diff.push({ i: idx[a]!, j: idx[b]!, same: false });
      }
    }
    diff = shuffle(diff, random).slice(0, n);
  } else {
    // many: draw at random, without repeats (most draws hit, since different pairs dominate)
    diff = [];
    const seen = new Set<number>();
    while (diff.length < n) {
      let a = idx[Math.floor(random() * idx.length)]!, b = idx[Math.floor(random() * idx.length)]!;
      if (samples[a]!.label === samples[b]!.label) continue;
      if (a > b) [a, b] = [b, a];
      const key = a * samples.length + b;
      if (seen.has(key)) continue;
      seen.add(key);
      diff.push({ i: a, j: b, same: false });
    }
  }
  const order = (p: Pair, q: Pair) => p.i - q.i || p.j - q.j;
  return [...chosenSame.sort(order), ...diff.sort(order)];
}

/** Refuse a side without enough pairs of both kinds to train or measure on. */
export function checkPairs(pairs: Pair[], side: 'train' | 'test', classes: string[]): void {
  const same = pairs.filter((p) => p.same).length;
  const diff = pairs.length - same;
  if (same < MIN_PAIRS || diff < MIN_PAIRS) {
    const what = side === 'train' ? 'the training split' : 'the held-out split';
    throw new FacekitError('usage', `too few pairs: ${what} (${classes.length} classes) has ${same} same-class and ${diff} different-class pairs; each split needs at least ${MIN_PAIRS} of each: give more classes with 2 or more embeddings`);
  }
}

const MIN_PAIRS = 2;
