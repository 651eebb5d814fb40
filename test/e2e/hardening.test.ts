/** Input that used to hang or lose data: each gets one line on stderr and exit code 2, at once. */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO, ROOT, oneLine, runCli, tempDir } from '../helpers/cli.js';
import { cliOnce } from '../helpers/shared.js';

describe('non-regular files', () => {
  it('refuses a FIFO given as an image, a records file or a gallery, instead of waiting forever', async () => {
    const dir = tempDir();
    const fifo = (name: string) => {
      const p = join(dir, name);
      execFileSync('mkfifo', [p]);
      return p;
    };
    const asImage = await runCli(['detect', fifo('f.jpg')]);
    expect(asImage.code).toBe(2);
    expect(oneLine(asImage.stderr)).toMatch(/f\.jpg: not a regular file/);
    const asRecords = await runCli(['align', fifo('r.ndjson')]);
    expect(asRecords.code).toBe(2);
    expect(oneLine(asRecords.stderr)).toMatch(/r\.ndjson: not a regular file/);
    const asDb = await runCli(['verify', join(DEMO, 'sample2.jpg'), '--db', fifo('g.json')]);
    expect(asDb.code).toBe(2);
    expect(oneLine(asDb.stderr)).toMatch(/g\.json: not a regular file/);
    const device = await runCli(['detect', '/dev/zero']);
    expect(device.code).toBe(2);
    expect(device.stderr).toMatch(/\/dev\/zero: not a regular file/);
  }, 30_000);
});

describe('files that records point to', () => {
  it('a second align or normalize run with other settings does not overwrite the first run\'s files', async () => {
    const photo = join(DEMO, 'sample2.jpg');
    const dir = tempDir();
    const first = await runCli(['align', photo, '--out-dir', join(dir, 'a')]);
    const second = await runCli(['align', photo, '--no-rotate', '--out-dir', join(dir, 'a')]);
    const p1 = (JSON.parse(first.stdout.split('\n')[0]!) as { aligned: { path: string } }).aligned.path;
    const p2 = (JSON.parse(second.stdout.split('\n')[0]!) as { aligned: { path: string } }).aligned.path;
    expect(p1).not.toBe(p2);
    const n1 = await runCli(['normalize', '-', '--out-dir', join(dir, 'n')], { input: first.stdout });
    await runCli(['normalize', '-', '--scheme', 'facenet', '--out-dir', join(dir, 'n')], { input: first.stdout });
    const staged = await runCli(['represent', '-'], { input: n1.stdout });
    const oneShot = await cliOnce(['represent', photo]);
    const v = (out: string) => (JSON.parse(out.split('\n')[0]!) as { embedding: { vector: number[] } }).embedding.vector;
    const diff = Math.max(...v(staged.stdout).map((x, i) => Math.abs(x - v(oneShot.stdout)[i]!)));
    expect(diff).toBeLessThan(1e-6);
  });

  it('refuses a crop or tensor that changed since its record was written', async () => {
    const photo = join(DEMO, 'sample2.jpg');
    const dir = tempDir();
    const al = await runCli(['align', photo, '--out-dir', join(dir, 'a')]);
    const recs = al.stdout.trim().split('\n').map((l) => JSON.parse(l) as { aligned: { path: string } });
    copyFileSync(recs[1]!.aligned.path, recs[0]!.aligned.path); // face 0's crop now shows face 1
    const res = await runCli(['normalize', '-', '--out-dir', join(dir, 'n')], { input: al.stdout });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/is not the one its record describes \(its sha256 differs\)/);
    const out = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { error?: { code: string }; normalized?: unknown });
    expect(out[0]!.error?.code).toBe('bad_record');
    expect(out[1]!.normalized).toBeDefined();
  });
});

