/**
 * Training a head on synthetic embeddings: gaussian classes whose identity lives in a few
 * dimensions under many noisier ones (plain cosine is near chance there; a head can learn to
 * look past them). The built package is tested, on tfjs's WASM backend.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  applyHead, loadHead, makePairs, pairDistance, pairScore, splitClasses, tfjsHead, trainHead,
  type HeadKind, type LabelledEmbedding, type TrainResult,
} from '../../dist/training/index.js';
// the seeded generator the training itself uses (the same numbers for a seed on every platform)
import { rng } from '../../dist/training/split.js';

const root = mkdtempSync(join(tmpdir(), 'facekit-training-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** `classes` classes of `per` embeddings: identity in the first `signal` dims (spread 0.3), noise of sd 3 in the rest. */
function synthetic(classes: number, per: number, dim: number, seed = 3, signal = 8): LabelledEmbedding[] {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const out: LabelledEmbedding[] = [];
  for (let c = 0; c < classes; c++) {
    const center = Array.from({ length: signal }, gauss);
    for (let k = 0; k < per; k++) {
      const vector = new Float32Array(dim);
      for (let d = 0; d < dim; d++) vector[d] = d < signal ? center[d]! + 0.3 * gauss() : 3 * gauss();
      out.push({ label: `person-${String(c).padStart(2, '0')}`, vector, image: `person-${c}/${k}.jpg` });
    }
  }
  return out;
}

const data = synthetic(10, 20, 32);
const small = synthetic(6, 6, 16, 5);
const dir = (name: string) => join(root, name);

async function rejects(p: Promise<unknown> | (() => unknown), code: string, message: RegExp): Promise<void> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, 'should have failed').toBeDefined();
  expect((err as { code?: string }).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

describe('splitting by class', () => {
  it('never puts a class on both sides, and pairs stay on their side, balanced', () => {
    for (const [classes, per, seed] of [[10, 3, 1], [4, 2, 2], [7, 5, 3], [25, 2, 4], [5, 9, 9]] as const) {
      const samples = synthetic(classes, per, 4, seed);
      const split = splitClasses(samples, seed);
      expect(split.train.filter((c) => split.test.includes(c))).toEqual([]);
      expect([...split.train, ...split.test].sort()).toEqual([...new Set(samples.map((s) => s.label))].sort());
      expect(split.train.length).toBeGreaterThanOrEqual(2);
      expect(split.test.length).toBeGreaterThanOrEqual(2);
      for (const side of [split.train, split.test]) {
        const pairs = makePairs(samples, side, 40, seed);
        for (const p of pairs) {
          expect(side).toContain(samples[p.i]!.label);
          expect(side).toContain(samples[p.j]!.label);
          expect(p.same).toBe(samples[p.i]!.label === samples[p.j]!.label);
        }
        const same = pairs.filter((p) => p.same).length;
        expect(same).toBe(pairs.length - same);
        expect(pairs.length).toBeLessThanOrEqual(40);
      }
    }
    // seeded: the same split again
    expect(splitClasses(data, 7)).toEqual(splitClasses(data, 7));
  });
});

describe.each(['siamese', 'projection'] as HeadKind[])('a %s head', (kind) => {
  let result: TrainResult;
  const out = dir(`${kind}-head`);

  it('trains on WASM and beats plain cosine on held-out classes', async () => {
    const seen: number[] = [];
    result = await trainHead(data, { kind, recognizer: 'synthetic', outDir: out, epochs: 10, learningRate: kind === 'projection' ? 0.01 : 0.001, onProgress: (p) => seen.push(p.epoch) });
    expect(result.backend).toBe('wasm');
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(result.classes.train.filter((c) => result.classes.test.includes(c))).toEqual([]);
    expect(result.pairs.test).toBeGreaterThan(100);
    expect(result.baseline.accuracy).toBeLessThan(0.6);
    expect(result.head.accuracy).toBeGreaterThan(result.baseline.accuracy + 0.05);
    expect(result.head.auc).toBeGreaterThan(result.baseline.auc);
    expect(result.loss.at(-1)!).toBeLessThan(result.loss[0]!);
    const json = JSON.parse(readFileSync(join(out, 'head.json'), 'utf8'));
    expect(json).toMatchObject({ format: 'facekit-head', version: 1, kind, recognizer: 'synthetic', inputDim: 32, outputDim: 256, epochs: 10 });
    expect(json.metric).toBe(kind === 'siamese' ? 'probability' : 'cosine');
    expect(json.report.head.accuracy).toBe(result.head.accuracy);
  });

  it('runs in plain JS as tfjs runs it', async () => {
    const head = await loadHead(out);
    const tfh = await tfjsHead(head);
    try {
      const vs = data.slice(0, 30).map((s) => s.vector);
      const tfOut = tfh.embed(vs);
      vs.forEach((v, k) => {
        const js = applyHead(head, v);
        expect(js.length).toBe(256);
        for (let d = 0; d < js.length; d++) expect(Math.abs(js[d]! - tfOut[k]![d]!)).toBeLessThan(1e-4);
      });
      const pairs = vs.slice(0, 15).map((v, k) => [v, vs[29 - k]!] as [Float32Array, Float32Array]);
      const tfScores = tfh.score(pairs);
      pairs.forEach(([a, b], k) => expect(Math.abs(pairScore(head, a, b) - tfScores[k]!)).toBeLessThan(1e-4));
      // the head's threshold separates like its report says: same-class pairs score as same more often
      const sameScore = pairDistance(head, data[0]!.vector, data[1]!.vector);
      expect(Number.isFinite(sameScore)).toBe(true);
    } finally {
      tfh.dispose();
    }
    await rejects(() => applyHead(head, new Float32Array(31)), 'model_mismatch', /31-d embedding.*32-d/);
  });
});

describe('checkpoints', () => {
  it('resumes from the checkpoint epoch, and only on the same data', async () => {
    const out = dir('resume');
    const first = await trainHead(small, { kind: 'siamese', recognizer: 'synthetic', outDir: out, epochs: 4, checkpointEvery: 2 });
    expect(first.startEpoch).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'checkpoint', 'checkpoint.json'), 'utf8')).epoch).toBe(4);
    const epochs: number[] = [];
    const more = await trainHead(small, { kind: 'siamese', recognizer: 'synthetic', outDir: out, epochs: 6, resume: true, onProgress: (p) => epochs.push(p.epoch) });
    expect(more.startEpoch).toBe(4);
    expect(epochs).toEqual([5, 6]);
    expect(more.epochs).toBe(6);
    expect((await loadHead(out)).epochs).toBe(6);
    await rejects(trainHead(synthetic(6, 6, 16, 6), { kind: 'siamese', recognizer: 'synthetic', outDir: out, resume: true }), 'usage', /other embeddings or options/);
    await rejects(trainHead(small, { kind: 'projection', recognizer: 'synthetic', outDir: out, resume: true }), 'usage', /siamese head, not projection/);
    await rejects(trainHead(small, { kind: 'siamese', recognizer: 'synthetic', outDir: dir('never-trained'), resume: true }), 'not_found', /no checkpoint/);
  });

  it('an aborted run leaves a checkpoint and no head; a resume finishes it', async () => {
    const out = dir('aborted');
    const ctl = new AbortController();
    const opts = { kind: 'projection' as const, recognizer: 'synthetic', outDir: out, epochs: 5, checkpointEvery: 10 };
    await rejects(trainHead(small, { ...opts, signal: ctl.signal, onProgress: (p) => { if (p.epoch === 2) ctl.abort(); } }), 'aborted', /stopped at epoch 2 of 5.*resume/);
    expect(existsSync(join(out, 'head.json'))).toBe(false);
    expect(existsSync(join(out, 'weights.bin'))).toBe(false);
    expect(JSON.parse(readFileSync(join(out, 'checkpoint', 'checkpoint.json'), 'utf8')).epoch).toBe(2);
    const done = await trainHead(small, { ...opts, resume: true });
    expect(done.startEpoch).toBe(2);
    expect(existsSync(join(out, 'head.json'))).toBe(true);
  });
});

