/**
 * Training a head on frozen embeddings: split the classes, train on one side (tfjs-layers, WASM
 * backend), choose the threshold on the train pairs, and measure on pairs of held-out classes
 * against the untrained embeddings. Checkpoints make a long run resumable and Ctrl-C safe.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { FacekitError, fsError } from '../core/errors.js';
import { ensureDir, sha256, writeFileAtomic } from '../core/files.js';
import { dot, l2normalize } from '../core/vector.js';
import { accuracyAt, bestThreshold, precisionRecall, rocAuc, rocCurve, type Scored } from '../evaluation/metrics.js';
import { initBackend, tf } from '../models/runtime.js';
import {
  applyHead, packWeights, prepareInput, readWeights, siameseProbability, writeHead,
  type Head, type PairMetrics, type TrainReport, type WeightEntry,
} from './head-file.js';
import { buildNet, HEAD_UNITS, type Net } from './heads.js';
import { startingWeights } from './init.js';
import { checkPairs, checkSamples, HEAD_KINDS, makePairs, rng, shuffle, splitClasses, subSeed, type HeadKind, type LabelledEmbedding, type Pair } from './split.js';

export interface TrainProgress {
  epoch: number;
  epochs: number;
  /** mean training loss over the epoch */
  loss: number;
  /** since trainHead started */
  seconds: number;
}

export interface TrainOptions {
  kind: HeadKind;
  /** the recognizer that made the embeddings, recorded in head.json */
  recognizer: string;
  /** total epochs (a resumed run goes on up to this many); default 30 */
  epochs?: number;
  /** write a checkpoint every this many epochs; default 10 */
  checkpointEvery?: number;
  /** the head's folder: head.json, weights.bin, checkpoint/ */
  outDir: string;
  /** go on from outDir/checkpoint (same embeddings and options) */
  resume?: boolean;
  /** seeds the split, the pairs, the initial weights and the batch order; default 1 */
  seed?: number;
  /** pairs per split, half same-class; default 2000 */
  maxPairs?: number;
  /** default 32 */
  batchSize?: number;
  /** Adam's; default 0.001 */
  learningRate?: number;
  /** abort: stop after the current batch, write the checkpoint, throw an 'aborted' error */
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** the untrained embeddings' distance to compare with; default cosine */
  baselineMetric?: 'cosine' | 'euclidean_l2';
  /**
   * Labelled pairs given instead of made from the classes (the seed's anchor/ positive/ negative/
   * layout), as indices into the samples, siamese heads only. The samples' labels then name groups
   * that the split keeps on one side (a triplet), and a pair is used on the side of its two samples.
   */
  pairs?: Pair[];
}

export interface TrainResult extends TrainReport {
  /** the head folder written */
  dir: string;
  /** the tfjs backend training ran on */
  backend: string;
  /** the epoch this run started from (0, or the checkpoint's) */
  startEpoch: number;
  /** the mean loss of each epoch this run trained */
  loss: number[];
}

type Resolved = Required<Omit<TrainOptions, 'signal' | 'onProgress' | 'pairs'>> & Pick<TrainOptions, 'signal' | 'onProgress' | 'pairs'>;

function resolve(o: TrainOptions): Resolved {
  const bad = (msg: string) => new FacekitError('usage', msg);
  if (!o || !HEAD_KINDS.includes(o.kind)) throw bad(`unknown head kind ${JSON.stringify(o?.kind)}: siamese or projection`);
  if (typeof o.recognizer !== 'string' || !o.recognizer) throw bad('training needs the name of the recognizer that made the embeddings');
  if (typeof o.outDir !== 'string' || !o.outDir) throw bad('training needs a folder for the head (outDir)');
  const int = (v: number | undefined, def: number, min: number, name: string) => {
    const n = v ?? def;
    if (!Number.isInteger(n) || n < min) throw bad(`${name} must be a whole number >= ${min}, not ${String(v)}`);
    return n;
  };
  const lr = o.learningRate ?? 1e-3;
  if (!(lr > 0 && lr < 10)) throw bad(`learningRate must be a number > 0, not ${String(o.learningRate)}`);
  const metric = o.baselineMetric ?? 'cosine';
  if (metric !== 'cosine' && metric !== 'euclidean_l2') throw bad(`baselineMetric must be cosine or euclidean_l2, not ${String(metric)}`);
  return {
    kind: o.kind, recognizer: o.recognizer, outDir: o.outDir, resume: o.resume ?? false,
    epochs: int(o.epochs, 30, 1, 'epochs'), checkpointEvery: int(o.checkpointEvery, 10, 1, 'checkpointEvery'),
    seed: int(o.seed, 1, 0, 'seed'), maxPairs: int(o.maxPairs, 2000, 4, 'maxPairs'), batchSize: int(o.batchSize, 32, 1, 'batchSize'),
    learningRate: lr, baselineMetric: metric, signal: o.signal, onProgress: o.onProgress, pairs: o.pairs,
  };
}

