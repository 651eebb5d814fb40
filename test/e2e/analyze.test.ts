/**
 * `facekit analyze` as a user runs it (the built CLI), `verify` / `build-db --anti-spoof`, and
 * `POST /analyze` of `facekit serve`. The spoof here is made by the test: a demo photo shown
 * small on a dark "monitor" with a visible pixel grid (sharp), which the default spoof model
 * scores far below its threshold.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTISTS, DEMO, FIXTURES, hasArtists, oneLine, records, runCli, tempDir } from '../helpers/cli.js';
import { form, serve, type Served } from '../helpers/serve.js';
import { conform, responseSchema, type Schema } from '../helpers/openapi.js';

const group = join(DEMO, 'sample1.jpg');
const single = join(DEMO, 'sample6.jpg');
const dir = tempDir('facekit-analyze-');

/** `photo` re-shown on a screen: shrunk, a pixel grid over it, a dark bezel around it. */
async function screenSpoof(photo: string, out: string): Promise<string> {
  const { data, info } = await sharp(photo).resize(360, 360, { fit: 'inside' }).modulate({ brightness: 1.1 }).toBuffer({ resolveWithObject: true });
  const grid = Buffer.alloc(info.width * info.height * 4);
  for (let y = 0; y < info.height; y++) for (let x = 0; x < info.width; x++) if (x % 3 === 0 || y % 3 === 0) grid[(y * info.width + x) * 4 + 3] = 70;
  const screen = await sharp(data).composite([{ input: grid, raw: { width: info.width, height: info.height, channels: 4 } }]).toBuffer();
  await sharp({ create: { width: info.width + 240, height: info.height + 200, channels: 3, background: '#1c1a18' } })
    .composite([{ input: screen, left: 120, top: 100 }]).blur(0.7).jpeg({ quality: 75 }).toFile(out);
  return out;
}

type Rec = Record<string, unknown> & { analysis?: Record<string, unknown>; error?: { code: string; message: string } };

