import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeNpy } from '../../src/core/npy.js';
import { DEMO, oneLine, records, runCli, tempDir } from '../helpers/cli.js';
import { cliOnce, demoPeople } from '../helpers/shared.js';

const photo = join(DEMO, 'sample1.jpg');
type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('align, normalize, represent', () => {
  it('reaches the same embedding stage by stage as in one shot', async () => {
    const dir = tempDir();
    const det = await cliOnce(['detect', photo]); // `facekit detect sample1.jpg`, run once for the files that use it
    const al = await runCli(['align', '-', '--out-dir', join(dir, 'aligned')], { input: det.stdout });
    expect(al.code).toBe(0);
    const no = await runCli(['normalize', '-', '--out-dir', join(dir, 'norm')], { input: al.stdout });
    expect(no.code).toBe(0);
    const staged = await runCli(['represent', '-'], { input: no.stdout });
    expect(staged.code).toBe(0);
    const oneShot = await cliOnce(['represent', photo]);
    const a = records(staged.stdout) as Rec[], b = records(oneShot.stdout) as Rec[];
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      // the staged record keeps its history
      expect(Object.keys(a[i]!)).toEqual(expect.arrayContaining(['box', 'landmarks', 'aligned', 'normalized', 'embedding']));
      expect(a[i]!.embedding.model).toBe('mobilefacenet');
      expect(a[i]!.embedding.dim).toBe(192);
      const va = a[i]!.embedding.vector as number[], vb = b[i]!.embedding.vector as number[];
      const maxDiff = Math.max(...va.map((v, k) => Math.abs(v - vb[k]!)));
      expect(maxDiff).toBeLessThan(1e-6);
    }
  });

  it('writes aligned crops on the model template, and box-only crops with --no-rotate', async () => {
    const dir = tempDir();
    const res = await runCli(['align', photo, '--out-dir', dir]);
    const recs = records(res.stdout) as Rec[];
    expect(recs[0]!.aligned).toMatchObject({ size: [112, 112], template: 'arcface-112', rotated: true });
    const meta = await sharp(recs[0]!.aligned.path).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 112, 112]);
    // the demo faces are tilted: some rotation was needed
    expect(Math.max(...recs.map((r) => Math.abs(r.aligned.angle as number)))).toBeGreaterThan(5);
    const flat = records((await runCli(['align', photo, '--out-dir', dir, '--no-rotate'])).stdout) as Rec[];
    expect(flat.every((r) => r.aligned.angle === 0 && r.aligned.rotated === false)).toBe(true);
    const fr = records((await runCli(['align', photo, '--out-dir', dir, '--model', 'faceres'])).stdout) as Rec[];
    expect(fr[0]!.aligned).toMatchObject({ size: [224, 224], template: 'faceres-224' });
    const dl = records((await runCli(['align', photo, '--out-dir', dir, '--model', 'resnet34'])).stdout) as Rec[];
    expect(dl[0]!.aligned).toMatchObject({ size: [150, 150], template: 'dlib-150' });
  });

  it("normalizes with the model's scheme, warns for another, previews", async () => {
    const dir = tempDir();
    const res = await runCli(['normalize', photo, '--out-dir', join(dir, 'n'), '--preview', join(dir, 'p')]);
    expect(res.code).toBe(0);
    const r = (records(res.stdout) as Rec[])[0]!;
    expect(r.normalized).toMatchObject({ scheme: 'arcface', shape: [1, 112, 112, 3] });
    expect(r.normalized.mean).toHaveLength(3);
    expect(readFileSync(r.normalized.path).subarray(1, 6).toString()).toBe('NUMPY');
    expect(existsSync(join(dir, 'p'))).toBe(true);
    const other = await runCli(['normalize', photo, '--out-dir', join(dir, 'n2'), '--scheme', 'facenet']);
    expect(other.code).toBe(0);
    expect(other.stderr).toMatch(/scheme "facenet" is not what mobilefacenet was trained with \("arcface"\)/);
    // represent refuses a tensor of the wrong scheme unless asked
    const refused = await runCli(['represent', '-'], { input: other.stdout });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/normalized with scheme "facenet", mobilefacenet needs "arcface"/);
    const forced = await runCli(['represent', '-', '--any-scheme'], { input: other.stdout });
    expect(forced.code).toBe(0);
  });

  it('offers faceres as a second model', async () => {
    const res = await cliOnce(['represent', join(DEMO, 'sample2.jpg'), '--model', 'faceres', '--no-flip']); // once for the files that use it
    expect(res.code).toBe(0);
    const r = (records(res.stdout) as Rec[])[0]!;
    expect(r.embedding).toMatchObject({ model: 'faceres', dim: 1024 });
  });

  it('labels faces from a DIR/<person>/ tree, and embeds pre-aligned crops with --skip-detect', async () => {
    const dir = tempDir();
    // people/{ana,bruno,carla}/ through `facekit represent people --out FILE --workers 2`, run once
    // for the test files that use it (tsne.test.ts plots these records)
    const demo = await demoPeople();
    expect(demo.run.code).toBe(0);
    const recs = records(readFileSync(demo.records, 'utf8')) as Rec[];
    expect(new Set(recs.map((r) => r.label))).toEqual(new Set(['ana', 'bruno', 'carla']));
    for (const r of recs) expect(r.image).toContain(`/people/${r.label}/`);
    // an aligned crop: cut the ArcFace-template region of the first face
    const al = (records((await runCli(['align', join(DEMO, 'sample2.jpg'), '--out-dir', dir])).stdout) as Rec[])[0]!;
    const crop = join(dir, 'crop.png');
    await sharp(al.aligned.path).resize(112, 112).toFile(crop);
    const skip = await runCli(['represent', crop, '--skip-detect']);
    expect(skip.code).toBe(0);
    expect((records(skip.stdout) as Rec[])[0]).toMatchObject({ detector: 'skip', face: 0, embedding: { model: 'mobilefacenet', dim: 192 } });
  });
});