describe('rough edges', () => {
  it('prints plain progress lines when stderr is not a terminal', async () => {
    const dir = tempDir();
    for (const p of ['sample1.jpg', 'sample2.jpg', 'sample3.jpg']) {
      mkdirSync(join(dir, 'in', p.replace('.jpg', '')), { recursive: true });
      copyFileSync(join(DEMO, p), join(dir, 'in', p.replace('.jpg', ''), p));
    }
    const res = await runCli(['build-db', join(dir, 'in'), '--db', join(dir, 'g.json'), '--workers', '1'], { env: { FACEKIT_PROGRESS_EVERY: '0.001' } });
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/facekit: 1\/3 images, [\d.]+\/s, \d+s left/);
    expect(res.stderr).toMatch(/gallery .*: 3 people, 3 faces \(mobilefacenet\)/);
    expect(res.stderr).toMatch(/this run: 3 photos of 3 people in [\d.]+s: 3 faces added/);
  });

  it('says "1 person, 1 face", not "1 people, 1 faces"', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in', 'ana'), { recursive: true });
    copyFileSync(join(DEMO, 'sample2.jpg'), join(dir, 'in', 'ana', 'a.jpg'));
    const res = await runCli(['build-db', join(dir, 'in'), '--db', join(dir, 'g.json')]);
    expect(res.stderr).toMatch(/: 1 person, 1 face \(mobilefacenet\)/);
    expect(res.stderr).toMatch(/this run: 1 photo of 1 person in [\d.]+s: 1 face added, 2 other faces left out/);
  });
});

describe('symbolic links', () => {
  it('follows linked photos and person folders, and does not loop', async () => {
    const dir = tempDir();
    const store = join(dir, 'store');
    mkdirSync(join(store, 'bo'), { recursive: true });
    copyFileSync(join(DEMO, 'sample2.jpg'), join(store, 'sample2.jpg'));
    copyFileSync(join(DEMO, 'sample3.jpg'), join(store, 'bo', 'b.jpg'));
    mkdirSync(join(dir, 'in', 'ana'), { recursive: true });
    symlinkSync(join(store, 'sample2.jpg'), join(dir, 'in', 'ana', 'a.jpg')); // a linked photo
    symlinkSync(join(store, 'bo'), join(dir, 'in', 'bo')); // a linked person folder
    symlinkSync(join(dir, 'in', 'ana'), join(dir, 'in', 'ana', 'again')); // a loop
    const res = await runCli(['build-db', join(dir, 'in'), '--db', join(dir, 'g.json'), '--json']);
    expect(res.code).toBe(0);
    const s = JSON.parse(res.stdout) as { images: number; added: number; galleryPeople: number };
    expect(s).toMatchObject({ images: 2, added: 2, galleryPeople: 2 });
  });
});

describe('verify --db DIR', () => {
  it('builds a gallery for a folder of people, caches it, and brings it up to date', async () => {
    const dir = tempDir();
    const cache = tempDir();
    for (const [who, photo] of [['ana', 'sample2.jpg'], ['bo', 'sample3.jpg']] as const) {
      mkdirSync(join(dir, 'people', who), { recursive: true });
      copyFileSync(join(DEMO, photo), join(dir, 'people', who, photo));
    }
    const env = { XDG_CACHE_HOME: cache };
    const first = await runCli(['verify', join(DEMO, 'sample2.jpg'), '--db', join(dir, 'people'), '--json'], { env });
    expect(first.stderr).toMatch(/gallery of .*people: 2 people, 2 faces \(2 new, 0 gone; kept in .*galleries/);
    const answers = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as { identity: string | null });
    expect(answers[0]!.identity).toBe('ana');
    rmSync(join(dir, 'people', 'bo'), { recursive: true });
    const second = await runCli(['verify', join(DEMO, 'sample2.jpg'), '--db', join(dir, 'people'), '--json'], { env });
    expect(second.stderr).toMatch(/: 1 person, 1 face \(0 new, 1 gone;/);
  });
});

describe('pipelines', () => {
  it('a pipeline whose first command fails reports the failure once, not once per stage', () => {
    const script = `node ${JSON.stringify(join(ROOT, 'bin', 'facekit.js'))}`;
    const res = spawnSync('bash', ['-c', `${script} detect /no/such.jpg | ${script} align - | ${script} normalize - | ${script} represent -; echo "codes \${PIPESTATUS[*]}" >&2`], { encoding: 'utf8' });
    const lines = res.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('facekit:'))).toEqual(['facekit: /no/such.jpg: no such file or directory']);
    expect(lines.at(-1)).toBe('codes 2 2 2 2');
  });

  it('still says "nothing arrived on stdin" when stdin is not a shell pipe', async () => {
    const res = await runCli(['align', '-']); // a socket, as from another program
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/stdin: nothing arrived on stdin/);
    const fromNull = spawnSync('bash', ['-c', `node ${JSON.stringify(join(ROOT, 'bin', 'facekit.js'))} align - < /dev/null`], { encoding: 'utf8' });
    expect(fromNull.status).toBe(2);
    expect(fromNull.stderr).toMatch(/nothing arrived on stdin/);
  });
});

