// Galleries in every store, on synthetic faces spread as resnet34's are (bench/synthetic-records.mjs;
// no model runs but the server's): PGlite (PostgreSQL compiled to WASM, in this process: the same
// SQL) always, a real PostgreSQL server too when FACEKIT_TEST_PG names one (postgres://user@host:
// port/dbname; see README); file galleries searched exactly or through an HNSW graph; db export
// and db import. The library in this process (buildGallery, Gallery.open); through the real CLI
// only what a process shows: `facekit db`'s exit codes, stdout and stderr, and kill -9 mid-build.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FaceRecord, Gallery as GalleryType } from '../../dist/index.js';
import { BIN, DEMO, ROOT, oneLine, records, runCli, tempDir } from '../helpers/cli.js';
import { asPrinted, collect, facekit, rejection } from '../helpers/engine.js';
import { serveInProcess } from '../helpers/app.js';
import { ndjson, pgliteDir, syntheticRecords, syntheticText } from '../helpers/group-b.js';

const { Gallery, buildGallery } = facekit;
const server = process.env.FACEKIT_TEST_PG;
const run = Date.now().toString(36);

/** Each store: a place for the galleries of one test (a PGlite folder of its own), and a URL for a gallery in it. */
const stores: [string, () => Promise<(name: string) => string>][] = [
  ['PGlite', async () => {
    const dir = await pgliteDir();
    return (name) => `pglite:${dir}?gallery=${name}`;
  }],
  ...(server ? [['PostgreSQL', async () => (name: string) => `${server}${server.includes('?') ? '&' : '?'}gallery=t${run}_${name}`] as [string, () => Promise<(name: string) => string>]] : []),
];
if (!server) console.log('gallery-db: FACEKIT_TEST_PG is not set: PGlite only (see README, "Galleries in PostgreSQL")');

/** Open the gallery at `db`, use it, close it (a PGlite folder holds one instance at a time). */
async function using<T>(db: string, use: (g: GalleryType) => Promise<T>, create?: { model: 'resnet34' }): Promise<T> {
  const g = await Gallery.open(db, create ? { create } : {});
  try {
    return await use(g);
  } finally {
    await g.close();
  }
}

/** `facekit db export --db DB`: its records. */
const exportOf = (db: string) => using(db, (g) => collect(g.export()));
/** `facekit verify - --db DB --json` of records: the answers as printed. */
const answersOf = (db: string, asked: FaceRecord[]) => using(db, async (g) => asPrinted(await collect(g.identifyMany(asked)) as unknown as FaceRecord[]));
/** records of another model (the synthetic ones with another model's name) */
const foreign = (n: number, people: number, dim = 128) => syntheticRecords(n, people).map((r) => ({ ...r, embedding: { ...r.embedding!, model: 'faceres', dim } }));

describe.each(stores)('a gallery in %s', (store, place) => {
  it('is built, searched, edited, exported and imported as a file gallery is', async () => {
    const url = await place();
    const db = url('cli');
    const faces = syntheticRecords(300, 30);

    // the same answers as a file gallery of the same faces
    const dir = tempDir();
    const file = join(dir, 'g.json');
    await buildGallery(faces, { db: file });
    const asked = syntheticRecords(40, 30, true);
    const inFile = await answersOf(file, asked);

    let exported: FaceRecord[] = [];
    // `facekit build-db - --db URL`, twice: the second adds nothing (one start of the store for the
    // whole test: a PGlite start costs a second or two; buildGallery's own opening of a database is
    // the same DatabaseBackend.open that refuses the missing gallery below)
    await using(db, async (g) => {
      expect(await g.import(faces, { allFaces: false })).toMatchObject({ galleryPeople: 30, galleryFaces: 300, model: 'resnet34', failures: [] });
      expect(await g.import(faces, { allFaces: false })).toMatchObject({ added: 0, skipped: 300, galleryFaces: 300 });
      const info = await g.info();
      expect(info).toMatchObject({ model: 'resnet34', dim: 128, metric: 'euclidean_l2', people: 30, faces: 300, threshold: 0.4 });
      expect(info.db).not.toMatch(/password/);
      expect(asPrinted(await collect(g.identifyMany(asked)) as unknown as FaceRecord[])).toEqual(inFile);

      expect((await rejection(g.rename('p1', 'p2'))).line).toMatch(/"p2" is already in the gallery \(10 faces\).*--merge/);
      expect(await g.rename('p1', 'one')).toBe(10);
      expect(await g.remove('p3')).toBe(10);
      const listed = await g.list();
      expect(listed).toHaveLength(290);
      expect(listed.some((e) => e.label === 'one')).toBe(true);
      // another model's records are refused, and nothing is added
      expect((await rejection(g.import(foreign(2, 1)))).line).toMatch(/gallery was built with resnet34 \(128-d embeddings\), not faceres/);
      expect((await g.info()).faces).toBe(290);
      exported = await collect(g.export());
    }, { model: 'resnet34' });
    expect(exported).toHaveLength(290);
    const missing = await rejection(Gallery.open(url('nobody')));
    expect(missing.line).toMatch(/no gallery "[a-z0-9_]*nobody" in this database/);

    // to a file and back (`db import -`): the same faces, the same records
    const copy = join(dir, 'copy.json');
    expect(await buildGallery(exported, { db: copy, allFaces: true })).toMatchObject({ added: 290 });
    expect(ndjson(await exportOf(copy))).toBe(ndjson(exported));
    // and into the database again (PGlite: the same code, and a second start of it, left out)
    if (store === 'PGlite') return;
    const back = url('back');
    expect(await buildGallery(exported, { db: back, allFaces: true })).toMatchObject({ added: 290 });
    expect(ndjson(await exportOf(back))).toBe(ndjson(exported));

  }, 180_000);
});

