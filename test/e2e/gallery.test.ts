// Galleries of photos: buildGallery (build-db), Gallery.open + identify (verify --db), the 1:1
// verify and the gallery's edits, in this process on one engine; and, through the real CLI, what
// only a process shows: exit codes, the summary and one-line errors on stderr, --json, signals.
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FaceRecord } from '../../dist/index.js';
import { ARTISTS, BIN, DEMO, FIXTURES, hasArtists, oneLine, records, runCli, tempDir } from '../helpers/cli.js';
import { asPrinted, collect, engine, facekit, rejection, using } from '../helpers/engine.js';
import { galleryEntries, galleryHeader, galleryVectors, ndjson, pgliteDir, syntheticRecords } from '../helpers/group-b.js';
import { journalFaces } from '../../dist/recognition/gallery-journal.js';
import type { GalleryMeta } from '../../dist/recognition/gallery.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const { Gallery, buildGallery } = facekit;

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

/** DIR/<person>/a.jpg for each [person, demo photo]. */
function demoPeople(pairs: [string, string][]): string {
  const dir = join(tempDir(), 'in');
  for (const [who, photo] of pairs) {
    mkdirSync(join(dir, who), { recursive: true });
    copyFileSync(join(DEMO, photo), join(dir, who, 'a.jpg'));
  }
  return dir;
}

const build = (source: Parameters<typeof buildGallery>[0], opts: Parameters<typeof buildGallery>[1] = {}) => buildGallery(source, { engine: engine(), ...opts });


/** What `verify QUERY --db DB` meets: the gallery opened, then the query's answers. */
const verifyDb = (db: string, queries: string[]) => using(db, (g) => collect(g.identifyMany(queries)));