describe('very large photos', () => {
  it('are shrunk while decoded, with records still in the original pixels', async () => {
    const sharp = (await import('sharp')).default;
    const dir = tempDir();
    const big = join(dir, 'big.jpg');
    await sharp(join(DEMO, 'sample1.jpg')).resize(6000, 4000).jpeg({ quality: 90 }).toFile(big);
    const small = (await cliOnce(['detect', join(DEMO, 'sample1.jpg')])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { box: number[]; width: number });
    const res = await runCli(['represent', big, '--out', join(dir, 'big.ndjson')]);
    expect(res.code).toBe(0);
    const recs = (await import('node:fs')).readFileSync(join(dir, 'big.ndjson'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as { width: number; height: number; box: number[]; embedding: { vector: number[] } });
    expect(recs).toHaveLength(3);
    expect([recs[0]!.width, recs[0]!.height]).toEqual([6000, 4000]);
    const k = 6000 / small[0]!.width;
    for (let i = 0; i < 4; i++) expect(Math.abs(recs[0]!.box[i]! - small[0]!.box[i]! * k)).toBeLessThan(0.03 * 6000);
    const one = (await cliOnce(['represent', join(DEMO, 'sample1.jpg')])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { embedding: { vector: number[] } });
    const a = recs[0]!.embedding.vector, b = one[0]!.embedding.vector;
    const na = Math.hypot(...a), nb = Math.hypot(...b);
    const d = Math.sqrt(a.reduce((s, x, i) => s + (x / na - b[i]! / nb) ** 2, 0));
    expect(d).toBeLessThan(0.2); // the same face, far under the default threshold (1.12)
  });
});

describe('found by the bad-input corpus (scripts/bad-input-corpus.mjs)', () => {
  it('refuses a gallery whose sidecar is a FIFO or whose model is unknown', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in', 'ana'), { recursive: true });
    copyFileSync(join(DEMO, 'sample2.jpg'), join(dir, 'in', 'ana', 'a.jpg'));
    const db = join(dir, 'g.json');
    expect((await runCli(['build-db', join(dir, 'in'), '--db', db])).code).toBe(0);
    const header = JSON.parse(readFileSync(db, 'utf8')) as { model: string; vectors: { file: string } };
    const side = join(dir, header.vectors.file);
    const bytes = readFileSync(side);
    rmSync(side);
    execFileSync('mkfifo', [side]);
    const fifo = await runCli(['db', 'list', '--db', db]);
    expect(fifo.code).toBe(2);
    expect(oneLine(fifo.stderr)).toMatch(/vector file is not a regular file/);
    rmSync(side);
    writeFileSync(side, bytes);
    writeFileSync(db, JSON.stringify({ ...header, model: 'arcface' }));
    const unknown = await runCli(['build-db', join(dir, 'in'), '--db', db]);
    expect(unknown.code).toBe(2);
    expect(oneLine(unknown.stderr)).toMatch(/built with model "arcface", which this facekit does not have/);
  }, 30_000);

  it('--out inside a file, and an empty records file: one line, exit 2, nothing left behind', async () => {
    const dir = tempDir();
    const out = await runCli(['detect', join(DEMO, 'sample2.jpg'), '--out', join(DEMO, 'sample2.jpg', 'x.ndjson')]);
    expect(out.code).toBe(2);
    expect(oneLine(out.stderr)).toMatch(/sample2\.jpg: /);
    writeFileSync(join(dir, 'empty.ndjson'), '\n\n');
    const empty = await runCli(['align', join(dir, 'empty.ndjson')]);
    expect(empty.code).toBe(2);
    expect(oneLine(empty.stderr)).toMatch(/empty\.ndjson: holds no records/);
    const asDir = await runCli(['detect', join(DEMO, 'sample2.jpg'), '--out', dir]);
    expect(asDir.code).toBe(2);
    expect(readdirSync(join(dir, '..')).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