describe.each(stores)('serve over a gallery in %s', (store, place) => {
  it('adds a photo, finds it, skips it the second time, removes the person', async () => {
    const db = (await place())('served');
    // a database gallery's server keeps added photos in ./db/photos: here, not in the repository
    const cwd = process.cwd();
    process.chdir(tempDir());
    try {
      const s = await serveInProcess({ db });
      try {
        const photo = new Blob([readFileSync(join(DEMO, 'sample1.jpg'))], { type: 'image/jpeg' });
        const add = () => {
          const f = new FormData();
          f.append('label', 'ada');
          f.append('image', photo, 'ada.jpg');
          return fetch(`${s.url}/gallery`, { method: 'POST', body: f }).then((r) => r.json() as Promise<Record<string, unknown>>);
        };
        const first = await add();
        expect((first.added as unknown[]).length).toBeGreaterThan(0);
        expect((await add()).skipped).toEqual([{ image: 'ada.jpg', label: 'ada' }]);
        // the database holds it: the server reads it back, and so does another client of a server
        // fetch, not inject(): stop() fails on a server that answered inject() requests (TypeError: req.socket?.destroy is not a function)
        const listed = await (await fetch(`${s.url}/gallery`)).json() as { people: { label: string }[] };
        expect(listed.people.map((p) => p.label)).toEqual(['ada']);
        if (store === 'PostgreSQL') expect(await using(db, (g) => g.info())).toMatchObject({ people: 1 });
        const v = new FormData();
        v.append('image', photo, 'who.jpg');
        const answer = await (await fetch(`${s.url}/verify`, { method: 'POST', body: v })).json() as { faces: { identity: string | null }[] };
        expect(answer.faces[0]!.identity).toBe('ada');
        const gone = await (await fetch(`${s.url}/gallery/ada`, { method: 'DELETE' })).json() as { removed: number; gallery: unknown };
        expect(gone.removed).toBeGreaterThan(0);
        expect(gone.gallery).toEqual({ people: 0, faces: 0 });
        expect(await (await fetch(`${s.url}/gallery`)).json()).toMatchObject({ faces: 0, people: [] });
      } finally {
        await s.stop();
      }
    } finally {
      process.chdir(cwd);
    }
    if (store === 'PostgreSQL') expect(await using(db, (g) => g.info())).toMatchObject({ people: 0, faces: 0 });
  }, 180_000);
});

describe('a database that cannot be used', () => {
  it('an unreachable server, a bad URL and a bad gallery name: one line each', async () => {
    const down = await rejection(Gallery.open('postgres://postgres@127.0.0.1:1/facekit'));
    expect(down.line).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:1\/facekit: cannot reach the database server: connection refused/);
    const secret = await rejection(Gallery.open('postgres://me:hunter2@127.0.0.1:1/facekit'));
    expect(JSON.stringify(secret)).not.toMatch(/hunter2/);
    const name = await rejection(Gallery.open('pglite:?gallery=Robert;DROP'));
    expect(name.line).toMatch(/gallery name "Robert;DROP" must be a lower-case letter/);
  });
});

