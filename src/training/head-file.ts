/**
 * A trained head on disk (head.json + weights.bin) and its inference in plain JavaScript: a
 * command that uses a head loads two small files and does a few matrix-vector products, without
 * starting tfjs. Nothing here imports tfjs.
 */
import { readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FacekitError, fsError } from '../core/errors.js';
import { ensureDir, sha256, writeFileAtomic } from '../core/files.js';
import { dot, l2normalize } from '../core/vector.js';
import { HEAD_KINDS, type HeadKind } from './split.js';

/** The figures of one scoring on the held-out pairs. */
export interface PairMetrics {
  threshold: number;
  accuracy: number;
  /** 0 when nothing is accepted */
  precision: number;
  recall: number;
  f1: number;
  auc: number;
}

/** What training measured, on pairs of held-out classes. */
export interface TrainReport {
  pairs: { train: number; test: number };
  classes: { train: string[]; test: string[] };
  /** at the threshold chosen on the train pairs; bestAccuracy: at its best threshold on the test pairs */
  head: PairMetrics & { bestAccuracy: number };
  /** the untrained embeddings' distance, at its best threshold on the test pairs (an optimistic baseline) */
  baseline: PairMetrics & { metric: 'cosine' | 'euclidean_l2' };
  seconds: number;
  epochs: number;
}

export interface WeightEntry {
  name: string;
  shape: number[];
}

/** head.json */
export interface HeadFile {
  format: 'facekit-head';
  version: 1;
  kind: HeadKind;
  recognizer: string;
  inputDim: number;
  outputDim: number;
  /** siamese ('probability'): same when p(same) >= threshold; projection ('cosine'): same when the cosine distance <= threshold */
  threshold: number;
  metric: 'cosine' | 'probability';
  classes: string[];
  created: string;
  epochs: number;
  report: TrainReport;
  weights: { file: 'weights.bin'; sha256: string; layout: WeightEntry[] };
}

/** A loaded head: its head.json, where it is, and its weights by name. */
export interface Head extends HeadFile {
  dir: string;
  params: Record<string, Float32Array>;
}

/** A named weight with its values, as training hands them over. */
export interface NamedWeight extends WeightEntry {
  data: Float32Array;
}

/** The weights each kind of head keeps (the projection's classifier is dropped after training). */
export function headLayout(kind: HeadKind, inputDim: number, outputDim: number): WeightEntry[] {
  const branch = kind === 'siamese' ? 'branch' : 'proj';
  const layout = [{ name: `${branch}/kernel`, shape: [inputDim, outputDim] }, { name: `${branch}/bias`, shape: [outputDim] }];
  if (kind === 'siamese') layout.push({ name: 'out/kernel', shape: [outputDim, 1] }, { name: 'out/bias', shape: [1] });
  return layout;
}

/* ------------------------------------------------------------------ weights.bin */

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** float32 little-endian, one weight after the other in layout order. */
export function packWeights(weights: NamedWeight[]): { bytes: Uint8Array; layout: WeightEntry[] } {
  const total = weights.reduce((s, w) => s + w.data.length, 0);
  const bytes = new Uint8Array(total * 4);
  const view = new DataView(bytes.buffer);
  let off = 0;
  for (const w of weights) {
    if (w.data.length !== size(w.shape)) throw new FacekitError('internal', `weight ${w.name} has ${w.data.length} values for shape [${w.shape}]`);
    for (let k = 0; k < w.data.length; k++, off += 4) view.setFloat32(off, w.data[k]!, true);
  }
  return { bytes, layout: weights.map(({ name, shape }) => ({ name, shape: [...shape] })) };
}

