import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARTISTS, BIN, DEMO, FIXTURES, hasArtists, oneLine, records, runCli, tempDir } from '../helpers/cli.js';
import { cliOnce } from '../helpers/shared.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A small people tree copied from the artists gallery: `n` people, `k` photos each. */
function people(n: number, k: number, skip = 0): { dir: string; held: Record<string, string[]> } {
  const dir = tempDir();
  const held: Record<string, string[]> = {};
  const names = readdirSync(ARTISTS).sort().slice(skip, skip + n);
  for (const name of names) {
    mkdirSync(join(dir, name));
    const photos = readdirSync(join(ARTISTS, name)).sort();
    held[name] = photos.slice(k);
    for (const p of photos.slice(0, k)) copyFileSync(join(ARTISTS, name, p), join(dir, name, p));
  }
  return { dir, held };
}

const gallery = (db: string): Json => JSON.parse(readFileSync(db, 'utf8')) as Json;
/** The entries of a (schema 2) gallery: JSON Lines beside its header. */
const entriesOf = (db: string): Json[] =>
  readFileSync(join(dirname(db), gallery(db).entries.file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Json);

describe('build-db and verify on bad input (no dataset needed)', () => {
  it('refuses a folder without person folders, and a missing one', async () => {
    const dir = tempDir();
    copyFileSync(join(DEMO, 'sample1.jpg'), join(dir, 'a.jpg'));
    const flat = await runCli(['build-db', dir, '--db', join(dir, 'g.json')]);
    expect(flat.code).toBe(2);
    expect(oneLine(flat.stderr)).toMatch(/no person folders here: build-db expects DIR\/<person>\/\*.jpg \(found 1 images directly in DIR/);
    const missing = await runCli(['build-db', join(dir, 'nope'), '--db', join(dir, 'g.json')]);
    expect(oneLine(missing.stderr)).toMatch(/nope: no such file or directory/);
    expect(existsSync(join(dir, 'g.json'))).toBe(false);
  });

  it('refuses damaged galleries with one line each, and never overwrites them', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const cases: [string, RegExp][] = [
      ['{"format": "facekit-gallery", "schema": 1, "model": "resnet34", "dim": 128, "metr', /gallery is not valid JSON .*truncated or hand-edited/],
      ['', /gallery file is empty/],
      ['{"hello": 1}', /not a facekit gallery/],
      [JSON.stringify({ format: 'facekit-gallery', schema: 7, model: 'resnet34', dim: 128, metric: 'cosine', entries: [], vectors: { file: 'x', count: 0, sha256: '' } }), /gallery schema 7 is newer than this facekit understands/],
      [JSON.stringify({ format: 'facekit-gallery', schema: 1, model: 'resnet34', dim: 128, metric: 'cosine', entries: [{ label: 'a', image: 'a.jpg', hash: 'h', face: 0 }], vectors: { file: 'g.000000000000.f32', count: 1, sha256: 'x' } }), /vector file is missing or unreadable/],
    ];
    const person = join(dir, 'in', 'ana');
    mkdirSync(person, { recursive: true });
    copyFileSync(join(DEMO, 'sample2.jpg'), join(person, 'a.jpg'));
    for (const [content, message] of cases) {
      writeFileSync(db, content);
      const v = await runCli(['verify', join(DEMO, 'sample2.jpg'), '--db', db]);
      expect(v.code).toBe(2);
      expect(oneLine(v.stderr)).toMatch(message);
      const b = await runCli(['build-db', join(dir, 'in'), '--db', db]);
      expect(b.code).toBe(2);
      expect(oneLine(b.stderr)).toMatch(message);
      expect(readFileSync(db, 'utf8')).toBe(content);
    }
  });

  it('refuses a threshold that is not a number and an unknown metric', async () => {
    const t = await runCli(['verify', join(DEMO, 'sample2.jpg'), '--threshold', 'high']);
    expect(t.code).toBe(2);
    expect(oneLine(t.stderr)).toMatch(/--threshold must be a number, got "high"/);
    const m = await runCli(['verify', join(DEMO, 'sample2.jpg'), '--metric', 'manhattan', '--db', 'x.json']);
    expect(oneLine(m.stderr)).toMatch(/--metric must be one of cosine, euclidean, euclidean_l2; got "manhattan"/);
  });

  it('refuses thresholds outside the metric\'s range and warns about loose ones', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in', 'ana'), { recursive: true });
    copyFileSync(join(DEMO, 'sample2.jpg'), join(dir, 'in', 'ana', 'a.jpg'));
    const db = join(dir, 'g.json');
    expect((await runCli(['build-db', join(dir, 'in'), '--db', db])).code).toBe(0);
    const q = join(DEMO, 'sample3.jpg');
    const five = await runCli(['verify', q, '--db', db, '--threshold', '5']);
    expect(five.code).toBe(2);
    expect(oneLine(five.stderr)).toMatch(/threshold 5 makes no sense for euclidean_l2: it must be between 0 and 2/);
    const loose = await runCli(['verify', q, '--db', db, '--metric', 'cosine', '--threshold', '1.5', '--json']);
    expect(loose.stderr).toMatch(/threshold 1.5 is far looser than the calibrated 0.48 for mobilefacenet with cosine/);
  });

  it('db rename refuses to merge two people unless --merge says so', async () => {
    const dir = tempDir();
    for (const [who, photo] of [['ana', 'sample2.jpg'], ['bo', 'sample3.jpg']] as const) {
      mkdirSync(join(dir, 'in', who), { recursive: true });
      copyFileSync(join(DEMO, photo), join(dir, 'in', who, 'a.jpg'));
    }
    const db = join(dir, 'g.json');
    expect((await runCli(['build-db', join(dir, 'in'), '--db', db])).code).toBe(0);
    const before = readFileSync(db, 'utf8');
    const r = await runCli(['db', 'rename', 'ana', 'bo', '--db', db]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/"bo" is already in the gallery .* pass --merge/);
    expect(readFileSync(db, 'utf8')).toBe(before);
    const m = await runCli(['db', 'rename', 'ana', 'bo', '--merge', '--db', db]);
    expect(m.code).toBe(0);
    const list = JSON.parse((await runCli(['db', 'list', '--json', '--db', db])).stdout) as { label: string }[];
    expect(list.map((e) => e.label)).toEqual(['bo', 'bo']);
  });

  it('waits for no one: a second builder gets a clear message', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in', 'ana'), { recursive: true });
    copyFileSync(join(DEMO, 'sample2.jpg'), join(dir, 'in', 'ana', 'a.jpg'));
    const db = join(dir, 'g.json');
    // a lock held by a live process (this test runner)
    writeFileSync(`${db}.lock`, JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), since: 'now' }));
    const res = await runCli(['build-db', join(dir, 'in'), '--db', db]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/gallery is being written by another facekit \(pid \d+ since now\)/);
    // a lock left by a process that is gone is taken over
    writeFileSync(`${db}.lock`, JSON.stringify({ pid: 999999, host: (await import('node:os')).hostname(), since: 'then' }));
    const ok = await runCli(['build-db', join(dir, 'in'), '--db', db]);
    expect(ok.code).toBe(0);
    expect(existsSync(`${db}.lock`)).toBe(false);
  });
});

