/**
 * analyze through the library (the built package, in this process): the records `facekit analyze`
 * prints are these (its contract as a process: test/cli/stages.test.ts); detect and analyze on the
 * artists (one pass); verify and buildGallery with antiSpoof; `POST /analyze` of the server
 * through inject(). The spoof here is made by the test: a demo photo shown small on a dark
 * "monitor" with a visible pixel grid (sharp), which the default spoof model scores far below its
 * threshold.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FaceRecord } from '../../dist/index.js';
import { serveInProcess, type InProcessServer } from '../helpers/app.js';
import { ARTISTS, DEMO, FIXTURES, hasArtists, tempDir } from '../helpers/cli.js';
import { asPrinted, collect, engine, facekit, rejection } from '../helpers/engine.js';
import { outcomes, peoplePhotos, said, screenSpoof } from '../helpers/group-a.js';
import { conform, responseSchema, type Schema } from '../helpers/openapi.js';
import { form } from '../helpers/serve.js';

const group = join(DEMO, 'sample1.jpg');
const single = join(DEMO, 'sample6.jpg');
const dir = tempDir('facekit-analyze-');

type Rec = Record<string, unknown> & { analysis?: Record<string, unknown>; error?: { code: string; message: string } };

describe('analyze', () => {
  let all: Rec[];
  beforeAll(async () => {
    all = asPrinted(await engine().analyze(group)) as Rec[];
  });

  it('gives every face age, gender, emotion and a spoof verdict', () => {
    expect(all).toHaveLength(3);
    for (const r of all) {
      const a = r.analysis!;
      expect(a.age).toBeGreaterThan(10);
      expect(a.age).toBeLessThan(80);
      expect(['woman', 'man']).toContain(a.gender);
      expect(a.genderScore).toBeGreaterThanOrEqual(0.5);
      const emotion = a.emotion as Record<string, number>;
      expect(Object.keys(emotion).sort()).toEqual(['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise']);
      expect(Object.values(emotion).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 2);
      expect(emotion[a.dominantEmotion as string]).toBe(Math.max(...Object.values(emotion)));
      expect(a.spoof).toMatchObject({ real: true, threshold: 0.5, model: 'minifasnet' });
      // the detect record's keys are kept
      expect(r).toMatchObject({ schema: 1, detector: 'blazeface' });
      expect(r.box).toBeDefined();
    }
  });

  it('actions picks what is estimated; an unknown action or model is a usage error naming those offered', async () => {
    for (const r of await engine().analyze(group, { actions: ['gender'] })) {
      expect(Object.keys(r.analysis!).sort()).toEqual(['gender', 'genderScore', 'models']);
      expect(r.analysis!.models).toEqual({ gender: 'faceapi' });
    }
    expect(await rejection(engine().analyze(group, { actions: 'age,race' }))).toMatchObject({ code: 'usage', message: 'unknown action "race": analyze offers age, gender, emotion, spoof' });
    expect(await rejection(engine().analyze(group, { emotionModel: 'fer' as never }))).toMatchObject({ code: 'usage', message: 'unknown emotion model "fer" (one of faceapi, human)' });
  });

  it('gives for detect records what the one-shot run gives, from a Buffer too', async () => {
    const det = await engine().detect(group);
    const recs = asPrinted(await collect(engine().analyzeEach(det))) as Rec[];
    expect(recs.map((r) => r.analysis)).toEqual(all.map((r) => r.analysis));
    const named = await engine().analyze(readFileSync(group), { actions: ['gender', 'emotion'], name: 'group' });
    expect(named).toHaveLength(3);
    expect(named[0]!.image).toBe('group');
    for (const r of named) expect(Object.keys(r.analysis!).sort()).toEqual(['dominantEmotion', 'emotion', 'gender', 'genderScore', 'models']);
  });

  it('the other models run behind the same options', async () => {
    const [r, ...more] = await engine().analyze(single, { ageGenderModel: 'ssrnet', emotionModel: 'human', spoofModel: 'antispoof', maxFaces: 1 });
    expect(more).toEqual([]);
    expect(r!.analysis!.models).toEqual({ age: 'ssrnet', gender: 'ssrnet', emotion: 'human', spoof: 'antispoof' });
    expect(r!.analysis!.age).toBeGreaterThan(5);
  });

  it('bad input: a damaged image, a photo with no face, a record without a box: error records, the batch goes on', async () => {
    const broken = join(dir, 'broken.jpg');
    writeFileSync(broken, readFileSync(group).subarray(0, 3000));
    const blank = join(dir, 'blank.jpg');
    await sharp({ create: { width: 200, height: 200, channels: 3, background: '#888' } }).jpeg().toFile(blank);
    const recs = await collect(engine().analyzeEach([broken, blank, single], { maxFaces: 1 }));
    expect(outcomes(recs)).toEqual(['corrupt_image', 'no_face', 'ok']);
    expect(recs[2]!.analysis).toBeDefined();
    // one image alone: no face is no record; a damaged one rejects
    expect(await engine().analyze(blank)).toEqual([]);
    expect((await rejection(engine().analyze(broken))).code).toBe('corrupt_image');

    const [noBox, ...more] = await collect(engine().analyzeEach([{ schema: 1, image: group, face: 0 } as FaceRecord]));
    expect(more).toEqual([]);
    expect(noBox!.error).toMatchObject({ code: 'missing_key' });
    expect(said(noBox!)).toMatch(/record has no "box" \(run `facekit detect` first/);
  });
});

if (!hasArtists) console.warn(`skipping the artists tests (detect, and analyze's gender accuracy): ${ARTISTS} is absent`);
describe.skipIf(!hasArtists)('the workshop\'s artists', () => {
  // one pass over the 77 photos: every face found (the detect records) with its gender
  let recs: FaceRecord[];
  beforeAll(async () => {
    recs = await collect(engine().analyzeEach(peoplePhotos(ARTISTS), { actions: ['gender'] }));
  });

  it('detect finds a face in at least 76 of the 77 photos', () => {
    const images = new Set(recs.map((r) => r.image));
    const withFace = new Set(recs.filter((r) => !r.error).map((r) => r.image));
    expect(images.size).toBe(77);
    expect(withFace.size).toBeGreaterThanOrEqual(76);
  });

  it('analyze gets the gender of at least 95% of the 77 photos right (their largest face; labels in fixtures/analysis)', () => {
    const labels = (JSON.parse(readFileSync(join(FIXTURES, 'analysis', 'artists-gender.json'), 'utf8')) as { gender: Record<string, string> }).gender;
    const largest = recs.filter((r) => r.face === 0 || r.face === null);
    expect(largest).toHaveLength(77);
    const right = largest.filter((r) => r.analysis?.gender === labels[r.label!]).length;
    expect(right / largest.length).toBeGreaterThanOrEqual(0.95);
  });
});

describe('antiSpoof', () => {
  let spoof: string;
  beforeAll(async () => {
    spoof = await screenSpoof(single, join(dir, 'screen.jpg'));
  });

  it('analyze judges the re-shown photo a spoof and the photo itself real', async () => {
    const [real, fake] = await collect(engine().analyzeEach([single, spoof], { actions: ['spoof'], maxFaces: 1 }));
    expect(real!.analysis!.spoof).toMatchObject({ real: true });
    expect(fake!.analysis!.spoof).toMatchObject({ real: false });
  });

  it('verify refuses a spoofed face; without antiSpoof it compares', async () => {
    const refused = await rejection(engine().verify(single, spoof, { antiSpoof: true }));
    expect(refused.code).toBe('spoof');
    expect(refused.line).toMatch(/screen\.jpg: face looks like a spoof \(a photo of a photo or of a screen\): anti-spoof score [\d.]+ is below 0\.5 \(minifasnet\)/);
    // without the flag the two photos are compared (whatever the verdict)
    const plain = await engine().verify(single, spoof);
    expect(plain.distance).toBeGreaterThanOrEqual(0);
    expect(typeof plain.verified).toBe('boolean');
  });

  it('buildGallery leaves the spoofed photo out (a failure) and adds the others; identify refuses the spoof', async () => {
    const people = join(dir, 'people', 'ada');
    mkdirSync(people, { recursive: true });
    copyFileSync(single, join(people, 'real.jpg'));
    copyFileSync(spoof, join(people, 'screen.jpg'));
    const db = join(dir, 'db', 'gallery.json');
    const warned: string[] = [];
    const summary = await facekit.buildGallery(join(dir, 'people'), { db, antiSpoof: true, engine: engine(), onWarn: (l) => warned.push(l) });
    expect(summary.added).toBe(1);
    expect(summary.failures).toEqual([{ image: join(people, 'screen.jpg'), code: 'spoof', message: expect.stringMatching(/face looks like a spoof/) }]);
    expect(warned.join('\n')).toMatch(/screen\.jpg: face looks like a spoof/);
    // identify against that gallery: the spoof is refused, the real photo matches
    const gallery = await facekit.Gallery.open(db, { engine: engine() });
    try {
      const answers = await collect(gallery.identifyMany([spoof, single], { antiSpoof: true }));
      expect(answers[0]).toMatchObject({ verdict: 'error', error: { code: 'spoof' } });
      expect(answers.find((a) => a.image === single && a.face === 0)).toMatchObject({ verdict: 'match', identity: 'ada' });
    } finally {
      await gallery.close();
    }
  });
});

describe('POST /analyze', () => {
  let srv: InProcessServer;
  let doc: Schema;
  beforeAll(async () => {
    srv = await serveInProcess({ db: join(tempDir('facekit-serve-analyze-'), 'gallery.json') });
    doc = (await srv.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Schema;
  });
  const post = (url: string, fields: Record<string, string>) => srv.app.inject({ method: 'POST', url, payload: form(fields) });

  it('answers each face with its box and analysis, as the OpenAPI document says', async () => {
    const res = await post('/analyze', { image: `@${group}` });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { faces: { box: number[]; analysis: Record<string, unknown> }[]; actions: string[] };
    expect(conform(doc, body, responseSchema(doc, '/analyze', 'post', 200)!)).toEqual([]);
    expect(body.actions).toEqual(['age', 'gender', 'emotion', 'spoof']);
    expect(body.faces).toHaveLength(3);
    for (const f of body.faces) expect(Object.keys(f.analysis)).toEqual(expect.arrayContaining(['age', 'gender', 'genderScore', 'emotion', 'dominantEmotion', 'spoof']));
  });

  it('takes actions and models as options; a bad one is a 400 naming those offered; no face is a 422 (a 200 with no faces under enforce_detection: false)', async () => {
    const some = await post('/analyze?actions=age', { image: `@${single}`, max_faces: '1' });
    expect(some.statusCode).toBe(200);
    const b = some.json() as { faces: { analysis: Record<string, unknown> }[] };
    expect(Object.keys(b.faces[0]!.analysis).sort()).toEqual(['age', 'models']);
    const bad = await post('/analyze', { image: `@${single}`, actions: 'race' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: { code: 'usage', message: 'unknown action "race": analyze offers age, gender, emotion, spoof' } });
    const blank = join(dir, 'blank-serve.jpg');
    await sharp({ create: { width: 120, height: 120, channels: 3, background: '#777' } }).jpeg().toFile(blank);
    const none = await post('/analyze', { image: `@${blank}` });
    expect(none.statusCode).toBe(422);
    expect((none.json() as { error: { code: string } }).error.code).toBe('no_face');
    // enforce_detection: false (as the camera view sends it): nobody in view is an answer with no faces
    const allowed = await post('/analyze', { image: `@${blank}`, enforce_detection: 'false' });
    expect(allowed.statusCode).toBe(200);
    const empty = allowed.json();
    expect(empty).toMatchObject({ faces: [], width: 120, height: 120 });
    expect(conform(doc, empty, responseSchema(doc, '/analyze', 'post', 200)!)).toEqual([]);
  });
});
