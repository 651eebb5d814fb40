/**
 * Any-image mode (issue 24): `--subject image` takes the whole picture (detector `none`) and embeds
 * it with the any-image recognizer (mobilenetv2), through represent, build-db, verify, similar,
 * /compare (the signature API's `model: "MobileNetV2"`) and /similar. The pictures are synthetic
 * signatures (scripts/synthetic-sets.mjs, a second or so) and edits of them, so that nothing here
 * needs ../shared. The library in this process, the server through inject(), the CLI's main().
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { collect, engine, facekit, rejection } from '../helpers/engine.js';
import { serveInProcess } from '../helpers/app.js';
import { inject } from '../helpers/serve.js';
// @ts-expect-error: a plain .mjs script without declarations
import { makeSignatures } from '../../scripts/synthetic-sets.mjs';

const { buildGallery, Gallery } = facekit;

let root: string;
let sig: string;
const sample = (signer: number, n: number) => join(sig, `signer-${String(signer).padStart(2, '0')}`, `${String(n).padStart(2, '0')}.png`);
/** a recompressed, slightly darker copy of signer 1's first sample: a near-duplicate */
let edited: string;
let db: string;

beforeAll(async () => {
  root = tempDir('facekit-any-image-');
  sig = join(root, 'signatures');
  await makeSignatures(sig, { signers: 4, samples: 3, seed: 7 });
  edited = join(root, 'edited.jpg');
  await sharp(sample(1, 1)).modulate({ brightness: 0.9 }).jpeg({ quality: 40 }).toFile(edited);
  db = join(root, 'sig.json');
  const s = await buildGallery(sig, { db, subject: 'image', engine: engine() });
  expect(s.galleryFaces).toBe(12);
});

