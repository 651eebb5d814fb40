/**
 * The stages through the library (the built package, in this process): the records `facekit
 * detect|align|normalize|represent` print are these (their contract as processes, and the stdin
 * pipe: test/cli/stages.test.ts). Also: every recognition model on the artists, and records as a
 * stream (an answer before the input ends, a bad record in the middle, a reader that stops reading).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { recordLines } from '../../dist/core/record-stream.js';
import { encodeNpy } from '../../src/core/npy.js';
import type { FaceRecord, RecognizerId } from '../../dist/index.js';
import { ARTISTS, DEMO, FIXTURES, hasArtists, tempDir } from '../helpers/cli.js';
import { asPrinted, collect, engine, facekit, rejection } from '../helpers/engine.js';
import { embeddingRecord, outcomes, said, smallGallery } from '../helpers/group-a.js';

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { demoFaces: Record<string, number> };
const samples = Object.keys(expected.demoFaces).map((f) => join(DEMO, f));
const bad = join(FIXTURES, 'bad');
const photo = join(DEMO, 'sample1.jpg');
type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('detect', () => {
  it('finds every face in the multi-face demo photos, largest first', async () => {
    const recs = asPrinted(await collect(engine().detectEach(samples)));
    for (const [name, count] of Object.entries(expected.demoFaces)) {
      const faces = recs.filter((r) => (r.image as string).endsWith(name));
      expect(faces.length, name).toBe(count);
      const areas = faces.map((f) => (f.box as number[])[2]! * (f.box as number[])[3]!);
      expect([...areas].sort((a, b) => b - a)).toEqual(areas);
      expect(faces.map((f) => f.face)).toEqual([...Array(count).keys()]);
    }
    const r = recs[0]!;
    expect(r.schema).toBe(1);
    expect(r).toMatchObject({ detector: 'blazeface', width: 1920, height: 1280 });
    for (const k of ['leftEye', 'rightEye', 'noseTip', 'mouthLeft', 'mouthRight']) expect(r.landmarks).toHaveProperty(k);
    // the left eye is left of the right eye, both inside the box
    const lm = r.landmarks as Record<string, number[]>;
    const [x, y, w, h] = r.box as number[];
    expect(lm.leftEye![0]).toBeLessThan(lm.rightEye![0]!);
    for (const p of Object.values(lm)) {
      expect(p[0]).toBeGreaterThanOrEqual(x! - 1);
      expect(p[0]).toBeLessThanOrEqual(x! + w! + 1);
      expect(p[1]).toBeGreaterThanOrEqual(y! - 1);
      expect(p[1]).toBeLessThanOrEqual(y! + h! + 1);
    }
  });

  it.each(['ssd', 'tiny'] as const)('runs the %s detector behind the same interface', async (detector) => {
    const recs = await engine().detect(join(DEMO, 'sample1.jpg'), { detector });
    expect(recs).toHaveLength(3);
    expect(recs[0]).toMatchObject({ detector });
    expect(Object.keys(recs[0]!.landmarks as object)).toContain('noseBase');
  });

  it('honours maxFaces and minScore, and adds the mesh on mesh: true', async () => {
    const two = await engine().detect(join(DEMO, 'sample5.jpg'), { maxFaces: 2, mesh: true });
    expect(two).toHaveLength(2);
    expect(two[0]!.mesh!.length).toBe(468);
    // no face above the score: [] from detect, a no_face error record in a stream
    expect(await engine().detect(join(DEMO, 'sample5.jpg'), { minScore: 0.99 })).toEqual([]);
    const [strict, ...more] = await collect(engine().detectEach([join(DEMO, 'sample5.jpg')], { minScore: 0.99 }));
    expect(more).toEqual([]);
    expect(strict).toMatchObject({ face: null, error: { code: 'no_face' } });
    expect(said(strict!)).toMatch(/sample5.jpg: no face found/);
  });

  it('draws annotations and writes crops', async () => {
    const dir = tempDir();
    const recs = await engine().detect(join(DEMO, 'sample1.jpg'), { annotate: join(dir, 'ann.png'), cropsDir: join(dir, 'crops') });
    const meta = await sharp(join(dir, 'ann.png')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1920, 1280]);
    expect(recs).toHaveLength(3);
    for (const r of recs) expect(existsSync(r.crop!)).toBe(true);
    expect(readdirSync(join(dir, 'crops'))).toHaveLength(3);
    // each image of a stream drawn where its item says (a folder of annotated images, as the CLI names them)
    mkdirSync(join(dir, 'annotated'));
    const items = ['sample1.jpg', 'sample3.jpg'].map((f) => ({ image: join(DEMO, f), annotate: join(dir, 'annotated', f) }));
    const drawn = outcomes(await collect(engine().detectEach(items)));
    expect(drawn).toEqual(Array(expected.demoFaces['sample1.jpg']! + expected.demoFaces['sample3.jpg']!).fill('ok'));
    expect(readdirSync(join(dir, 'annotated')).sort()).toEqual(['sample1.jpg', 'sample3.jpg']);
  });

  it('reads an image from its bytes, named as the caller says', async () => {
    const recs = await engine().detect(readFileSync(join(DEMO, 'sample2.jpg')), { name: 'stdin' });
    expect(recs).toHaveLength(3);
    expect(recs.every((r) => r.image === 'stdin')).toBe(true);
  });

  it('finds the face in a tight crop that fills the frame', async () => {
    const [face] = await engine().detect(join(DEMO, 'sample2.jpg'));
    const [x, y, w, h] = face!.box!;
    // cut the face box itself, a little inside: nothing around the face is left
    const tight = await sharp(join(DEMO, 'sample2.jpg')).extract({ left: Math.round(x + w * 0.05), top: Math.round(y + h * 0.05), width: Math.round(w * 0.9), height: Math.round(h * 0.9) }).jpeg().toBuffer();
    expect(await engine().detect(tight)).toHaveLength(1);
  });
});

describe('detect on bad input', () => {
  const cases: [string, string, RegExp][] = [
    ['empty.jpg', 'empty_file', /empty.jpg: file is empty \(0 bytes\)/],
    ['text.jpg', 'not_an_image', /text.jpg: not an image/],
    ['truncated.jpg', 'corrupt_image', /truncated.jpg: image data is damaged or truncated/],
    ['huge-20000x20000.png', 'too_large', /huge-20000x20000.png: image is 20000x20000 \(400 megapixels\), over the limit/],
    ['no-face.jpg', 'no_face', /no-face.jpg: no face found/],
    ['missing.jpg', 'not_found', /missing.jpg: no such file or directory/],
  ];

  it('each bad image is one error record naming the problem, and the stream goes on', async () => {
    const recs = asPrinted(await collect(engine().detectEach([...cases.map(([f]) => join(bad, f)), join(DEMO, 'sample3.jpg')])));
    expect(recs.map((r) => (r.error as { code?: string } | undefined)?.code ?? 'ok')).toEqual([...cases.map(([, code]) => code), 'ok', 'ok', 'ok']);
    cases.forEach(([file, , message], i) => {
      expect(recs[i], file).toMatchObject({ image: join(bad, file), face: null, error: { code: expect.any(String) } });
      expect(said(recs[i] as never)).toMatch(message);
    });
  });

  it('detect() of one bad image rejects with its error (no face is no record)', async () => {
    for (const [file, code, message] of cases.filter(([, c]) => c !== 'no_face')) {
      const err = await rejection(engine().detect(join(bad, file)));
      expect(err.code, file).toBe(code);
      expect(err.line).toMatch(message);
    }
    expect(await engine().detect(join(bad, 'no-face.jpg'))).toEqual([]);
  });

  it('refuses an unknown detector and a fractional maxFaces (usage errors)', async () => {
    expect(await rejection(engine().detect(join(DEMO, 'sample1.jpg'), { detector: 'yolo' as never }))).toMatchObject({ code: 'usage', message: 'unknown detector "yolo" (one of blazeface, ssd, tiny, none)' });
    expect(await rejection(engine().detect(join(DEMO, 'sample1.jpg'), { maxFaces: 2.5 }))).toMatchObject({ code: 'usage', message: 'max faces must be an integer from 1 to 10000, got 2.5' });
    // detect takes images: records already hold detections
    const [rec] = await engine().detect(join(DEMO, 'sample2.jpg'));
    await expect(collect(engine().detectEach([rec!]))).rejects.toThrow(/detect takes images, not records/);
  });
});

describe('align, normalize, represent', () => {
  it('reaches the same embedding stage by stage as in one shot', async () => {
    const dir = tempDir();
    const det = await engine().detect(photo);
    const al = await engine().extract(det, { upTo: 'align', alignDir: join(dir, 'aligned') });
    const no = await engine().extract(al, { normDir: join(dir, 'norm') });
    const staged = asPrinted(await collect(engine().representEach(no))) as Rec[];
    const oneShot = asPrinted(await engine().represent(photo)) as Rec[];
    expect(staged).toHaveLength(3);
    expect(oneShot).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      // the staged record keeps its history
      expect(Object.keys(staged[i]!)).toEqual(expect.arrayContaining(['box', 'landmarks', 'aligned', 'normalized', 'embedding']));
      expect(staged[i]!.aligned.path).toContain(join(dir, 'aligned'));
      expect(staged[i]!.normalized.path).toContain(join(dir, 'norm'));
      expect(staged[i]!.embedding.model).toBe('mobilefacenet');
      expect(staged[i]!.embedding.dim).toBe(192);
      const va = staged[i]!.embedding.vector as number[], vb = oneShot[i]!.embedding.vector as number[];
      const maxDiff = Math.max(...va.map((v, k) => Math.abs(v - vb[k]!)));
      expect(maxDiff).toBeLessThan(1e-6);
    }
  });

  it('writes aligned crops on the model template, and box-only crops with rotate: false', async () => {
    const dir = tempDir();
    const recs = await engine().extract(photo, { upTo: 'align', alignDir: dir });
    expect(recs[0]!.aligned).toMatchObject({ size: [112, 112], template: 'arcface-112', rotated: true });
    const meta = await sharp(recs[0]!.aligned!.path).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 112, 112]);
    // the demo faces are tilted: some rotation was needed
    expect(Math.max(...recs.map((r) => Math.abs(r.aligned!.angle)))).toBeGreaterThan(5);
    const flat = await engine().extract(photo, { upTo: 'align', alignDir: dir, rotate: false });
    expect(flat.every((r) => r.aligned!.angle === 0 && r.aligned!.rotated === false)).toBe(true);
    const fr = await engine().extract(photo, { upTo: 'align', alignDir: dir, model: 'faceres' });
    expect(fr[0]!.aligned).toMatchObject({ size: [224, 224], template: 'faceres-224' });
    const dl = await engine().extract(photo, { upTo: 'align', alignDir: dir, model: 'resnet34' });
    expect(dl[0]!.aligned).toMatchObject({ size: [150, 150], template: 'dlib-150' });
  });

  it("normalizes with the model's scheme, previews; represent refuses another scheme unless asked", async () => {
    const dir = tempDir();
    const [r] = await engine().extract(photo, { normDir: join(dir, 'n'), previewDir: join(dir, 'p') });
    expect(r!.normalized).toMatchObject({ scheme: 'arcface', shape: [1, 112, 112, 3] });
    expect(r!.normalized!.mean).toHaveLength(3);
    expect(readFileSync(r!.normalized!.path).subarray(1, 6).toString()).toBe('NUMPY');
    expect(readdirSync(join(dir, 'p')).length).toBeGreaterThan(0);
    const other = await engine().extract(photo, { normDir: join(dir, 'n2'), scheme: 'facenet' });
    expect(other[0]!.normalized).toMatchObject({ scheme: 'facenet' });
    // represent refuses a tensor of the wrong scheme unless asked
    const refused = await collect(engine().representEach(other));
    expect(outcomes(refused)).toEqual(other.map(() => 'model_mismatch'));
    expect(refused[0]!.error!.message).toMatch(/normalized with scheme "facenet", mobilefacenet needs "arcface"/);
    const forced = await collect(engine().representEach(other, { anyScheme: true }));
    expect(outcomes(forced)).toEqual(other.map(() => 'ok'));
    expect(forced[0]!.embedding).toMatchObject({ model: 'mobilefacenet', dim: 192 });
  });

  it('offers faceres as a second model', async () => {
    const [r] = await engine().represent(join(DEMO, 'sample2.jpg'), { model: 'faceres', flip: false });
    expect(r!.embedding).toMatchObject({ model: 'faceres', dim: 1024 });
    expect(r!.embedding!.vector).toHaveLength(1024);
  });

  it('embeds pre-aligned crops with skipDetect, and labels faces from labelled items', async () => {
    const dir = tempDir();
    // an aligned crop: cut the ArcFace-template region of the first face
    const [al] = await engine().extract(join(DEMO, 'sample2.jpg'), { upTo: 'align', alignDir: dir });
    const crop = join(dir, 'crop.png');
    await sharp(al!.aligned!.path).resize(112, 112).toFile(crop);
    const skip = await engine().represent(crop, { skipDetect: true });
    expect(skip).toHaveLength(1);
    expect(skip[0]).toMatchObject({ detector: 'skip', face: 0, embedding: { model: 'mobilefacenet', dim: 192 } });
    // a person's photo ({ image, label }, as a folder of people gives them) labels each of its faces
    const labelled = await collect(engine().representEach([{ image: crop, label: 'ana' }, crop], { skipDetect: true }));
    expect(labelled.map((r) => r.label)).toEqual(['ana', undefined]);
  });
});

describe('align, normalize, represent on bad input', () => {
  it('refuses an unknown model or scheme (usage errors)', async () => {
    expect(await rejection(engine().extract(photo, { model: 'vgg' as never }))).toMatchObject({ code: 'usage', message: expect.stringMatching(/^unknown model "vgg" \(one of resnet34, faceres, mobilefacenet, faceplugin, mobilenetv2\)/) });
    expect(await rejection(engine().extract(photo, { scheme: 'zscore' as never }))).toMatchObject({ code: 'usage', message: expect.stringMatching(/^unknown scheme "zscore" \(one of raw, unit, vggface, facenet, arcface, faceplugin, dlib\)/) });
  });

  it.each([
    [JSON.stringify({ schema: 3, image: 'x.jpg', face: 0 }), /^stdin line 1: record schema 3 is newer than this facekit understands/],
    ['{"embedding": [1,2,3]}', /^stdin line 1: not a facekit record/],
    ['{"schema":1,"image":"x.jpg",', /^stdin line 1: the input ends in the middle of this record \(truncated last line\)/],
    ['{"schema":1,"image":"x.jpg",\n', /^stdin line 1: not valid JSON/],
  ])('reading records: %j is a bad line, said with its number', async (input, message) => {
    const [line, ...more] = await collect(recordLines((async function* () { yield input; })(), 'stdin'));
    expect(more).toEqual([]);
    expect(line!.ok).toBe(false);
    if (line!.ok) return;
    expect(line!.error.code).toMatch(/^(bad_record|schema_version)$/);
    expect(line!.error.line()).toMatch(message);
  });

  it('names the missing key and the stage that makes it', async () => {
    const det = await engine().detect(join(DEMO, 'sample2.jpg'));
    const recs = await collect(engine().extractEach(det, { normDir: tempDir() }));
    expect(recs).toHaveLength(det.length);
    expect(outcomes(recs)).toEqual(det.map(() => 'missing_key'));
    expect(said(recs[0]!)).toMatch(/face 0: record has no "aligned" \(run `facekit align` first\)/);
  });

  it('refuses a .npy of the wrong shape or dtype, and a crop that is gone', async () => {
    const dir = tempDir();
    const rec = { schema: 1, image: photo, face: 0, normalized: { path: join(dir, 'bad.npy'), scheme: 'dlib', shape: [1, 112, 112, 3], mean: [0, 0, 0], std: [1, 1, 1] } } as FaceRecord;
    writeFileSync(join(dir, 'bad.npy'), encodeNpy({ shape: [1, 112, 112, 3], data: new Float32Array(112 * 112 * 3) }));
    const [shape] = await collect(engine().representEach([rec], { model: 'resnet34' }));
    expect(shape!.error!.code).toBe('bad_tensor');
    expect(said(shape!)).toMatch(/bad.npy: tensor shape is \(1, 112, 112, 3\), resnet34 needs \(1, 150, 150, 3\)/);
    const f64 = Buffer.from(encodeNpy({ shape: [1, 150, 150, 3], data: new Float32Array(150 * 150 * 3) }).toString('latin1').replace("'<f4'", "'<f8'"), 'latin1');
    writeFileSync(join(dir, 'bad.npy'), f64);
    const [dtype] = await collect(engine().representEach([rec], { model: 'resnet34' }));
    expect(said(dtype!)).toMatch(/dtype is <f8, expected float32/);
    const al = await engine().extract(photo, { upTo: 'align', alignDir: join(dir, 'al') });
    rmSync(join(dir, 'al'), { recursive: true });
    const gone = await collect(engine().extractEach(al, { normDir: join(dir, 'n') }));
    expect(outcomes(gone)).toEqual(al.map(() => 'not_found'));
    expect(said(gone[0]!)).toMatch(/al\/sample1-[0-9a-f]{8}-f0-arcface-112.png: no such file or directory/);
  });
});

if (!hasArtists) console.warn(`skipping the recognizer tests: ${ARTISTS} is absent`);
describe.skipIf(!hasArtists)('each recognition model', () => {
  const photos = (person: string) => readdirSync(join(ARTISTS, person)).sort().map((f) => join(ARTISTS, person, f));
  const people = hasArtists ? readdirSync(ARTISTS).sort() : [];
  const [a1, a2] = hasArtists ? photos(people[0]!) : [];
  const [b1] = hasArtists ? photos(people[1]!) : [];

  // the face recognizers (mobilenetv2 embeds whole pictures: test/e2e/any-image.test.ts)
  it.each((Object.keys(facekit.RECOGNIZERS) as RecognizerId[]).filter((m) => facekit.RECOGNIZERS[m].subject === 'face'))('%s: same person matches, another does not', async (model) => {
    const same = await engine().verify(a1!, a2!, { model });
    expect(same).toMatchObject({ verified: true, model, threshold: facekit.RECOGNIZERS[model].thresholds.euclidean_l2 });
    const other = await engine().verify(a1!, b1!, { model });
    expect(other.verified).toBe(false);
    expect(other.distance).toBeGreaterThan(same.distance);
  }, 60_000);
});

describe('records stream', () => {
  it('answers the first record before the input has ended', async () => {
    const { gallery, vector } = await smallGallery('memory:', engine());
    let release!: () => void;
    const more = new Promise<void>((r) => { release = r; });
    let ended = false;
    async function* queries() {
      yield embeddingRecord(vector, 0);
      await more; // the next record comes only once the first is answered
      yield embeddingRecord(vector, 1);
      ended = true;
    }
    const answers = gallery.identifyMany(queries());
    const first = await Promise.race([answers.next(), new Promise<'waited'>((r) => setTimeout(() => r('waited'), 20_000))]);
    expect(first).not.toBe('waited');
    expect(ended).toBe(false);
    expect((first as IteratorResult<{ image: string; verdict: string }>).value).toMatchObject({ image: 'q0.jpg', verdict: 'unknown' });
    release();
    expect((await collect(answers)).map((a) => a.image)).toEqual(['q1.jpg']);
    expect(ended).toBe(true);
    await gallery.close();
  });

  it('a bad record in the middle is an error in its place, and the rest goes on', async () => {
    const { gallery, vector } = await smallGallery('memory:', engine());
    // what the CLI makes of a broken line 2 on stdin: an error record in its place
    const broken = { schema: 1, image: 'stdin', face: null, error: { code: 'bad_record', message: 'line 2: not valid JSON' } } as FaceRecord;
    const out = await collect(gallery.identifyMany([embeddingRecord(vector, 0), broken, embeddingRecord(vector, 2)]));
    expect(out).toHaveLength(3);
    expect(out[0]).toMatchObject({ image: 'q0.jpg', verdict: 'unknown' });
    expect(out[1]).toMatchObject({ verdict: 'error', error: { code: 'bad_record' } });
    expect(out[2]).toMatchObject({ image: 'q2.jpg', verdict: 'unknown' });
    await gallery.close();
    // and in a stage: align keeps the records after the broken one
    const det = await engine().detect(join(DEMO, 'sample2.jpg'));
    const recs = await collect(engine().extractEach([det[0]!, broken, det[1]!], { upTo: 'align', alignDir: tempDir() }));
    expect(recs.map((r) => (r.error ? r.error.message : 'ok'))).toEqual(['ok', expect.stringMatching(/^line 2: not valid JSON/), 'ok']);
  });

  it('reads no further ahead than it answers, instead of buffering without bound', async () => {
    // two workers: up to four queries under way (records need no worker: none starts)
    const two = new facekit.Facekit({ workers: 2 });
    const { gallery, vector } = await smallGallery('memory:', two);
    let pulled = 0;
    async function* endless() {
      for (;;) {
        await new Promise((r) => setImmediate(r)); // as records arrive on a stream: each after some I/O
        yield embeddingRecord(vector, pulled++);
      }
    }
    const answers = gallery.identifyMany(endless());
    // a stream that read its whole input before answering would never answer this one
    const first = await Promise.race([answers.next(), new Promise<'waited'>((r) => setTimeout(() => r('waited'), 20_000))]);
    expect(first, 'no answer while the input kept coming').not.toBe('waited');
    expect((first as IteratorResult<{ image: string }>).value).toMatchObject({ image: 'q0.jpg' });
    // nobody asks for the next answer: the input is not drained meanwhile
    await new Promise((r) => setTimeout(r, 300));
    expect(pulled).toBeLessThan(50);
    // as the reader takes answers, the input is read on, a few queries ahead
    for (let i = 0; i < 100; i++) expect((await answers.next()).value).toMatchObject({ image: `q${i + 1}.jpg` });
    expect(pulled).toBeGreaterThanOrEqual(101);
    expect(pulled).toBeLessThan(101 + 50);
    await answers.return(undefined);
    await gallery.close();
    await two.close();
  });
});