describe('align, normalize, represent on bad input', () => {
  it.each([
    [['align', '-', '--model', 'vgg'], '', /--model must be one of resnet34, faceres, mobilefacenet, faceplugin; got "vgg"/],
    [['normalize', photo, '--scheme', 'zscore'], '', /--scheme must be one of raw, unit, vggface, facenet, arcface, faceplugin, dlib; got "zscore"/],
    [['align', '-'], JSON.stringify({ schema: 3, image: 'x.jpg', face: 0 }), /stdin line 1: record schema 3 is newer than this facekit understands/],
    [['represent', '-'], '{"embedding": [1,2,3]}', /stdin line 1: not a facekit record/],
    [['align', '-'], '{"schema":1,"image":"x.jpg",', /stdin line 1: the input ends in the middle of this record \(truncated last line\)/],
    [['align', '-'], '{"schema":1,"image":"x.jpg",\n', /stdin line 1: not valid JSON/],
  ])('%j: one line, exit 2', async (args, input, message) => {
    const res = await runCli(args as string[], { input: input as string });
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(message as RegExp);
  });

  it('names the missing key and the stage that makes it', async () => {
    const det = await cliOnce(['detect', join(DEMO, 'sample2.jpg')]);
    const res = await runCli(['normalize', '-'], { input: det.stdout });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/face 0: record has no "aligned" \(run `facekit align` first\)/);
    expect((records(res.stdout) as Rec[]).every((r) => r.error?.code === 'missing_key')).toBe(true);
  });

  it('refuses a .npy of the wrong shape or dtype, and a crop that is gone', async () => {
    const dir = tempDir();
    const rec = { schema: 1, image: photo, face: 0, normalized: { path: join(dir, 'bad.npy'), scheme: 'dlib', shape: [1, 112, 112, 3], mean: [0, 0, 0], std: [1, 1, 1] } };
    writeFileSync(join(dir, 'bad.npy'), encodeNpy({ shape: [1, 112, 112, 3], data: new Float32Array(112 * 112 * 3) }));
    const shape = await runCli(['represent', '-', '--model', 'resnet34'], { input: JSON.stringify(rec) });
    expect(shape.code).toBe(2);
    expect(oneLine(shape.stderr)).toMatch(/bad.npy: tensor shape is \(1, 112, 112, 3\), resnet34 needs \(1, 150, 150, 3\)/);
    const f64 = Buffer.from(encodeNpy({ shape: [1, 150, 150, 3], data: new Float32Array(150 * 150 * 3) }).toString('latin1').replace("'<f4'", "'<f8'"), 'latin1');
    writeFileSync(join(dir, 'bad.npy'), f64);
    const dtype = await runCli(['represent', '-', '--model', 'resnet34'], { input: JSON.stringify(rec) });
    expect(oneLine(dtype.stderr)).toMatch(/dtype is <f8, expected float32/);
    const al = await runCli(['align', photo, '--out-dir', join(dir, 'al')]);
    rmSync(join(dir, 'al'), { recursive: true });
    const gone = await runCli(['normalize', '-', '--out-dir', join(dir, 'n')], { input: al.stdout });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/al\/sample1-[0-9a-f]{8}-f0-arcface-112.png: no such file or directory/);
  });
});