describe('loading a head', () => {
  it('refuses a missing folder, a folder without a head, and damaged weights, naming the path', async () => {
    const good = dir('siamese-head');
    await rejects(loadHead(dir('nowhere')), 'bad_head', /no such head folder/);
    await rejects(loadHead(root), 'bad_head', /no head\.json/);
    const cut = dir('truncated');
    cpSync(good, cut, { recursive: true });
    const weights = join(cut, 'weights.bin');
    truncateSync(weights, 1000);
    await rejects(loadHead(cut), 'bad_head', /1000 bytes where the layout needs/);
    const flipped = dir('flipped');
    cpSync(good, flipped, { recursive: true });
    const bytes = readFileSync(join(flipped, 'weights.bin'));
    bytes[10] = bytes[10]! ^ 0xff;
    writeFileSync(join(flipped, 'weights.bin'), bytes);
    await rejects(loadHead(flipped), 'bad_head', /sha256/);
    writeFileSync(join(flipped, 'head.json'), '{"format":"something else"}');
    await rejects(loadHead(flipped), 'bad_head', /not a facekit head/);
  });
});

describe('bad input', () => {
  const opts = { kind: 'siamese' as const, recognizer: 'synthetic', outDir: dir('bad') };
  it('says what is wrong in one line', async () => {
    await rejects(trainHead(synthetic(1, 5, 8), opts), 'usage', /^only one class/);
    await rejects(trainHead(synthetic(3, 5, 8), opts), 'usage', /3 classes.*at least 4 labelled classes/);
    const mixed = [...synthetic(5, 3, 8), { label: 'x', vector: new Float32Array(12), image: 'x.jpg' }];
    await rejects(trainHead(mixed, opts), 'model_mismatch', /different dimensions\/models: 8-d .* and 12-d/);
    await rejects(trainHead(synthetic(5, 3, 8), { ...opts, kind: 'lambda' as HeadKind }), 'usage', /unknown head kind/);
    await rejects(trainHead(synthetic(5, 3, 8), { ...opts, epochs: 0 }), 'usage', /epochs must be/);
    expect(existsSync(dir('bad'))).toBe(false);
  });
});