describe('any-image mode', () => {
  it('represent --subject image: the whole picture is one subject (detector none), a 1280-d mobilenetv2 embedding', async () => {
    const [r] = await engine().represent(sample(2, 1), { subject: 'image' });
    const meta = await sharp(sample(2, 1)).metadata();
    expect(r).toMatchObject({ face: 0, detector: 'none', box: [0, 0, meta.width, meta.height], score: 1, embedding: { model: 'mobilenetv2', dim: 1280 } });
    expect(r!.landmarks).toBeUndefined();
    const v = r!.embedding!.vector;
    expect(Math.hypot(...v)).toBeCloseTo(1, 4);
    // a picture with no face at all is embedded: nothing is detected, nothing can be missed
    const blank = join(root, 'blank.png');
    await sharp({ create: { width: 300, height: 120, channels: 3, background: '#fff' } }).png().toFile(blank);
    expect((await engine().represent(blank, { subject: 'image' }))[0]!.embedding!.dim).toBe(1280);
  });

  it('the stage-by-stage records give the same embedding as one-shot represent', async () => {
    const out = tempDir('facekit-any-image-stages-');
    const [d] = await engine().detect(sample(3, 2), { subject: 'image' });
    const [a0] = await engine().extract([d!], { subject: 'image', upTo: 'align', alignDir: out });
    expect(a0!.aligned).toMatchObject({ template: 'image-224', size: [224, 224], rotated: false });
    const [n] = await engine().extract([a0!], { subject: 'image', normDir: out });
    expect(n!.normalized).toMatchObject({ scheme: 'unit' });
    const [staged] = await collect(engine().representEach([n!], { subject: 'image' }));
    const [direct] = await engine().represent(sample(3, 2), { subject: 'image' });
    const a = staged!.embedding!.vector, b = direct!.embedding!.vector;
    expect(Math.max(...a.map((x, i) => Math.abs(x - b[i]!)))).toBeLessThan(1e-5);
  });

  it('the subject, model and detector are chosen together; a wrong pairing is one usage line', async () => {
    expect((await rejection(engine().represent(sample(1, 1), { subject: 'image', detector: 'ssd' }))).line).toMatch(/--subject image takes the whole image: detector "ssd" finds faces/);
    expect((await rejection(engine().represent(sample(1, 1), { subject: 'image', model: 'resnet34' }))).line).toMatch(/resnet34 is a face recognizer/);
    expect((await rejection(engine().represent(sample(1, 1), { subject: 'face', model: 'mobilenetv2' }))).line).toMatch(/mobilenetv2 embeds whole images: use it with --subject image/);
    // the model alone says the subject
    expect((await engine().represent(sample(1, 1), { model: 'mobilenetv2' }))[0]!.detector).toBe('none');
  });

  it('a gallery records which kind it holds: faces into an image gallery (or images into a face gallery) is one clear error', async () => {
    const g = await Gallery.open(db);
    try {
      expect(g.meta).toMatchObject({ model: 'mobilenetv2', detector: 'none', flip: false });
    } finally {
      await g.close();
    }
    const r = await rejection(buildGallery(sig, { db, subject: 'face', engine: engine() }));
    expect(r).toMatchObject({ code: 'model_mismatch' });
    expect(r.line).toMatch(/gallery holds whole images \(mobilenetv2\), not faces/);
  });

  it('Gallery.similar: the near-duplicate first, nearest first, with its category; identify answers from the same gallery', async () => {
    const g = await Gallery.open(db, { engine: engine() });
    try {
      const a = await g.similar(edited, { top: 4 });
      expect(a.matches).toHaveLength(4);
      expect(a.matches[0]).toMatchObject({ rank: 1, label: 'signer-01', image: sample(1, 1), similar: true });
      expect(a.matches[0]!.distance).toBeLessThan(a.threshold);
      const d = a.matches.map((m) => m.distance);
      expect(d).toEqual([...d].sort((x, y) => x - y));
      const [who] = await g.identify(edited);
      expect(who).toMatchObject({ identity: 'signer-01', verdict: 'match' });
    } finally {
      await g.close();
    }
  });

  it('facekit similar: a table on request, JSON off a terminal, exit 0 when the nearest is similar, 1 when none is', async () => {
    const table = await cliInProcess(['similar', edited, '--db', db, '--top', '3', '--table']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/rank.*label.*distance.*similar/);
    expect(table.stdout).toContain('signer-01');
    const json = await cliInProcess(['similar', edited, '--db', db, '--top', '2', '--json']);
    const answer = JSON.parse(json.stdout) as { matches: { label: string }[] };
    expect(answer.matches.map((m) => m.label)[0]).toBe('signer-01');
    const strict = await cliInProcess(['similar', edited, '--db', db, '--threshold', '0.0001', '--json']);
    expect(strict.code).toBe(1);
    const bad = await cliInProcess(['similar', join(root, 'missing.png'), '--db', db]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('the CLI: --subject image on build-db and verify; --subject image with a face detector is exit 2', async () => {
    const out = join(root, 'cli.json');
    const built = await cliInProcess(['build-db', sig, '--subject', 'image', '--db', out]);
    expect(built.code).toBe(0);
    expect(built.stderr).toMatch(/4 categories, 12 images \(mobilenetv2\)/);
    const v = await cliInProcess(['verify', edited, '--db', out, '--json']);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ identity: 'signer-01' });
    const bad = await cliInProcess(['represent', edited, '--subject', 'image', '--detector', 'ssd']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--subject image takes the whole image/);
  });
});

describe('any image over HTTP', () => {
  it('POST /compare with model "MobileNetV2" compares two pictures without faces, with the signature API\'s fields', async () => {
    // a face gallery's server: the request's model decides the subject
    const server = await serveInProcess({ db: 'memory:' });
    const same = await inject(server, 'POST', '/compare', { form: { image1: `@${edited}`, image2: `@${sample(1, 1)}`, model: 'MobileNetV2' } });
    expect(same.status).toBe(200);
    const s = JSON.parse(same.text) as Record<string, unknown>;
    expect(s).toMatchObject({ model: 'mobilenetv2', same_signature: true, verified: true });
    expect(typeof s.similarity).toBe('number');
    expect(s.threshold).toBe(facekit.RECOGNIZERS.mobilenetv2.thresholds.euclidean_l2);
    const other = await inject(server, 'POST', '/compare', { json: {
      image1_base64: (await sharp(sample(1, 1)).toBuffer()).toString('base64'),
      image2_base64: (await sharp(sample(4, 3)).toBuffer()).toString('base64'), model: 'mobilenetv2',
    } });
    expect(other.status).toBe(200);
    expect((JSON.parse(other.text) as { distance: number }).distance).toBeGreaterThan((s as { distance: number }).distance);
    // without the model, the face gallery's model looks for faces: none in a signature
    const faces = await inject(server, 'POST', '/compare', { form: { image1: `@${edited}`, image2: `@${sample(1, 1)}` } });
    expect(faces.status).toBe(422);
    expect(faces.text).toMatch(/no_face/);
  });

  it('serve --subject image: a new gallery holds whole pictures; POST /gallery adds them, /verify finds their category', async () => {
    const server = await serveInProcess({ db: 'memory:', subject: 'image' });
    const add = await inject(server, 'POST', '/gallery', { form: { label: 'signer-02', images: [`@${sample(2, 1)}`, `@${sample(2, 2)}`] } });
    expect(add.status).toBe(201);
    const health = JSON.parse((await inject(server, 'GET', '/health')).text) as { gallery: { model: string; subject: string; faces: number } };
    expect(health.gallery).toMatchObject({ model: 'mobilenetv2', subject: 'image', faces: 2 });
    const who = await inject(server, 'POST', '/verify', { form: { image: `@${sample(2, 1)}` } });
    expect((JSON.parse(who.text) as { faces: { identity: string }[] }).faces[0]!.identity).toBe('signer-02');
  });

  it('POST /similar answers the nearest photos with a link to each (never the server\'s path); the page has the view', async () => {
    const server = await serveInProcess({ db });
    const res = await inject(server, 'POST', '/similar', { form: { image: `@${edited}`, top: '3' } });
    expect(res.status).toBe(200);
    const a = JSON.parse(res.text) as { model: string; matches: { label: string; photo: string; similar: boolean; image?: string }[] };
    expect(a.model).toBe('mobilenetv2');
    expect(a.matches).toHaveLength(3);
    expect(a.matches[0]).toMatchObject({ label: 'signer-01', similar: true });
    expect(a.matches[0]!.image).toBeUndefined();
    const photo = await inject(server, 'GET', `${a.matches[0]!.photo}?size=64`);
    expect(photo.status).toBe(200);
    const page = await inject(server, 'GET', '/');
    expect(page.text).toContain('Similar images');
    expect(page.text).toContain('/similar');
    const bad = await inject(server, 'POST', '/similar', { form: { image: `@${edited}`, top: '0' } });
    expect(bad.status).toBe(400);
  });
});