/** The inverse of packWeights, refusing bytes that do not fit the layout (truncated, or another file). */
export function unpackWeights(bytes: Uint8Array, layout: WeightEntry[], where: string): Record<string, Float32Array> {
  const need = layout.reduce((s, w) => s + size(w.shape), 0) * 4;
  if (bytes.length !== need) {
    throw new FacekitError('bad_head', `${bytes.length} bytes where the layout needs ${need}: truncated, or the weights of another head`, where);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, Float32Array> = {};
  let off = 0;
  for (const w of layout) {
    const a = new Float32Array(size(w.shape));
    for (let k = 0; k < a.length; k++, off += 4) a[k] = view.getFloat32(off, true);
    out[w.name] = a;
  }
  return out;
}

/** Read a weights file and check it against its sha256 and layout. */
export async function readWeights(path: string, sha: string, layout: WeightEntry[]): Promise<Record<string, Float32Array>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const e = fsError(err, path);
    throw new FacekitError('bad_head', e.code === 'not_found' ? 'the weights file is missing' : e.message, path);
  }
  const params = unpackWeights(bytes, layout, path);
  if (sha256(bytes) !== sha) throw new FacekitError('bad_head', 'the weights do not match their sha256: changed or damaged since they were written', path);
  return params;
}

/* ------------------------------------------------------------------ write, load */

/**
 * Write a head: weights.bin, then head.json, each atomically. An older head.json goes first, so a
 * crash in between leaves no head rather than an old head.json over new weights.
 */
export async function writeHead(dir: string, meta: Omit<HeadFile, 'weights'>, weights: NamedWeight[]): Promise<HeadFile> {
  await ensureDir(dir);
  const { bytes, layout } = packWeights(weights);
  const json = join(dir, 'head.json');
  await unlink(json).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw fsError(err, json); });
  await writeFileAtomic(join(dir, 'weights.bin'), bytes, { durable: true });
  const file: HeadFile = { ...meta, weights: { file: 'weights.bin', sha256: sha256(bytes), layout } };
  await writeFileAtomic(json, JSON.stringify(file, null, 2) + '\n', { durable: true });
  return file;
}

/** Load and check a head folder; every refusal is one 'bad_head' line that names the path. */
export async function loadHead(dir: string): Promise<Head> {
  const bad = (message: string, where: string) => new FacekitError('bad_head', message, where);
  const folder = await stat(dir).catch(() => undefined);
  if (!folder) throw bad('no such head folder', dir);
  if (!folder.isDirectory()) throw bad('not a head folder (a head is a folder with head.json and weights.bin)', dir);
  const jsonPath = join(dir, 'head.json');
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw bad('not a facekit head: no head.json here (train one first)', dir);
    throw bad(fsError(err, jsonPath).message, jsonPath);
  }
  let meta: HeadFile;
  try {
    meta = JSON.parse(text) as HeadFile;
  } catch {
    throw bad('not a facekit head: head.json is not valid JSON', jsonPath);
  }
  checkMeta(meta, jsonPath);
  const params = await readWeights(join(dir, 'weights.bin'), meta.weights.sha256, meta.weights.layout);
  return { ...meta, dir, params };
}

function checkMeta(m: HeadFile, where: string): void {
  const bad = (what: string) => new FacekitError('bad_head', `not a valid facekit head: ${what}`, where);
  if (!m || typeof m !== 'object' || m.format !== 'facekit-head') throw new FacekitError('bad_head', 'not a facekit head (no "format": "facekit-head")', where);
  if (m.version !== 1) throw new FacekitError('bad_head', `head format version ${String(m.version)}; this facekit reads version 1`, where);
  if (!HEAD_KINDS.includes(m.kind)) throw bad(`unknown kind ${JSON.stringify(m.kind)}`);
  if (!Number.isInteger(m.inputDim) || m.inputDim < 1 || !Number.isInteger(m.outputDim) || m.outputDim < 1) throw bad('inputDim / outputDim');
  if (typeof m.threshold !== 'number' || !Number.isFinite(m.threshold)) throw bad('threshold');
  if (m.metric !== (m.kind === 'siamese' ? 'probability' : 'cosine')) throw bad(`metric ${JSON.stringify(m.metric)} for a ${m.kind} head`);
  if (!m.weights || m.weights.file !== 'weights.bin' || typeof m.weights.sha256 !== 'string' || !Array.isArray(m.weights.layout)) throw bad('weights');
  const want = headLayout(m.kind, m.inputDim, m.outputDim);
  const got = m.weights.layout;
  const same = got.length === want.length && want.every((w, k) => got[k]?.name === w.name && JSON.stringify(got[k]?.shape) === JSON.stringify(w.shape));
  if (!same) throw bad(`weights layout ${JSON.stringify(got)}; a ${m.kind} head of ${m.inputDim} -> ${m.outputDim} has ${JSON.stringify(want)}`);
}