describe('build-db and verify on bad input (no dataset needed)', () => {
  it('refuses a folder without person folders, and a missing one', async () => {
    const dir = tempDir();
    copyFileSync(join(DEMO, 'sample1.jpg'), join(dir, 'a.jpg'));
    const flat = await rejection(build(dir, { db: join(dir, 'g.json') }));
    expect(flat.line).toMatch(/no person folders here: build-db expects DIR\/<person>\/\*.jpg \(found 1 images directly in DIR/);
    const missing = await rejection(build(join(dir, 'nope'), { db: join(dir, 'g.json') }));
    expect(missing.line).toMatch(/nope: no such file or directory/);
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
    const input = demoPeople([['ana', 'sample2.jpg']]);
    for (const [content, message] of cases) {
      writeFileSync(db, content);
      const v = await rejection(verifyDb(db, [join(DEMO, 'sample2.jpg')]));
      expect(v.line).toMatch(message);
      const b = await rejection(build(input, { db }));
      expect(b.line).toMatch(message);
      expect(readFileSync(db, 'utf8')).toBe(content);
    }
  });

  it('refuses thresholds outside the metric\'s range and warns about loose ones', async () => {
    const db = join(tempDir(), 'g.json');
    expect((await build(demoPeople([['ana', 'sample2.jpg']]), { db })).galleryFaces).toBe(1);
    const q = join(DEMO, 'sample3.jpg');
    await using(db, async (g) => {
      const five = await rejection(g.identify(q, { threshold: 5 }));
      expect(five.line).toMatch(/threshold 5 makes no sense for euclidean_l2: it must be between 0 and 2/);
      const warnings: string[] = [];
      await g.identify(q, { metric: 'cosine', threshold: 1.5, onWarn: (l) => warnings.push(l) });
      expect(warnings.join('\n')).toMatch(/threshold 1.5 is far looser than the calibrated 0.48 for mobilefacenet with cosine/);
    });
  });

  it('db rename refuses to merge two people unless asked to', async () => {
    const db = join(tempDir(), 'g.json');
    await build(demoPeople([['ana', 'sample2.jpg'], ['bo', 'sample3.jpg']]), { db });
    const before = readFileSync(db, 'utf8');
    await using(db, async (g) => {
      expect((await rejection(g.rename('ana', 'bo'))).line).toMatch(/"bo" is already in the gallery .* pass --merge/);
      expect(readFileSync(db, 'utf8')).toBe(before);
      expect(await g.rename('ana', 'bo', { merge: true })).toBe(1);
      expect((await g.list()).map((e) => e.label)).toEqual(['bo', 'bo']);
    });
  });

  it('waits for no one: a second builder is refused, a lock left by a dead process is taken over', async () => {
    const dir = tempDir();
    const input = demoPeople([['ana', 'sample2.jpg']]);
    const db = join(dir, 'g.json');
    // a lock held by a live process (this test runner)
    writeFileSync(`${db}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), since: 'now' }));
    expect((await rejection(build(input, { db }))).line).toMatch(/gallery is being written by another facekit \(pid \d+ since now\)/);
    // a lock left by a process that is gone is taken over
    writeFileSync(`${db}.lock`, JSON.stringify({ pid: 999999, host: hostname(), since: 'then' }));
    expect(await build(input, { db })).toMatchObject({ added: 1, galleryFaces: 1 });
    expect(existsSync(`${db}.lock`)).toBe(false);
  });
});

describe.skipIf(!hasArtists)('build-db and verify on the artists gallery', () => {
  it('builds a gallery, finds known people and rejects strangers', async () => {
    const { dir, held } = people(3, 4);
    const db = join(dir, 'db', 'gallery.json');
    const b = await build(dir, { db });
    expect(b).toMatchObject({ galleryPeople: 3, galleryFaces: 12, model: 'mobilefacenet', failures: [] });
    const g = galleryHeader(db);
    expect(g).toMatchObject({ format: 'facekit-gallery', schema: 3, model: 'mobilefacenet', dim: 192, metric: 'euclidean_l2', people: 3 });
    expect(g.entries).toMatchObject({ format: 'columns', count: 12 });
    expect(galleryEntries(db)[0]).toEqual(expect.objectContaining({ label: expect.any(String), image: expect.any(String), hash: expect.stringMatching(/^[0-9a-f]{64}$/), face: 0, box: expect.any(Array) }));
    expect(readFileSync(join(dir, 'db', g.vectors.file)).length).toBe(12 * 192 * 4);

    const [name, photos] = Object.entries(held)[0]!;
    const stranger = readdirSync(ARTISTS).sort()[5]!;
    const strangerPhoto = join(ARTISTS, stranger, readdirSync(join(ARTISTS, stranger)).sort()[0]!);
    await using(db, async (gallery) => {
      const [known] = await gallery.identify(join(ARTISTS, name, photos[0]!));
      expect(known).toMatchObject({ identity: name, verdict: 'match', metric: 'euclidean_l2', threshold: 0.98 });
      expect(known!.candidates).toHaveLength(3);
      expect((await gallery.identify(strangerPhoto))[0]).toMatchObject({ identity: null, verdict: 'unknown' });
      expect((await gallery.identify(strangerPhoto, { topK: 2 }))[0]!.candidates).toHaveLength(2);

      // a photo without a face: identify rejects; in a stream of queries it is an error answer
      const noFace = join(FIXTURES, 'bad', 'no-face.jpg');
      expect((await rejection(gallery.identify(noFace))).line).toMatch(/no-face.jpg: no face found/);
      expect(asPrinted(await collect(gallery.identifyMany([noFace])) as unknown as FaceRecord[])[0]).toMatchObject({ verdict: 'error', error: { code: 'no_face' } });

      expect(await gallery.info()).toMatchObject({ people: 3, faces: 12, model: 'mobilefacenet' });
      expect(await gallery.remove(name)).toBe(4);
      expect(galleryEntries(db)).toHaveLength(8);
      expect((await gallery.identify(join(ARTISTS, name, photos[0]!)))[0]).toMatchObject({ verdict: 'unknown' });
    });
  });

  it('compares two photos 1:1 without a gallery', async () => {
    const names = readdirSync(ARTISTS).sort();
    const photo = (n: string, i: number) => join(ARTISTS, n, readdirSync(join(ARTISTS, n)).sort()[i]!);
    const same = await engine().verify(photo(names[2]!, 0), photo(names[2]!, 1));
    expect(same).toMatchObject({ verified: true, model: 'mobilefacenet', metric: 'euclidean_l2' });
    expect((await engine().verify(photo(names[2]!, 0), photo(names[3]!, 0))).verified).toBe(false);
  });

  it('adds only new photos, prunes deleted ones, and matches a build from records', async () => {
    const { dir } = people(2, 3, 3);
    const db = join(dir, 'g.json');
    await build(dir, { db });
    const first = galleryHeader(db);
    expect(await build(dir, { db })).toMatchObject({ added: 0, skipped: 6, galleryFaces: 6 });
    expect(galleryHeader(db).vectors.sha256).toBe(first.vectors.sha256);
    const person = readdirSync(dir).filter((d) => !d.startsWith('g.'))[0]!;
    rmSync(join(dir, person, readdirSync(join(dir, person))[0]!));
    expect(await build(dir, { db, prune: true })).toMatchObject({ pruned: 1, galleryFaces: 5 });
    // the same photos through represent records (`facekit represent DIR | facekit build-db -`) give the same vectors
    const photos = readdirSync(dir).filter((d) => !d.startsWith('g.')).flatMap((p) => readdirSync(join(dir, p)).map((f) => ({ image: join(dir, p, f), label: p })));
    const reps = await collect(engine().representEach(photos));
    expect(reps.every((r) => typeof r.label === 'string')).toBe(true);
    const fromRecords = join(dir, 'r.json');
    expect((await build(reps, { db: fromRecords })).failures).toEqual([]);
    const va = galleryVectors(db), vb = galleryVectors(fromRecords);
    expect([...vb.keys()].sort()).toEqual([...va.keys()].sort());
    for (const [img, v] of va) expect(Math.max(...v.map((x, k) => Math.abs(x - vb.get(img)![k]!)))).toBeLessThan(1e-6);
    // records of another model are refused
    const other = { ...reps[0]!, embedding: { model: 'faceres', dim: 1024, vector: new Array<number>(1024).fill(0.03) } };
    expect((await rejection(build([other], { db }))).line).toMatch(/gallery was built with mobilefacenet \(192-d embeddings\), not faceres \(1024-d\)/);
  });

  it('reports a person folder without usable photos and goes on', async () => {
    const { dir } = people(1, 2);
    mkdirSync(join(dir, 'nobody'));
    copyFileSync(join(FIXTURES, 'bad', 'truncated.jpg'), join(dir, 'nobody', 'x.jpg'));
    mkdirSync(join(dir, 'empty'));
    const s = await build(dir, { db: join(dir, 'g.json') });
    expect(s).toMatchObject({ added: 2, galleryFaces: 2, peopleWithoutPhotos: ['empty'] });
    expect(s.failures.map((f) => f.code).sort()).toEqual(['corrupt_image', 'no_images']);
  });

  it('gives the same answers in a file, a file with an HNSW graph, and PostgreSQL', async () => {
    // three photos of each of the eleven artists (all 77 cost twice as much and show no more)
    const photos = readdirSync(ARTISTS).sort().flatMap((p) => readdirSync(join(ARTISTS, p)).sort().slice(0, 3).map((f) => ({ image: join(ARTISTS, p, f), label: p })));
    const reps = await collect(engine().representEach(photos));
    const dir = tempDir();
    const server = process.env.FACEKIT_TEST_PG;
    const targets = [
      join(dir, 'exact.json'), join(dir, 'graph.json'), `pglite:${await pgliteDir()}?gallery=artists`,
      ...(server ? [`${server}${server.includes('?') ? '&' : '?'}gallery=t${Date.now().toString(36)}_artists`] : []),
    ];
    const answers: Json[][] = [];
    for (const [i, db] of targets.entries()) {
      // `facekit build-db - --db DB` of the records, then `facekit verify - --db DB` of the same records (one store open for both)
      const g = await Gallery.open(db, { engine: engine(), create: true });
      try {
        expect((await g.import(reps, { allFaces: false, ...(i === 1 ? { index: 'hnsw' as const } : {}) })).failures).toEqual([]);
        answers.push(asPrinted(await collect(g.identifyMany(reps)) as unknown as FaceRecord[]));
      } finally {
        await g.close();
      }
    }
    expect(galleryHeader(join(dir, 'graph.json')).index).toMatchObject({ policy: 'hnsw', graph: { kind: 'hnsw', count: 33 } });
    const first = answers[0]!;
    expect(first).toHaveLength(33);
    expect(first.every((a) => a.verdict === 'match')).toBe(true);
    for (const a of answers.slice(1)) expect(a).toEqual(first);
  }, 240_000);
});
if (!hasArtists) console.warn('skipping the gallery tests that need ../shared/datasets/artists');

describe('the CLI: exit codes, stderr and stdout', () => {
  it('build-db: one line and exit 2 for bad input or a held lock; the summary on stderr, or --json', async () => {
    const dir = tempDir();
    copyFileSync(join(DEMO, 'sample1.jpg'), join(dir, 'a.jpg'));
    const flat = await runCli(['build-db', dir, '--db', join(dir, 'g.json')]);
    expect(flat.code).toBe(2);
    expect(oneLine(flat.stderr)).toMatch(/^facekit: .*: no person folders here: build-db expects DIR\/<person>\/\*.jpg/);
    expect(flat.stdout).toBe('');

    const input = demoPeople([['ana', 'sample2.jpg']]);
    mkdirSync(join(input, 'nobody'));
    copyFileSync(join(FIXTURES, 'bad', 'truncated.jpg'), join(input, 'nobody', 'x.jpg'));
    mkdirSync(join(input, 'empty'));
    const db = join(dir, 'db', 'g.json');
    mkdirSync(join(dir, 'db'));
    writeFileSync(`${db}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), since: 'now' }));
    const locked = await runCli(['build-db', input, '--db', db]);
    expect(locked.code).toBe(2);
    expect(oneLine(locked.stderr)).toMatch(/gallery is being written by another facekit \(pid \d+ since now\)/);
    rmSync(`${db}.lock`);

    // a photo that fails and a person without photos: the others are added, exit 2; progress lines when stderr is no terminal
    const res = await runCli(['build-db', input, '--db', db, '--workers', '1'], { env: { FACEKIT_PROGRESS_EVERY: '0.001' } });
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/facekit: 1\/2 images, [\d.]+\/s, \d+s left/);
    expect(res.stderr).toMatch(/facekit: .*x\.jpg: /);
    // "1 person, 1 face", not "1 people, 1 faces"
    expect(res.stderr).toMatch(/facekit: gallery .*g\.json: 1 person, 1 face \(mobilefacenet\)\n/);
    expect(res.stderr).toMatch(/facekit: this run: 2 photos of 3 people in [\d.]+s: 1 face added, 2 other faces left out\n/);
    expect(res.stderr).toMatch(/facekit: failed: 2 \(1 no_images, 1 corrupt_image\)\n$/);

    const again = await runCli(['build-db', input, '--db', db, '--json']);
    expect(again.code).toBe(2);
    const s = JSON.parse(again.stdout) as Json;
    expect(s).toMatchObject({ added: 0, skipped: 1, galleryPeople: 1, galleryFaces: 1, peopleWithoutPhotos: ['empty'] });
    expect((s.failures as Json[]).map((f) => f.code).sort()).toEqual(['corrupt_image', 'no_images']);
    expect(again.stderr).not.toMatch(/this run/);
  }, 60_000);

  it('verify: exit 0 when all match, 1 when one does not, 2 on error; --json or a table; argv errors in one line', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const faces = syntheticRecords(300, 30);
    await build(faces, { db });
    const known = { ...faces[7]!, image: 'q/known.jpg' };
    const v = known.embedding!.vector;
    const stranger = { ...faces[7]!, image: 'q/stranger.jpg', embedding: { ...known.embedding!, vector: v.map((x) => -x) } };
    const inProcess = await using(db, (g) => collect(g.identifyMany([known, stranger])));
    expect(inProcess.map((a) => a.verdict)).toEqual(['match', 'unknown']);

    // off a terminal, answers are NDJSON without asking (--json)
    const match = await runCli(['verify', '-', '--db', db], { input: ndjson([known]) });
    expect(match.code, match.stderr).toBe(0);
    expect(records(match.stdout)).toEqual(asPrinted(inProcess.slice(0, 1) as unknown as FaceRecord[]));
    expect(match.stderr).toBe('');

    const table = await runCli(['verify', '-', '--db', db, '--top-k', '2', '--table'], { input: ndjson([known, stranger]) });
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/q\/known\.jpg.*p7.*match/);
    expect(table.stdout).toMatch(/q\/stranger\.jpg.*unknown/);

    const broken = await runCli(['verify', '-', '--db', db, '--json'], { input: `${JSON.stringify(known)}\nnot json\n` });
    expect(broken.code).toBe(2);
    expect(oneLine(broken.stderr)).toMatch(/^facekit: stdin line 2: not valid JSON \(/);
    expect(records(broken.stdout).map((a) => a.verdict)).toEqual(['match', 'error']);

    const t = await runCli(['verify', join(DEMO, 'sample2.jpg'), '--threshold', 'high']);
    expect(t.code).toBe(2);
    expect(oneLine(t.stderr)).toMatch(/--threshold must be a number, got "high"/);
    const m = await runCli(['verify', join(DEMO, 'sample2.jpg'), '--metric', 'manhattan', '--db', 'x.json']);
    expect(m.code).toBe(2);
    expect(oneLine(m.stderr)).toMatch(/--metric must be one of cosine, euclidean, euclidean_l2; got "manhattan"/);

    // two photos and no --db: 1:1, a table (--table: off a terminal records are the default), exit 1 for different people
    const pair = await runCli(['verify', join(DEMO, 'sample2.jpg'), join(DEMO, 'sample3.jpg'), '--table']);
    expect(pair.code, pair.stderr).toBe(1);
    expect(pair.stdout).toMatch(/different people/);
  }, 60_000);

  it.skipIf(!hasArtists)('build-db survives Ctrl-C and kill -9 mid-build, keeps the old gallery, and resumes', async () => {
    const { dir } = people(3, 5);
    const db = join(dir, 'g.json');
    // an old gallery of one person
    const old = tempDir();
    mkdirSync(join(old, 'solo'));
    copyFileSync(join(DEMO, 'sample2.jpg'), join(old, 'solo', 's.jpg'));
    await build(old, { db });
    const before = readFileSync(db, 'utf8');

    const interrupt = async (signal: NodeJS.Signals): Promise<number> => {
      const meta = JSON.parse(readFileSync(db, 'utf8')) as GalleryMeta;
      const lines = () => journalFaces(db, meta);
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

    const s = await build(dir, { db });
    expect(s.resumed).toBeGreaterThanOrEqual(2);
    expect(s.resumed + s.added).toBe(15);
    expect(s.skipped).toBe(0); // resumed photos are not also "already in"
    expect(s.galleryFaces).toBe(16);
    expect(existsSync(`${db}.partial`)).toBe(false);
  }, 120_000);
});
