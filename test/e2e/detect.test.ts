import { existsSync, mkdirSync, readdirSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ARTISTS, DEMO, FIXTURES, hasArtists, oneLine, records, runCli, tempDir } from '../helpers/cli.js';
import { cliOnce } from '../helpers/shared.js';

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { demoFaces: Record<string, number> };
const samples = Object.keys(expected.demoFaces).map((f) => join(DEMO, f));

describe('facekit detect', () => {
  it('finds every face in the multi-face demo photos, largest first', async () => {
    const res = await runCli(['detect', ...samples, '--workers', '2']);
    expect(res.code).toBe(0);
    const recs = records(res.stdout);
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

  it.each(['ssd', 'tiny'])('runs the %s detector behind the same interface', async (detector) => {
    const res = await runCli(['detect', join(DEMO, 'sample1.jpg'), '--detector', detector]);
    expect(res.code).toBe(0);
    const recs = records(res.stdout);
    expect(recs).toHaveLength(3);
    expect(recs[0]).toMatchObject({ detector });
    expect(Object.keys(recs[0]!.landmarks as object)).toContain('noseBase');
  });

  it('honours --max-faces and --min-score, and adds the mesh on --mesh', async () => {
    const one = records((await runCli(['detect', join(DEMO, 'sample5.jpg'), '--max-faces', '2', '--mesh'])).stdout);
    expect(one).toHaveLength(2);
    expect((one[0]!.mesh as number[][]).length).toBe(468);
    const strict = await runCli(['detect', join(DEMO, 'sample5.jpg'), '--min-score', '0.99']);
    expect(strict.code).toBe(2);
    expect(oneLine(strict.stderr)).toMatch(/sample5.jpg: no face found/);
  });

  it('draws annotations and writes crops', async () => {
    const dir = tempDir();
    const res = await runCli(['detect', join(DEMO, 'sample1.jpg'), '--annotate', join(dir, 'ann.png'), '--crops', join(dir, 'crops')]);
    expect(res.code).toBe(0);
    const meta = await sharp(join(dir, 'ann.png')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1920, 1280]);
    const recs = records(res.stdout);
    for (const r of recs) expect(existsSync(r.crop as string)).toBe(true);
    expect(readdirSync(join(dir, 'crops'))).toHaveLength(3);
    // a folder input gives a folder of annotated images
    mkdirSync(join(dir, 'in'));
    for (const f of ['sample1.jpg', 'sample3.jpg']) copyFileSync(join(DEMO, f), join(dir, 'in', f));
    const folder = await runCli(['detect', join(dir, 'in'), '--annotate', join(dir, 'annotated')]);
    expect(folder.code).toBe(0);
    expect(readdirSync(join(dir, 'annotated')).sort()).toEqual(['sample1.jpg', 'sample3.jpg']);
  });

  it('reads an image as a data: URL or as bytes on stdin', async () => {
    const bytes = readFileSync(join(DEMO, 'sample2.jpg'));
    const url = await runCli(['detect', '-'], { input: `data:image/jpeg;base64,${bytes.toString('base64')}` });
    expect(url.code).toBe(0);
    expect(records(url.stdout)).toHaveLength(3);
    const raw = await runCli(['detect', '-'], { input: bytes });
    expect(records(raw.stdout)).toHaveLength(3);
  });

  it('finds the face in a tight crop that fills the frame', async () => {
    const dir = tempDir();
    const face = records((await cliOnce(['detect', join(DEMO, 'sample2.jpg')])).stdout)[0]!;
    const [x, y, w, h] = face.box as number[];
    // cut the face box itself, a little inside: nothing around the face is left
    await sharp(join(DEMO, 'sample2.jpg')).extract({ left: Math.round(x! + w! * 0.05), top: Math.round(y! + h! * 0.05), width: Math.round(w! * 0.9), height: Math.round(h! * 0.9) }).toFile(join(dir, 'tight.jpg'));
    const res = await runCli(['detect', join(dir, 'tight.jpg')]);
    expect(res.code).toBe(0);
    expect(records(res.stdout)).toHaveLength(1);
  });
});

describe('facekit detect on bad input', () => {
  const bad = join(FIXTURES, 'bad');
  it.each([
    ['empty.jpg', /empty.jpg: file is empty \(0 bytes\)/],
    ['text.jpg', /text.jpg: not an image/],
    ['truncated.jpg', /truncated.jpg: image data is damaged or truncated/],
    ['huge-20000x20000.png', /huge-20000x20000.png: image is 20000x20000 \(400 megapixels\), over the limit/],
    ['no-face.jpg', /no-face.jpg: no face found/],
  ])('%s: one line on stderr, exit 2, an error record', async (file, message) => {
    const res = await runCli(['detect', join(bad, file)]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(message);
    const recs = records(res.stdout);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ face: null, error: { code: expect.any(String) } });
  });

  it.each([
    [['detect', 'missing.jpg'], /missing.jpg: no such file or directory/],
    [['detect', '--detector', 'yolo', 'x.jpg'], /--detector must be one of blazeface, ssd, tiny; got "yolo"/],
    [['detect', '--max-faces', 'two', 'x.jpg'], /--max-faces must be an integer, got "two"/],
    [['detect', join(FIXTURES, 'records')], /records: folder holds no images/],
  ])('%j: one line, exit 2', async (args, message) => {
    const res = await runCli(args as string[]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(message);
    expect(res.stdout).toBe('');
  });

  it('refuses garbage on stdin', async () => {
    const res = await runCli(['detect', '-'], { input: 'hello, this is not an image\n' });
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/stdin: neither facekit records \(NDJSON\) nor an image/);
  });

  it('goes on past a bad file in a folder, then exits 2', async () => {
    const dir = tempDir();
    copyFileSync(join(DEMO, 'sample1.jpg'), join(dir, 'a.jpg'));
    copyFileSync(join(bad, 'truncated.jpg'), join(dir, 'b.jpg'));
    copyFileSync(join(DEMO, 'sample3.jpg'), join(dir, 'c.jpg'));
    writeFileSync(join(dir, 'notes.txt'), 'not an image, and not named like one: skipped');
    const res = await runCli(['detect', dir, '--workers', '2']);
    expect(res.code).toBe(2);
    const recs = records(res.stdout);
    expect(recs.filter((r) => r.error)).toHaveLength(1);
    expect(recs.filter((r) => !r.error)).toHaveLength(6);
    expect(oneLine(res.stderr)).toMatch(/b.jpg: image data is damaged or truncated/);
  });

  it('prints a stack trace only with --debug', async () => {
    const res = await runCli(['detect', 'missing.jpg', '--debug']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/\n\s+at /);
  });
});

describe.skipIf(!hasArtists)('facekit detect on the artists gallery', () => {
  it('finds a face in at least 76 of the 77 photos', async () => {
    const res = await runCli(['detect', ARTISTS, '--workers', '2']);
    const recs = records(res.stdout);
    const images = new Set(recs.map((r) => r.image));
    const withFace = new Set(recs.filter((r) => !r.error).map((r) => r.image));
    expect(images.size).toBe(77);
    expect(withFace.size).toBeGreaterThanOrEqual(76);
  });
});
if (!hasArtists) console.warn('skipping the artists tests: ../shared/datasets/artists is not here');
