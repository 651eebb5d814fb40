/**
 * `train`: a small head on a recognizer's embeddings, from a folder of labelled classes (people,
 * signers, categories: DIR/<class>/*) or from the seed's anchor/ positive/ negative/ folders. The
 * photos are embedded the way represent embeds them (any recognizer, faces or whole images), then
 * src/training does the rest: the split by class, the head, the checkpoints, and the report beside
 * the untrained embedding's. The head is then a folder that `--head` loads.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FacekitError } from '../core/errors.js';
import { listImages } from '../core/image.js';
import { readPeople } from '../core/people.js';
import type { DetectorId, RecognizerId, Subject } from '../models/catalogue.js';
import { subjectSettings } from '../pipeline/plan.js';
import type { HeadKind, LabelledEmbedding, Pair, TrainProgress, TrainResult } from '../training/index.js';
import type { Facekit } from './facekit.js';
import type { RunOptions } from './options.js';
import { sharedEngine } from './shared.js';
import type { PhotoInput } from './stream.js';

/** A folder of classes, or the three folders of the seed's siamese layout (anchor i pairs with positive i and negative i). */
export type TrainSource = string | { anchor: string; positive: string; negative: string };

export interface TrainOptions extends RunOptions {
  /** the head's folder (head.json, weights.bin, checkpoint/) */
  out: string;
  /** default siamese (on 40 synthetic signers it beat the plain embedding on held-out ones; the projection did not) */
  head?: HeadKind;
  subject?: Subject;
  model?: RecognizerId;
  detector?: DetectorId;
  minScore?: number;
  flip?: boolean;
  epochs?: number;
  checkpointEvery?: number;
  /** go on from the checkpoint in `out` */
  resume?: boolean;
  seed?: number;
  maxPairs?: number;
  /** Adam's learning rate (default 0.001) */
  learningRate?: number;
  /** the held-out report's baseline distance: cosine (default) or euclidean_l2 */
  baselineMetric?: 'cosine' | 'euclidean_l2';
  engine?: Facekit;
  /** after each epoch */
  onEpoch?: (p: TrainProgress) => void;
  /** photos that could not be embedded (said, then left out) */
  onWarn?: (message: string) => void;
}

export interface TrainSummary extends TrainResult {
  kind: HeadKind;
  recognizer: RecognizerId;
  subject: Subject;
  /** photos embedded, and those left out (no face, not an image) */
  images: number;
  failures: { image: string; message: string }[];
}

interface Labelled {
  image: string;
  label: string;
}

/** Train a head; see TrainOptions. Resolves with the report (also in the head's head.json). */
export async function train(source: TrainSource, opts: TrainOptions): Promise<TrainSummary> {
  const s = subjectSettings(opts);
  const triplets = typeof source !== 'string';
  const kind: HeadKind = opts.head ?? 'siamese';
  if (triplets && kind !== 'siamese') throw new FacekitError('usage', 'a projection head learns classes: give a folder of classes (DIR/<class>/*), not anchor/positive/negative');
  // said before minutes of embedding, not after
  if (opts.resume && !existsSync(join(opts.out, 'checkpoint', 'checkpoint.json'))) {
    throw new FacekitError('not_found', 'no checkpoint to resume from: train once without --resume', join(opts.out, 'checkpoint'));
  }
  const photos = triplets ? await tripletPhotos(source) : await classPhotos(source);
  const engine = opts.engine ?? sharedEngine();
  const items: PhotoInput[] = photos.map((p) => ({ image: p.image, label: p.label }));
  const byImage = new Map<string, Float32Array>();
  const failures: TrainSummary['failures'] = [];
  const records = engine.representEach(items, {
    subject: s.subject, model: s.model, detector: s.detector, flip: s.flip, minScore: opts.minScore, largestOnly: true,
    signal: opts.signal, onProgress: opts.onProgress,
  });
  for await (const r of records) {
    if (r.embedding && !r.error) {
      if (!byImage.has(r.image)) byImage.set(r.image, Float32Array.from(r.embedding.vector));
    } else if (r.face === null || r.error) {
      const message = r.error?.message ?? 'no face found';
      failures.push({ image: r.image, message });
      opts.onWarn?.(`${r.image}: ${message} (left out)`);
    }
  }
  const samples: LabelledEmbedding[] = [];
  const index = new Map<string, number>();
  for (const p of photos) {
    const v = byImage.get(p.image);
    if (!v || index.has(p.image)) continue;
    index.set(p.image, samples.length);
    samples.push({ label: p.label, vector: v, image: p.image });
  }
  const pairs = triplets ? tripletPairs(photos, index) : undefined;
  // the training code (and tfjs-layers) loads only when a command trains
  const { trainHead } = await import('../training/train.js');
  const result = await trainHead(samples, {
    kind, recognizer: s.model, outDir: opts.out, epochs: opts.epochs, checkpointEvery: opts.checkpointEvery, resume: opts.resume,
    seed: opts.seed, maxPairs: opts.maxPairs, learningRate: opts.learningRate, baselineMetric: opts.baselineMetric, signal: opts.signal, onProgress: opts.onEpoch,
    ...(pairs ? { pairs } : {}),
  });
  return { ...result, kind, recognizer: s.model, subject: s.subject, images: samples.length, failures };
}

async function classPhotos(dir: string): Promise<Labelled[]> {
  const { people } = await readPeople(dir);
  return people.flatMap((p) => p.images.map((image) => ({ image, label: p.label })));
}

/**
 * The seed's layout: the i-th files (sorted) of anchor/, positive/ and negative/ make a triplet,
 * labelled `triplet-i` so that the split keeps a triplet on one side; the pairs are (anchor,
 * positive) same and (anchor, negative) different.
 */
async function tripletPhotos(src: { anchor: string; positive: string; negative: string }): Promise<Labelled[]> {
  const [a, p, n] = await Promise.all([listImages(src.anchor), listImages(src.positive), listImages(src.negative)]);
  const count = Math.min(a.length, p.length, n.length);
  if (count === 0) throw new FacekitError('no_images', 'anchor/, positive/ and negative/ each need images (the i-th of each make a triplet)', src.anchor);
  if (a.length !== p.length || a.length !== n.length) {
    throw new FacekitError('usage', `anchor/ has ${a.length} images, positive/ ${p.length}, negative/ ${n.length}: the i-th of each make a triplet, so they need as many`, src.anchor);
  }
  const out: Labelled[] = [];
  for (let i = 0; i < count; i++) {
    const label = `triplet-${String(i + 1).padStart(4, '0')}`;
    out.push({ image: a[i]!, label }, { image: p[i]!, label }, { image: n[i]!, label });
  }
  return out;
}

function tripletPairs(photos: Labelled[], index: Map<string, number>): Pair[] {
  const pairs: Pair[] = [];
  for (let k = 0; k + 2 < photos.length; k += 3) {
    const [a, p, n] = [index.get(photos[k]!.image), index.get(photos[k + 1]!.image), index.get(photos[k + 2]!.image)];
    if (a === undefined) continue;
    if (p !== undefined) pairs.push({ i: a, j: p, same: true });
    if (n !== undefined) pairs.push({ i: a, j: n, same: false });
  }
  return pairs;
}