/** Train a head; see TrainOptions. Writes outDir/head.json + weights.bin at the end, never half of them. */
export async function trainHead(samples: LabelledEmbedding[], options: TrainOptions): Promise<TrainResult> {
  const started = Date.now();
  const o = resolve(options);
  const dim = checkSamples(samples);
  if (o.pairs && o.kind !== 'siamese') throw new FacekitError('usage', 'a projection head learns classes: give labelled classes, not pairs (pairs train a siamese head)');
  const split = splitClasses(samples, o.seed);
  const sideOf = (classes: string[], seed: number): Pair[] => {
    if (!o.pairs) return makePairs(samples, classes, o.maxPairs, seed);
    const on = new Set(classes);
    return o.pairs.filter((p) => on.has(samples[p.i]!.label) && on.has(samples[p.j]!.label));
  };
  const trainPairs = sideOf(split.train, subSeed(o.seed, 2));
  checkPairs(trainPairs, 'train', split.train);
  const testPairs = sideOf(split.test, subSeed(o.seed, 3));
  checkPairs(testPairs, 'test', split.test);
  const fingerprint = fingerprintOf(samples, o, dim);
  const ckDir = join(o.outDir, 'checkpoint');
  const resumed = o.resume ? await readCheckpoint(ckDir, fingerprint, o.kind) : undefined;

  await initBackend('wasm');
  const t = tf();
  // every sample as the heads see it, one row each
  const X = new Float32Array(samples.length * dim);
  samples.forEach((s, k) => X.set(prepareInput(s.vector), k * dim));
  const classIndex = new Map(split.train.map((c, k) => [c, k]));
  const trainSamples = samples.flatMap((s, k) => (classIndex.has(s.label) ? [k] : []));
  const rows = (idx: number[]) => {
    const data = new Float32Array(idx.length * dim);
    idx.forEach((k, r) => data.set(X.subarray(k * dim, (k + 1) * dim), r * dim));
    return t.tensor2d(data, [idx.length, dim]);
  };
  const batchOf = (idx: number[]): { inputs: Tensor2D[]; labels: Tensor2D } => {
    if (o.kind === 'siamese') {
      const ps = idx.map((k) => trainPairs[k]!);
      return { inputs: [rows(ps.map((p) => p.i)), rows(ps.map((p) => p.j))], labels: t.tensor2d(ps.map((p) => (p.same ? 1 : 0)), [ps.length, 1]) };
    }
    const ks = idx.map((k) => trainSamples[k]!);
    const onehot = new Float32Array(ks.length * split.train.length);
    ks.forEach((k, r) => { onehot[r * split.train.length + classIndex.get(samples[k]!.label)!] = 1; });
    return { inputs: [rows(ks)], labels: t.tensor2d(onehot, [ks.length, split.train.length]) };
  };

  const net = buildNet(o.kind, dim, split.train.length, o.seed);
  let backend = '';
  const losses: number[] = [];
  const startEpoch = resumed?.epoch ?? 0;
  let epoch = startEpoch;
  try {
    if (resumed) net.setWeights(resumed.params);
    else net.setWeights({ ...weightsOf(net), ...startingWeights(o.kind, X, trainSamples, trainPairs, dim, HEAD_UNITS) });
    // Adam's moments are not in the checkpoint: a resumed run starts them afresh (a few batches
    // of larger steps; the weights carry what was learnt).
    const optimizer = t.train.adam(o.learningRate);
    const examples = o.kind === 'siamese' ? trainPairs.length : trainSamples.length;
    const stop = async (): Promise<never> => {
      await writeCheckpoint(ckDir, net, epoch, fingerprint, o);
      throw new FacekitError('aborted', `training stopped at epoch ${epoch} of ${o.epochs}; the checkpoint is in ${ckDir}: train again with resume to go on`, o.outDir, 130);
    };
    try {
      while (epoch < o.epochs) {
        // the order of each epoch depends on the seed and the epoch only: a resumed run sees what an unbroken one would
        const order = shuffle([...Array(examples).keys()], rng(subSeed(o.seed, 1000 + epoch)));
        let sum = 0;
        for (let s = 0; s < examples; s += o.batchSize) {
          const idx = order.slice(s, s + o.batchSize);
          const loss = t.tidy(() => {
            const { inputs, labels } = batchOf(idx);
            return optimizer.minimize(() => net.loss(inputs, labels), true)!;
          });
          sum += loss.dataSync()[0]! * idx.length;
          loss.dispose();
          backend ||= t.getBackend();
          // let a Ctrl-C (the signal's listener) run; on abort, stop here: the checkpoint keeps this
          // epoch's batches so far, and says `epoch` (complete epochs), which a resume then redoes
          await new Promise<void>((r) => setImmediate(r));
          if (o.signal?.aborted) await stop();
        }
        epoch++;
        losses.push(sum / examples);
        o.onProgress?.({ epoch, epochs: o.epochs, loss: sum / examples, seconds: (Date.now() - started) / 1000 });
        if (epoch % o.checkpointEvery === 0 || epoch === o.epochs) await writeCheckpoint(ckDir, net, epoch, fingerprint, o);
        if (o.signal?.aborted && epoch < o.epochs) await stop();
      }
    } finally {
      optimizer.dispose();
    }
    const weights = net.weights(false);
    const params = Object.fromEntries(weights.map((w) => [w.name, w.data]));
    const metric = o.kind === 'siamese' ? 'probability' : 'cosine';
    const meta = {
      format: 'facekit-head', version: 1, kind: o.kind, recognizer: o.recognizer, inputDim: dim, outputDim: HEAD_UNITS, threshold: 0, metric,
      classes: split.train, created: new Date().toISOString(), epochs: epoch,
    } as const;
    // the head as loadHead would give it, to score the pairs with the very code that will use it
    const head = { ...meta, dir: o.outDir, params } as Head;
    const measured = measure(head, samples, trainPairs, testPairs, o.baselineMetric);
    const report: TrainReport = {
      pairs: { train: trainPairs.length, test: testPairs.length },
      classes: { train: split.train, test: split.test },
      head: measured.head, baseline: measured.baseline,
      seconds: Math.round((Date.now() - started) / 100) / 10, epochs: epoch,
    };
    await writeHead(o.outDir, { ...meta, threshold: measured.head.threshold, report }, weights);
    return { ...report, dir: o.outDir, backend: backend || t.getBackend(), startEpoch, loss: losses };
  } finally {
    net.dispose();
  }
}