describe('a gallery searched through an HNSW graph', () => {
  const faces = syntheticRecords(3000, 300);
  const asked = syntheticRecords(200, 300, true);
  const noErrors = (answers: Record<string, unknown>[]) => expect(answers.filter((a) => a.verdict === 'error')).toEqual([]);

  it('answers as the exact search does, and says how it searches', async () => {
    const dir = tempDir();
    const graph = join(dir, 'graph.json');
    const exact = join(dir, 'exact.json');
    const notes: string[] = [];
    expect((await buildGallery(faces, { db: graph, index: 'hnsw', onWarn: (l) => notes.push(l) })).galleryFaces).toBe(3000);
    expect(notes.join('\n')).toMatch(/building the search index \(an HNSW graph\) of 3,000 faces/);
    await buildGallery(faces, { db: exact, index: 'exact' });
    expect((await using(graph, (g) => g.info())).search).toMatch(/^HNSW graph of 3000 faces, \d+ KiB \(index: hnsw\)$/);
    expect((await using(exact, (g) => g.info())).search).toBe('exact scan (index: exact)');
    const a = await answersOf(graph, asked);
    const e = await answersOf(exact, asked);
    noErrors(a);
    const got = a.map((x) => [x.identity, x.distance]);
    const want = e.map((x) => [x.identity, x.distance]);
    expect(got).toHaveLength(200);
    const same = got.filter((g, i) => g[0] === want[i]![0] && g[1] === want[i]![1]).length;
    expect(same).toBeGreaterThanOrEqual(198);
  });

  it('refuses a damaged graph with one line naming the fix, and reindex mends it', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    await buildGallery(faces, { db, index: 'hnsw' });
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.hnsw'))!);
    truncateSync(file, 4096);
    expect((await rejection(answersOf(db, asked))).line).toMatch(/search index holds 4096 bytes.*facekit db reindex/);
    // the damaged graph is what reindex replaces: it reads the gallery without it
    expect(await using(db, (g) => g.reindex())).toMatch(/building an HNSW graph of 3000 faces/);
    noErrors(await answersOf(db, asked));
    expect(readdirSync(dir).filter((f) => f.endsWith('.hnsw'))).toHaveLength(1);
    // back to exact search: the graph goes
    expect(await using(db, (g) => g.reindex('exact'))).toMatch(/exact search, no graph/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.hnsw'))).toHaveLength(0);
  });

  it('`facekit db check` reads every file against its checksum: ok lines and exit 0, or the damaged file in one line and exit 2', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    await buildGallery(faces, { db, index: 'hnsw' });
    const ok = await runCli(['db', 'check', '--db', db, '--table']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok {2}g\.json: schema 3, resnet34 128-d, 3000 faces\nok {2}g\.[0-9a-f]{12}\.f32: 1\.5 MiB of vectors, sha256 matches, every number finite\nok {2}g\.[0-9a-f]{12}\.entries\.bin: .* of entries, sha256 matches\nok {2}g\.[0-9a-f]{12}\.hnsw: .* HNSW graph of 3000 faces, sha256 matches, built for these vectors\n$/);
    expect(JSON.parse((await runCli(['db', 'check', '--db', db, '--json'])).stdout)).toMatchObject({ faces: 3000, people: 300 });
    const graph = join(dir, readdirSync(dir).find((f) => f.endsWith('.hnsw'))!);
    const bytes = readFileSync(graph);
    bytes[bytes.length >> 1]! ^= 0x10;
    writeFileSync(graph, bytes);
    const bad = await runCli(['db', 'check', '--db', db]);
    expect(bad.code).toBe(2);
    expect(oneLine(bad.stderr)).toMatch(/\.hnsw: the gallery's search index does not match its checksum: it is damaged; rebuild it with `facekit db reindex`$/);
  });

  it('keeps a whole gallery through kill -9 at any moment of a build (`facekit build-db -`), and clears what the killed writers left', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    await buildGallery(syntheticRecords(500, 50), { db, index: 'hnsw' });
    const more = syntheticText(12000, 1200, true);
    for (const ms of [300, 800, 1300, 1900]) {
      const child = spawn(process.execPath, [BIN, 'build-db', '-', '--db', db], { cwd: ROOT, stdio: ['pipe', 'ignore', 'ignore'] });
      child.stdin.on('error', () => undefined);
      // listened for before the wait: a build that ends (or fails) before the kill must not hang the test
      const closed = new Promise((r) => child.once('close', r));
      child.stdin.end(more);
      await new Promise((r) => setTimeout(r, ms));
      child.kill('SIGKILL');
      await closed;
      const info = await using(db, (g) => g.info()).catch((err: Error) => { throw new Error(`after kill -9 at ${ms} ms: ${err.message}`); });
      expect([500, 12500]).toContain(info.faces);
      noErrors(await answersOf(db, asked.slice(0, 5)));
    }
    expect(await buildGallery(syntheticRecords(12000, 1200, true), { db })).toMatchObject({ galleryFaces: 12500, failures: [] });
    expect(readdirSync(dir).filter((f) => /tmp-/.test(f))).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.hnsw'))).toHaveLength(1);
  }, 240_000);
});