describe.skipIf(!hasArtists)('build-db and verify on the artists gallery', () => {
  it('builds a gallery, finds known people (exit 0) and rejects strangers (exit 1)', async () => {
    const { dir, held } = people(3, 4);
    const db = join(dir, 'db', 'gallery.json');
    const b = await runCli(['build-db', dir, '--db', db, '--workers', '2']);
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/3 people, 12 faces \(mobilefacenet\)/);
    const g = gallery(db);
    expect(g).toMatchObject({ format: 'facekit-gallery', schema: 2, model: 'mobilefacenet', dim: 192, metric: 'euclidean_l2', people: 3 });
    expect(g.entries).toMatchObject({ format: 'jsonl', count: 12 });
    expect(entriesOf(db)[0]).toEqual(expect.objectContaining({ label: expect.any(String), image: expect.any(String), hash: expect.stringMatching(/^[0-9a-f]{64}$/), face: 0, box: expect.any(Array) }));
    expect(readFileSync(join(dir, 'db', g.vectors.file)).length).toBe(12 * 192 * 4);

    const [name, photos] = Object.entries(held)[0]!;
    const known = await runCli(['verify', join(ARTISTS, name, photos[0]!), '--db', db, '--json']);
    expect(known.code).toBe(0);
    const answer = records(known.stdout)[0] as Json;
    expect(answer).toMatchObject({ identity: name, verdict: 'match', metric: 'euclidean_l2', threshold: 0.98 });
    expect(answer.candidates).toHaveLength(3);

    const stranger = readdirSync(ARTISTS).sort()[5]!;
    const strangerPhoto = join(ARTISTS, stranger, readdirSync(join(ARTISTS, stranger)).sort()[0]!);
    const unknown = await runCli(['verify', strangerPhoto, '--db', db, '--json']);
    expect(unknown.code).toBe(1);
    expect(records(unknown.stdout)[0]).toMatchObject({ identity: null, verdict: 'unknown' });
    const table = await runCli(['verify', strangerPhoto, '--db', db, '--top-k', '2']);
    expect(table.stdout).toMatch(/unknown/);

    const noFace = await runCli(['verify', join(FIXTURES, 'bad', 'no-face.jpg'), '--db', db, '--json']);
    expect(noFace.code).toBe(2);
    expect(records(noFace.stdout)[0]).toMatchObject({ verdict: 'error', error: { code: 'no_face' } });
    expect(oneLine(noFace.stderr)).toMatch(/no-face.jpg: no face found/);

    const info = await runCli(['db', 'info', '--db', db, '--json']);
    expect(JSON.parse(info.stdout)).toMatchObject({ people: 3, faces: 12, model: 'mobilefacenet' });
    const rm = await runCli(['db', 'remove', name, '--db', db]);
    expect(rm.code).toBe(0);
    expect(entriesOf(db)).toHaveLength(8);
    const again = await runCli(['verify', join(ARTISTS, name, photos[0]!), '--db', db, '--json']);
    expect(again.code).toBe(1);
  });

  it('compares two photos 1:1 without a gallery', async () => {
    const names = readdirSync(ARTISTS).sort();
    const photo = (n: string, i: number) => join(ARTISTS, n, readdirSync(join(ARTISTS, n)).sort()[i]!);
    const same = await runCli(['verify', photo(names[2]!, 0), photo(names[2]!, 1), '--json']);
    expect(same.code).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ verified: true, model: 'mobilefacenet', metric: 'euclidean_l2' });
    const diff = await runCli(['verify', photo(names[2]!, 0), photo(names[3]!, 0)]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/different people/);
  });

  it('adds only new photos, prunes deleted ones, and matches a build from records', async () => {
    const { dir } = people(2, 3, 3);
    const db = join(dir, 'g.json');
    expect((await runCli(['build-db', dir, '--db', db])).code).toBe(0);
    const first = gallery(db);
    const again = await runCli(['build-db', dir, '--db', db, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ added: 0, skipped: 6, galleryFaces: 6 });
    expect(gallery(db).vectors.sha256).toBe(first.vectors.sha256);
    const person = readdirSync(dir).filter((d) => !d.startsWith('g.'))[0]!;
    const gone = join(dir, person, readdirSync(join(dir, person))[0]!);
    rmSync(gone);
    const pruned = await runCli(['build-db', dir, '--db', db, '--prune', '--json']);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ pruned: 1, galleryFaces: 5 });
    // the same photos through represent records give the same vectors
    const reps = await runCli(['represent', dir]);
    const fromRecords = await runCli(['build-db', '-', '--db', join(dir, 'r.json')], { input: reps.stdout });
    expect(fromRecords.code).toBe(0);
    const a = gallery(db), b = gallery(join(dir, 'r.json'));
    const vec = (g: Json, file: string) => {
      const buf = readFileSync(join(dir, g.vectors.file));
      const byImage = new Map<string, number[]>();
      const entries = readFileSync(join(dir, g.entries.file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Json);
      entries.forEach((e, i) => byImage.set(e.image as string, Array.from(new Float32Array(buf.buffer, buf.byteOffset + i * 192 * 4, 192))));
      void file;
      return byImage;
    };
    const va = vec(a, db), vb = vec(b, 'r');
    expect([...vb.keys()].sort()).toEqual([...va.keys()].sort());
    for (const [img, v] of va) expect(Math.max(...v.map((x, k) => Math.abs(x - vb.get(img)![k]!)))).toBeLessThan(1e-6);
    // records of another model are refused: `facekit represent sample2.jpg --model faceres --no-flip`,
    // run once for the files that use it
    const other = await cliOnce(['represent', join(DEMO, 'sample2.jpg'), '--model', 'faceres', '--no-flip']);
    const refused = await runCli(['build-db', '-', '--db', db], { input: other.stdout.split('\n')[0] + '\n' });
    expect(refused.code).toBe(2);
    expect(oneLine(refused.stderr)).toMatch(/gallery was built with mobilefacenet \(192-d embeddings\), not faceres \(1024-d\)/);
  });

  it('reports a person folder without usable photos and goes on', async () => {
    const { dir } = people(1, 2);
    mkdirSync(join(dir, 'nobody'));
    copyFileSync(join(FIXTURES, 'bad', 'truncated.jpg'), join(dir, 'nobody', 'x.jpg'));
    mkdirSync(join(dir, 'empty'));
    const res = await runCli(['build-db', dir, '--db', join(dir, 'g.json'), '--json']);
    expect(res.code).toBe(2);
    const s = JSON.parse(res.stdout) as Json;
    expect(s).toMatchObject({ added: 2, galleryFaces: 2, peopleWithoutPhotos: ['empty'] });
    expect((s.failures as Json[]).map((f) => f.code).sort()).toEqual(['corrupt_image', 'no_images']);
  });

  it('survives Ctrl-C and kill -9 mid-build, keeps the old gallery, and resumes', async () => {
    const { dir } = people(3, 5);
    const db = join(dir, 'g.json');
    // an old gallery of one person
    const old = tempDir();
    mkdirSync(join(old, 'solo'));
    copyFileSync(join(DEMO, 'sample2.jpg'), join(old, 'solo', 's.jpg'));
    expect((await runCli(['build-db', old, '--db', db])).code).toBe(0);
    const before = readFileSync(db, 'utf8');

    const interrupt = async (signal: NodeJS.Signals): Promise<number> => {
      const lines = () => (existsSync(`${db}.partial`) ? readFileSync(`${db}.partial`, 'utf8').split('\n').length - 1 : 0);
      const start = lines();
      const child = spawn(process.execPath, [BIN, 'build-db', dir, '--db', db, '--workers', '1'], { stdio: 'ignore' });
      const exit = new Promise<number>((r) => child.on('close', (code, sig) => r(code ?? (sig === 'SIGKILL' ? 137 : -1))));
      // wait until this run has finished two photos of its own
      for (let i = 0; i < 600 && lines() < start + 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill(signal);
      return exit;
    };
    expect(await interrupt('SIGINT')).toBe(130);
    expect(readFileSync(db, 'utf8')).toBe(before);
    expect(existsSync(`${db}.lock`)).toBe(false);
    expect(await interrupt('SIGKILL')).toBe(137);
    expect(readFileSync(db, 'utf8')).toBe(before);
    expect(existsSync(`${db}.lock`)).toBe(true); // left behind by the killed run

    const resumed = await runCli(['build-db', dir, '--db', db, '--json']);
    expect(resumed.code).toBe(0);
    const s = JSON.parse(resumed.stdout) as Json;
    expect(s.resumed).toBeGreaterThanOrEqual(2);
    expect(s.resumed + s.added).toBe(15);
    expect(s.skipped).toBe(0); // resumed photos are not also "already in"
    expect(s.galleryFaces).toBe(16);
    expect(existsSync(`${db}.partial`)).toBe(false);
  });
});
if (!hasArtists) console.warn('skipping the gallery tests that need ../shared/datasets/artists');