/** Every weight of a network by name (the classifier's too): what setWeights needs besides the start. */
function weightsOf(net: Net): Record<string, Float32Array> {
  return Object.fromEntries(net.weights(true).map((w) => [w.name, w.data]));
}

/* ------------------------------------------------------------------ measuring */

function figures(items: Scored[], threshold: number): Omit<PairMetrics, 'threshold'> {
  const { precision, recall } = precisionRecall(items, threshold);
  const p = Number.isNaN(precision) ? 0 : precision, r = Number.isNaN(recall) ? 0 : recall;
  return { accuracy: accuracyAt(items, threshold), precision: p, recall: r, f1: p + r > 0 ? (2 * p * r) / (p + r) : 0, auc: rocAuc(rocCurve(items)) };
}

/**
 * The head at the threshold chosen on the train pairs, scored on the test pairs (and its best
 * accuracy there, to compare like with like); the baseline at its best threshold on the test pairs.
 */
function measure(head: Head, samples: LabelledEmbedding[], train: Pair[], test: Pair[], baselineMetric: 'cosine' | 'euclidean_l2'): { head: TrainReport['head']; baseline: TrainReport['baseline'] } {
  const out = new Map<number, Float32Array>();
  const of = (k: number) => out.get(k) ?? out.set(k, applyHead(head, samples[k]!.vector)).get(k)!;
  // Scored is a distance, smaller = same: siamese gives 1 - p(same)
  const dist = (p: Pair) => (head.kind === 'siamese' ? 1 - siameseProbability(head, of(p.i), of(p.j)) : 1 - dot(of(p.i), of(p.j)));
  const trainScored = train.map((p) => ({ distance: dist(p), same: p.same }));
  const testScored = test.map((p) => ({ distance: dist(p), same: p.same }));
  const chosen = bestThreshold(trainScored).threshold;
  const threshold = head.kind === 'siamese' ? 1 - chosen : chosen;
  const unit = new Map<number, Float32Array>();
  const u = (k: number) => unit.get(k) ?? unit.set(k, l2normalize(samples[k]!.vector)).get(k)!;
  const base = (p: Pair) => {
    const a = u(p.i), b = u(p.j);
    if (baselineMetric === 'cosine') return 1 - dot(a, b);
    let s = 0;
    for (let k = 0; k < a.length; k++) s += (a[k]! - b[k]!) ** 2;
    return Math.sqrt(s);
  };
  const baseScored = test.map((p) => ({ distance: base(p), same: p.same }));
  const bt = bestThreshold(baseScored).threshold;
  return {
    head: { threshold, ...figures(testScored, chosen), bestAccuracy: bestThreshold(testScored).accuracy },
    baseline: { metric: baselineMetric, threshold: bt, ...figures(baseScored, bt) },
  };
}

