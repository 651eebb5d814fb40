/**
 * `facekit train` and `--head` (issue 24): a head trained on a recognizer's embeddings of labelled
 * classes (synthetic signatures, scripts/synthetic-sets.mjs) or of the seed's anchor/ positive/
 * negative/ layout; its report beside the untrained embedding's; the head used by verify A B,
 * represent and serve's /compare; bad input in one line. The library in this process, the CLI's
 * main(), the server through inject(). The heads' own maths: test/unit/training.test.ts.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { engine, facekit, rejection } from '../helpers/engine.js';
import { serveInProcess } from '../helpers/app.js';
import { inject } from '../helpers/serve.js';
// @ts-expect-error: a plain .mjs script without declarations
import { makeSiamese, makeSignatures } from '../../scripts/synthetic-sets.mjs';

const { train, loadHead } = facekit;

let root: string;
let sig: string;
let siameseHead: string;
let projectionHead: string;
const sample = (signer: number, n: number) => join(sig, `signer-${String(signer).padStart(2, '0')}`, `${String(n).padStart(2, '0')}.png`);

beforeAll(async () => {
  root = tempDir('facekit-train-');
  sig = join(root, 'signatures');
  await makeSignatures(sig, { signers: 10, samples: 4, seed: 11 });
  siameseHead = join(root, 'siamese');
  projectionHead = join(root, 'projection');
});

describe('train', () => {
  it('trains a siamese head by class (none on both sides), reports it beside the untrained embedding, and writes the head', async () => {
    const epochs: number[] = [];
    const r = await train(sig, { subject: 'image', out: siameseHead, epochs: 4, checkpointEvery: 2, engine: engine(), onEpoch: (p) => epochs.push(p.epoch) });
    expect(r).toMatchObject({ kind: 'siamese', recognizer: 'mobilenetv2', subject: 'image', images: 40, failures: [], backend: 'wasm', epochs: 4 });
    expect(epochs).toEqual([1, 2, 3, 4]);
    expect(r.classes.train.filter((c) => r.classes.test.includes(c))).toEqual([]);
    expect(r.classes.train.length + r.classes.test.length).toBe(10);
    for (const side of [r.head, r.baseline]) {
      for (const k of ['accuracy', 'precision', 'recall', 'f1', 'auc'] as const) expect(side[k]).toBeGreaterThanOrEqual(0), expect(side[k]).toBeLessThanOrEqual(1);
    }
    expect(r.baseline.metric).toBe('cosine');
    const json = JSON.parse(readFileSync(join(siameseHead, 'head.json'), 'utf8'));
    expect(json).toMatchObject({ format: 'facekit-head', kind: 'siamese', recognizer: 'mobilenetv2', inputDim: 1280, threshold: r.head.threshold, classes: r.classes.train });
    expect(existsSync(join(siameseHead, 'checkpoint', 'checkpoint.json'))).toBe(true);
    expect((await loadHead(siameseHead)).kind).toBe('siamese');
  });

  it('a projection head: facekit train prints the report as a table beside the untrained embedding, JSON off a terminal', async () => {
    const t = await cliInProcess(['train', sig, '--subject', 'image', '--head', 'projection', '--out', projectionHead, '--epochs', '3', '--table']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/projection head on mobilenetv2 \(image\)/);
    expect(t.stdout).toMatch(/held-out pairs.*projection head.*untrained mobilenetv2 \(cosine\)/);
    for (const row of ['accuracy', 'precision', 'recall', 'F1', 'ROC AUC']) expect(t.stdout).toContain(row);
    expect(t.stderr).toMatch(/epoch 3\/3: loss \d/);
    const again = await cliInProcess(['train', sig, '--subject', 'image', '--head', 'projection', '--out', projectionHead, '--epochs', '4', '--resume', '--json']);
    expect(again.code).toBe(0);
    const r = JSON.parse(again.stdout) as { startEpoch: number; epochs: number };
    expect(r).toMatchObject({ startEpoch: 3, epochs: 4 });
  });

  it('the seed\'s anchor/ positive/ negative/ layout trains a siamese head on its pairs', async () => {
    const dir = join(root, 'seed');
    await makeSiamese(dir, { signers: 8, pairs: 3, seed: 4 });
    const out = join(root, 'seed-head');
    const r = await train({ anchor: join(dir, 'anchor'), positive: join(dir, 'positive'), negative: join(dir, 'negative') }, { subject: 'image', out, epochs: 2, engine: engine() });
    expect(r.kind).toBe('siamese');
    expect(r.pairs.train + r.pairs.test).toBe(2 * r.images / 3);
    const bad = await cliInProcess(['train', '--anchor', join(dir, 'anchor'), '--positive', join(dir, 'positive'), '--negative', join(dir, 'negative'), '--head', 'projection', '--out', join(root, 'x'), '--subject', 'image']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/a projection head learns classes/);
  });

  it('Ctrl-C (the signal) stops after a batch: a checkpoint, no head, exit code 130; bad input is one line, exit 2', async () => {
    const out = join(root, 'stopped');
    const ctl = new AbortController();
    const r = await rejection(train(sig, { subject: 'image', out, epochs: 50, engine: engine(), signal: ctl.signal, onEpoch: (p) => { if (p.epoch === 1) ctl.abort(); } }));
    expect(r.code).toBe('aborted');
    expect(existsSync(join(out, 'checkpoint', 'checkpoint.json'))).toBe(true);
    expect(existsSync(join(out, 'head.json'))).toBe(false);
    const one = join(root, 'one-class');
    mkdirSync(join(one, 'only'), { recursive: true });
    const { copyFileSync } = await import('node:fs');
    copyFileSync(sample(1, 1), join(one, 'only', 'a.png'));
    copyFileSync(sample(1, 2), join(one, 'only', 'b.png'));
    for (const [args, message] of [
      [['train', one, '--subject', 'image', '--out', join(root, 'y')], /only one class/],
      [['train', sig, '--subject', 'image'], /--out <dir> is needed/],
      [['train', sig, '--subject', 'image', '--out', join(root, 'z'), '--head', 'triplet'], /--head must be one of siamese, projection/],
      [['train', sig, '--subject', 'image', '--out', join(root, 'fresh'), '--resume'], /no checkpoint to resume from/],
    ] as const) {
      const res = await cliInProcess([...args]);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(res.stderr).toMatch(message);
    }
  });
});

describe('--head', () => {
  it('verify A B --head: the siamese head decides at its trained threshold; another recognizer is refused', async () => {
    const same = await engine().verify(sample(9, 1), sample(9, 2), { head: siameseHead });
    expect(same).toMatchObject({ metric: 'siamese', model: 'mobilenetv2', threshold: Number((1 - (await loadHead(siameseHead)).threshold).toFixed(4)) });
    expect(same.head).toMatch(/^siamese:[0-9a-f]{12}$/);
    expect(same.distance).toBeGreaterThanOrEqual(0);
    expect(same.distance).toBeLessThanOrEqual(1);
    const cli = await cliInProcess(['verify', sample(9, 1), sample(9, 2), '--head', siameseHead, '--json']);
    expect([0, 1]).toContain(cli.code);
    expect(JSON.parse(cli.stdout)).toMatchObject({ metric: 'siamese', head: same.head });
    const wrong = await cliInProcess(['verify', sample(9, 1), sample(9, 2), '--head', siameseHead, '--model', 'mobilefacenet']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/head was trained on mobilenetv2 embeddings, not mobilefacenet/);
    const gallery = await cliInProcess(['verify', sample(9, 1), '--db', join(root, 'g.json'), '--head', siameseHead]);
    expect(gallery.code).toBe(2);
    expect(gallery.stderr).toMatch(/--head decides 1:1/);
    const missing = await cliInProcess(['verify', sample(9, 1), sample(9, 2), '--head', join(root, 'nothing')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such head folder/);
  });

  it('represent --head: a projection head gives the 256-d projection, tagged; a siamese head is refused', async () => {
    const [r] = await engine().represent(sample(2, 3), { head: projectionHead });
    expect(r!.embedding).toMatchObject({ model: 'mobilenetv2', dim: 256 });
    expect(r!.embedding!.head).toMatch(/^projection:/);
    expect(Math.hypot(...r!.embedding!.vector)).toBeCloseTo(1, 4);
    const refused = await cliInProcess(['represent', sample(2, 3), '--head', siameseHead]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/a siamese head scores pairs/);
  });

  it('build-db --head: the gallery holds the projections and records its head; verify, similar and serve\'s /verify project queries the same way', async () => {
    const db = join(root, 'projected.json');
    const built = await cliInProcess(['build-db', sig, '--head', projectionHead, '--db', db]);
    expect(built.code).toBe(0);
    expect(built.stderr).toMatch(/10 categories, 40 images \(mobilenetv2\)/);
    const g = await facekit.Gallery.open(db, { engine: engine() });
    try {
      expect(g.meta).toMatchObject({ model: 'mobilenetv2', dim: 256, head: { tag: expect.stringMatching(/^projection:/) } });
      const [who] = await g.identify(sample(4, 2));
      expect(who).toMatchObject({ identity: 'signer-04', distance: 0 });
      expect((await g.similar(sample(4, 2), { top: 1 })).matches[0]!.label).toBe('signer-04');
    } finally {
      await g.close();
    }
    const server = await serveInProcess({ db });
    const res = await inject(server, 'POST', '/verify', { form: { image: `@${sample(4, 2)}` } });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.text) as { faces: { identity: string }[] }).faces[0]!.identity).toBe('signer-04');
    // another head, a siamese head, a head for a database gallery: one line each, exit 2
    for (const [args, message] of [
      [['build-db', sig, '--db', db, '--head', siameseHead], /a siamese head scores pairs/],
      [['build-db', sig, '--db', db, '--subject', 'image'], /^$/],
    ] as const) {
      const r = await cliInProcess([...args]);
      if (message.source === '^$') expect(r.code).toBe(0); // the gallery's own head is used: nothing new, nothing refused
      else {
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
      }
    }
  });

  it('serve --head: POST /compare with the head\'s recognizer decides with the head; other models as before', async () => {
    const server = await serveInProcess({ db: 'memory:', head: siameseHead });
    const res = await inject(server, 'POST', '/compare', { form: { image1: `@${sample(9, 1)}`, image2: `@${sample(9, 3)}`, model: 'MobileNetV2' } });
    expect(res.status).toBe(200);
    const a = JSON.parse(res.text) as Record<string, unknown>;
    expect(a).toMatchObject({ metric: 'siamese', model: 'mobilenetv2' });
    expect(a.head).toMatch(/^siamese:/);
    expect(typeof a.same_signature).toBe('boolean');
    await expect(serveInProcess({ db: 'memory:', head: join(root, 'nothing') })).rejects.toThrow(/no such head folder/);
  });
});