describe('facekit analyze', () => {
  let all: Rec[];
  beforeAll(async () => {
    const res = await runCli(['analyze', group]);
    expect(res.code, res.stderr).toBe(0);
    all = records(res.stdout) as Rec[];
  });

  it('gives every face age, gender, emotion and a spoof verdict (NDJSON off a terminal)', () => {
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

  it('--actions picks what is estimated; an unknown action is one line naming those offered, exit 2', async () => {
    const res = await runCli(['analyze', group, '--actions', 'gender']);
    expect(res.code).toBe(0);
    for (const r of records(res.stdout) as Rec[]) {
      expect(Object.keys(r.analysis!).sort()).toEqual(['gender', 'genderScore', 'models']);
      expect(r.analysis!.models).toEqual({ gender: 'faceapi' });
    }
    const bad = await runCli(['analyze', group, '--actions', 'age,race']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(oneLine(bad.stderr)).toBe('facekit: --actions: unknown action "race": analyze offers age, gender, emotion, spoof');
    const model = await runCli(['analyze', group, '--emotion-model', 'fer']);
    expect(model.code).toBe(2);
    expect(oneLine(model.stderr)).toMatch(/--emotion-model must be one of faceapi, human; got "fer"/);
  });

  it('reads detect records from stdin and gives what the one-shot run gives', async () => {
    const det = await runCli(['detect', group]);
    const res = await runCli(['analyze', '-'], { input: det.stdout });
    expect(res.code, res.stderr).toBe(0);
    const recs = records(res.stdout) as Rec[];
    expect(recs.map((r) => r.analysis)).toEqual(all.map((r) => r.analysis));
  });

  it('the other models run behind the same options', async () => {
    const res = await runCli(['analyze', single, '--age-gender-model', 'ssrnet', '--emotion-model', 'human', '--spoof-model', 'antispoof', '--max-faces', '1']);
    expect(res.code, res.stderr).toBe(0);
    const [r] = records(res.stdout) as Rec[];
    expect(r!.analysis!.models).toEqual({ age: 'ssrnet', gender: 'ssrnet', emotion: 'human', spoof: 'antispoof' });
    expect(r!.analysis!.age).toBeGreaterThan(5);
  });

  it('bad input: a damaged image, a photo with no face, a record without a box: error records, exit 2, the batch goes on', async () => {
    const broken = join(dir, 'broken.jpg');
    writeFileSync(broken, readFileSync(group).subarray(0, 3000));
    const blank = join(dir, 'blank.jpg');
    await sharp({ create: { width: 200, height: 200, channels: 3, background: '#888' } }).jpeg().toFile(blank);
    const res = await runCli(['analyze', broken, blank, single, '--max-faces', '1']);
    expect(res.code).toBe(2);
    const recs = records(res.stdout) as Rec[];
    expect(recs.map((r) => r.error?.code ?? 'ok')).toEqual(['corrupt_image', 'no_face', 'ok']);
    expect(recs[2]!.analysis).toBeDefined();
    expect(res.stderr.trim().split('\n')).toHaveLength(2);

    const noBox = JSON.stringify({ schema: 1, image: group, face: 0 }) + '\n';
    const rec = await runCli(['analyze', '-'], { input: noBox });
    expect(rec.code).toBe(2);
    expect((records(rec.stdout)[0] as Rec).error).toMatchObject({ code: 'missing_key' });
    expect(oneLine(rec.stderr)).toMatch(/record has no "box" \(run `facekit detect` first/);
  });
});

if (!hasArtists) console.warn(`skipping analyze's gender accuracy on the artists: ${ARTISTS} is absent`);
describe.skipIf(!hasArtists)('analyze on the workshop\'s artists', () => {
  it('gets the gender of at least 95% of the 77 photos right (labels in fixtures/analysis)', async () => {
    const labels = (JSON.parse(readFileSync(join(FIXTURES, 'analysis', 'artists-gender.json'), 'utf8')) as { gender: Record<string, string> }).gender;
    const res = await runCli(['analyze', ARTISTS, '--actions', 'gender', '--max-faces', '1', '--workers', '2']);
    const recs = records(res.stdout) as Rec[];
    expect(recs).toHaveLength(77);
    const right = recs.filter((r) => r.analysis?.gender === labels[r.label as string]).length;
    expect(right / recs.length).toBeGreaterThanOrEqual(0.95);
  });
});

describe('--anti-spoof', () => {
  let spoof: string;
  beforeAll(async () => {
    spoof = await screenSpoof(single, join(dir, 'screen.jpg'));
  });

  it('analyze judges the re-shown photo a spoof and the photo itself real', async () => {
    const res = await runCli(['analyze', single, spoof, '--actions', 'spoof', '--max-faces', '1']);
    expect(res.code, res.stderr).toBe(0);
    const [real, fake] = records(res.stdout) as Rec[];
    expect(real!.analysis!.spoof).toMatchObject({ real: true });
    expect(fake!.analysis!.spoof).toMatchObject({ real: false });
  });

  it('verify refuses a spoofed face with one line and exit 2; without the flag it compares', async () => {
    const refused = await runCli(['verify', single, spoof, '--anti-spoof']);
    expect(refused.code).toBe(2);
    expect(oneLine(refused.stderr)).toMatch(/screen\.jpg: face looks like a spoof \(a photo of a photo or of a screen\): anti-spoof score [\d.]+ is below 0\.5 \(minifasnet\)/);
    // without the flag the two photos are compared (whatever the verdict)
    const plain = await runCli(['verify', single, spoof, '--json']);
    expect([0, 1]).toContain(plain.code);
    expect(records(plain.stdout)[0]).toHaveProperty('distance');
  });

  it('build-db leaves the spoofed photo out (a failure, exit 2) and adds the others', async () => {
    const people = join(dir, 'people', 'ada');
    mkdirSync(people, { recursive: true });
    copyFileSync(single, join(people, 'real.jpg'));
    copyFileSync(spoof, join(people, 'screen.jpg'));
    const db = join(dir, 'db', 'gallery.json');
    const res = await runCli(['build-db', join(dir, 'people'), '--db', db, '--anti-spoof', '--json']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/screen\.jpg: face looks like a spoof/);
    const summary = JSON.parse(res.stdout) as { added: number };
    expect(summary.added).toBe(1);
    // verify against that gallery: the spoof is refused, the real photo matches
    const v = await runCli(['verify', spoof, single, '--db', db, '--anti-spoof', '--json']);
    expect(v.code).toBe(2);
    const answers = records(v.stdout);
    expect(answers[0]).toMatchObject({ verdict: 'error', error: { code: 'spoof' } });
    expect(answers.find((a) => a.image === single && a.face === 0)).toMatchObject({ verdict: 'match', identity: 'ada' });
  });
});

describe('analyze from code (dist/index.js)', () => {
  it('gives the records the CLI prints, from a Buffer too; verify with antiSpoof rejects a spoof', async () => {
    const facekit = await import('../../dist/index.js');
    const engine = new facekit.Facekit({ workers: 1 });
    try {
      const recs = await engine.analyze(readFileSync(group), { actions: ['gender', 'emotion'], name: 'group' });
      expect(recs).toHaveLength(3);
      expect(recs[0]!.image).toBe('group');
      for (const r of recs) {
        expect(Object.keys(r.analysis!).sort()).toEqual(['dominantEmotion', 'emotion', 'gender', 'genderScore', 'models']);
      }
      const blank = join(dir, 'blank-api.jpg');
      await sharp({ create: { width: 160, height: 160, channels: 3, background: '#999' } }).jpeg().toFile(blank);
      expect(await engine.analyze(blank)).toEqual([]);
      const spoof = await screenSpoof(single, join(dir, 'screen-api.jpg'));
      const err = await engine.verify(single, spoof, { antiSpoof: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(facekit.FacekitError);
      expect((err as InstanceType<typeof facekit.FacekitError>).code).toBe('spoof');
      await expect(engine.analyze(group, { actions: 'race' })).rejects.toThrow(/unknown action "race"/);
    } finally {
      await engine.close();
    }
  });
});

describe('POST /analyze', () => {
  let srv: Served;
  let doc: Schema;
  beforeAll(async () => {
    srv = await serve(['--db', join(tempDir('facekit-serve-analyze-'), 'gallery.json')]);
    doc = (await (await fetch(`${srv.url}/openapi.json`)).json()) as Schema;
  });
  afterAll(async () => {
    await srv?.stop('SIGKILL');
  });

  it('answers each face with its box and analysis, as the OpenAPI document says', async () => {
    const res = await fetch(`${srv.url}/analyze`, { method: 'POST', body: form({ image: `@${group}` }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { faces: { box: number[]; analysis: Record<string, unknown> }[]; actions: string[] };
    expect(conform(doc, body, responseSchema(doc, '/analyze', 'post', 200)!)).toEqual([]);
    expect(body.actions).toEqual(['age', 'gender', 'emotion', 'spoof']);
    expect(body.faces).toHaveLength(3);
    for (const f of body.faces) expect(Object.keys(f.analysis)).toEqual(expect.arrayContaining(['age', 'gender', 'genderScore', 'emotion', 'dominantEmotion', 'spoof']));
  });

  it('takes actions and models as options; a bad one is a 400 naming those offered; no face is a 422 (a 200 with no faces under enforce_detection: false)', async () => {
    const some = await fetch(`${srv.url}/analyze?actions=age`, { method: 'POST', body: form({ image: `@${single}`, max_faces: '1' }) });
    expect(some.status).toBe(200);
    const b = (await some.json()) as { faces: { analysis: Record<string, unknown> }[] };
    expect(Object.keys(b.faces[0]!.analysis).sort()).toEqual(['age', 'models']);
    const bad = await fetch(`${srv.url}/analyze`, { method: 'POST', body: form({ image: `@${single}`, actions: 'race' }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: 'usage', message: 'unknown action "race": analyze offers age, gender, emotion, spoof' } });
    const blank = join(dir, 'blank-serve.jpg');
    await sharp({ create: { width: 120, height: 120, channels: 3, background: '#777' } }).jpeg().toFile(blank);
    const none = await fetch(`${srv.url}/analyze`, { method: 'POST', body: form({ image: `@${blank}` }) });
    expect(none.status).toBe(422);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('no_face');
    // enforce_detection: false (as the camera view sends it): nobody in view is an answer with no faces
    const allowed = await fetch(`${srv.url}/analyze`, { method: 'POST', body: form({ image: `@${blank}`, enforce_detection: 'false' }) });
    expect(allowed.status).toBe(200);
    const empty = await allowed.json();
    expect(empty).toMatchObject({ faces: [], width: 120, height: 120 });
    expect(conform(doc, empty, responseSchema(doc, '/analyze', 'post', 200)!)).toEqual([]);
  });
});