/* ------------------------------------------------------------------ checkpoints */

interface CheckpointFile {
  format: 'facekit-head-checkpoint';
  version: 1;
  kind: HeadKind;
  epoch: number;
  fingerprint: string;
  weights: { file: string; sha256: string; layout: WeightEntry[] };
}

/** What a checkpoint may only be resumed with: the same embeddings, labels and options (not the epoch count). */
function fingerprintOf(samples: LabelledEmbedding[], o: Resolved, dim: number): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ kind: o.kind, recognizer: o.recognizer, seed: o.seed, maxPairs: o.maxPairs, batchSize: o.batchSize, learningRate: o.learningRate, dim, n: samples.length, pairs: o.pairs ?? null }));
  for (const s of samples) {
    h.update(s.label + '\0');
    h.update(new Uint8Array(Float32Array.from(s.vector).buffer));
  }
  return h.digest('hex');
}

/**
 * The weights (all of them, the projection's classifier too) under a name made of their sha256,
 * then checkpoint.json, then older weight files go: checkpoint.json never names a file that is
 * not complete.
 */
async function writeCheckpoint(dir: string, net: Net, epoch: number, fingerprint: string, o: Resolved): Promise<void> {
  await ensureDir(dir);
  const { bytes, layout } = packWeights(net.weights(true));
  const sha = sha256(bytes);
  const file = `weights-${sha.slice(0, 16)}.bin`;
  await writeFileAtomic(join(dir, file), bytes);
  const ck: CheckpointFile = { format: 'facekit-head-checkpoint', version: 1, kind: o.kind, epoch, fingerprint, weights: { file, sha256: sha, layout } };
  await writeFileAtomic(join(dir, 'checkpoint.json'), JSON.stringify(ck, null, 2) + '\n', { durable: true });
  for (const f of await readdir(dir)) if (/^weights-.*\.bin$/.test(f) && f !== file) await unlink(join(dir, f)).catch(() => undefined);
}

async function readCheckpoint(dir: string, fingerprint: string, kind: HeadKind): Promise<{ epoch: number; params: Record<string, Float32Array> }> {
  const path = join(dir, 'checkpoint.json');
  let ck: CheckpointFile;
  try {
    ck = JSON.parse(await readFile(path, 'utf8')) as CheckpointFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FacekitError('not_found', 'no checkpoint to resume from: train once without resume', dir);
    if (err instanceof SyntaxError) throw new FacekitError('bad_head', 'the checkpoint is not valid JSON: train without resume to start over', path);
    throw fsError(err, path);
  }
  if (ck?.format !== 'facekit-head-checkpoint' || ck.version !== 1 || !ck.weights || !Number.isInteger(ck.epoch)) {
    throw new FacekitError('bad_head', 'not a facekit head checkpoint: train without resume to start over', path);
  }
  if (ck.kind !== kind) throw new FacekitError('usage', `the checkpoint is of a ${ck.kind} head, not ${kind}: train without resume to start over`, path);
  if (ck.fingerprint !== fingerprint) {
    throw new FacekitError('usage', 'the checkpoint was made from other embeddings or options (labels, vectors, recognizer, seed, maxPairs, batchSize, learningRate): resume with the same ones, or train without resume to start over', path);
  }
  const params = await readWeights(join(dir, ck.weights.file), ck.weights.sha256, ck.weights.layout);
  return { epoch: ck.epoch, params };
}