/* ------------------------------------------------------------------ inference */

/**
 * What every head sees: the embedding at unit length, scaled by sqrt(dim) so that its components
 * are about 1 in size. One learning rate and initialisation then suit any recognizer, whatever
 * the scale of its raw outputs (ArcFace's are ~20 long, others unit length).
 */
export function prepareInput(v: ArrayLike<number>): Float32Array {
  const out = l2normalize(v);
  const s = Math.sqrt(v.length);
  for (let k = 0; k < out.length; k++) out[k]! *= s;
  return out;
}

function checkDim(head: Head, v: ArrayLike<number>): void {
  if (v.length !== head.inputDim) {
    throw new FacekitError('model_mismatch', `a ${v.length}-d embedding for a head trained on ${head.inputDim}-d embeddings of ${head.recognizer}`, head.dir);
  }
}

/** x' = W^T x + b with W stored [in, out] row-major. */
function linear(x: Float32Array, kernel: Float32Array, bias: Float32Array): Float32Array {
  const outDim = bias.length;
  const acc = new Float64Array(bias);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    const row = i * outDim;
    for (let j = 0; j < outDim; j++) acc[j]! += xi * kernel[row + j]!;
  }
  return Float32Array.from(acc);
}

/** The head applied to one raw embedding: projection: the unit-length new embedding; siamese: the twin branch's output. */
export function applyHead(head: Head, vector: ArrayLike<number>): Float32Array {
  checkDim(head, vector);
  const branch = head.kind === 'siamese' ? 'branch' : 'proj';
  const y = linear(prepareInput(vector), head.params[`${branch}/kernel`]!, head.params[`${branch}/bias`]!);
  return head.kind === 'projection' ? l2normalize(y) : y;
}

/** Siamese: p(same) from two branch outputs. */
export function siameseProbability(head: Head, a: Float32Array, b: Float32Array): number {
  const w = head.params['out/kernel']!;
  let z = head.params['out/bias']![0]!;
  for (let j = 0; j < a.length; j++) z += Math.abs(a[j]! - b[j]!) * w[j]!;
  return 1 / (1 + Math.exp(-z));
}

/**
 * The head's score for two raw embeddings. Siamese: p(same), higher = same; projection: the
 * cosine distance of the projections, lower = same. head.threshold is in the same unit.
 */
export function pairScore(head: Head, a: ArrayLike<number>, b: ArrayLike<number>): number {
  const pa = applyHead(head, a), pb = applyHead(head, b);
  return head.kind === 'siamese' ? siameseProbability(head, pa, pb) : 1 - dot(pa, pb);
}

/** A distance for any head, lower = same (siamese: 1 - p(same)); same when <= pairDistanceThreshold(head). */
export function pairDistance(head: Head, a: ArrayLike<number>, b: ArrayLike<number>): number {
  const s = pairScore(head, a, b);
  return head.kind === 'siamese' ? 1 - s : s;
}

export function pairDistanceThreshold(head: Pick<HeadFile, 'kind' | 'threshold'>): number {
  return head.kind === 'siamese' ? 1 - head.threshold : head.threshold;
}