describe('db export and db import', () => {
  it('round-trip a gallery through records, exactly, and add nothing twice', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.json');
    const b = join(dir, 'b', 'b.json');
    // `db import`: a new gallery takes the records' model (resnet34 here), not facekit's default
    await buildGallery(syntheticRecords(300, 30), { db: a, allFaces: true });
    expect(await using(a, (g) => g.info())).toMatchObject({ model: 'resnet34', dim: 128 });
    const out = await exportOf(a);
    expect(out).toHaveLength(300);
    expect(out[0]).toMatchObject({ schema: 1, face: 0, label: 'p0', embedding: { model: 'resnet34', dim: 128 } });
    expect(out[0]!.imageSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await buildGallery(out, { db: b, allFaces: true })).toMatchObject({ added: 300 });
    expect(await buildGallery(out, { db: b, allFaces: true })).toMatchObject({ added: 0, skipped: 300 });
    expect(ndjson(await exportOf(b))).toBe(ndjson(out));
  });

  it('takes every face of a photo from records with allFaces (each face its own record), and none twice', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const [a, b, c] = syntheticRecords(3, 1);
    // two faces of one photo, then the first face again
    const faces = [{ ...a!, image: 'group.jpg', face: 0 }, { ...b!, image: 'group.jpg', face: 1 }, { ...c!, image: 'group.jpg', face: 0 }];
    expect(await buildGallery(faces, { db, allFaces: true })).toMatchObject({ added: 2, galleryFaces: 2 });
    expect(await buildGallery(faces, { db, allFaces: true })).toMatchObject({ added: 0, galleryFaces: 2 });
  });

  it('refuses records of another model, broken lines and a missing gallery', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.json');
    await buildGallery(syntheticRecords(20, 2), { db: a, allFaces: true });
    expect((await rejection(buildGallery(foreign(3, 1), { db: a, allFaces: true }))).line).toMatch(/gallery was built with resnet34 \(128-d embeddings\), not faceres/);
    const broken = join(dir, 'broken.ndjson');
    writeFileSync(broken, '{"schema":1,"image":"x.jpg","face":0,"label":"x","imageSha256":"zz"}\nnot json\n');
    const said: string[] = [];
    const s = await buildGallery(broken, { db: a, allFaces: true, onWarn: (l) => said.push(l) });
    expect(s.failures.map((f) => f.code)).toEqual(['bad_record', 'bad_record']);
    expect(said.join('\n')).toMatch(/broken\.ndjson line 1: "imageSha256" must be 64 hex digits/);
    expect(said.join('\n')).toMatch(/broken\.ndjson line 2: not valid JSON/);
    expect((await rejection(Gallery.open(join(dir, 'nowhere.json')))).line).toMatch(/no gallery here/);
  });

  it('the CLI: records on stdout and in any file, one line on stderr, exit 2 on a refusal', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.json');
    const b = join(dir, 'b', 'b.json');
    await buildGallery(syntheticRecords(300, 30), { db: a, allFaces: true });

    const out = await runCli(['db', 'export', '--db', a]);
    expect(out.code).toBe(0);
    expect(oneLine(out.stderr)).toBe(`facekit: exported 300 faces of ${a}`);
    expect(out.stdout).toBe(ndjson(await exportOf(a)));
    writeFileSync(join(dir, 'faces.txt'), out.stdout); // any name: import reads records
    const first = await runCli(['db', 'import', join(dir, 'faces.txt'), '--db', b]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/facekit: gallery .*b\.json: 30 people, 300 faces \(resnet34\)\n.*300 faces added\n$/);
    const again = await runCli(['db', 'import', '-', '--db', b], { input: out.stdout });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/0 faces added, 300 already in/);
    const broken = await runCli(['db', 'import', '-', '--db', b], { input: '{"schema":1,"image":"x.jpg","face":0,"label":"x","imageSha256":"zz"}\nnot json\n' });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/^facekit: stdin line 1: "imageSha256" must be 64 hex digits\nfacekit: stdin line 2: not valid JSON/);
    expect(broken.stderr).toMatch(/facekit: failed: 2 \(2 bad_record\)\n$/);

    const merge = await runCli(['db', 'rename', 'p1', 'p2', '--db', b]);
    expect(merge.code).toBe(2);
    expect(oneLine(merge.stderr)).toMatch(/"p2" is already in the gallery \(10 faces\).*--merge/);
    expect((await runCli(['db', 'remove', 'p3', '--db', b])).stderr).toBe(`facekit: removed p3 (10 faces) from ${b}\n`);
    const info = await runCli(['db', 'info', '--db', b, '--json']);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout)).toEqual(JSON.parse(JSON.stringify(await using(b, (g) => g.info()))));
    expect(JSON.parse(info.stdout)).toMatchObject({ people: 29, faces: 290 });
    expect(records(out.stdout)).toHaveLength(300);
  });
});
