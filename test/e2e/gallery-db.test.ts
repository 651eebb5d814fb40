// Galleries in PostgreSQL + pgvector through the CLI, as a user runs it: always against PGlite
// (PostgreSQL compiled to WASM, in the facekit process: the same SQL), and against a real server
// too when FACEKIT_TEST_PG names one (postgres://user@host:port/dbname; see README).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ARTISTS, DEMO, ROOT, hasArtists, oneLine, records, runCli, tempDir } from '../helpers/cli.js';
import { form, serve } from '../helpers/serve.js';

const server = process.env.FACEKIT_TEST_PG;
const run = Date.now().toString(36);
/** Each store, and a URL for a fresh gallery in it. */
// One PGlite data folder for the file: it is made (initdb) once, each test has its own galleries.
const pglite = tempDir('facekit-pglite-');
const stores: [string, (name: string) => string][] = [
  ['PGlite', (name) => `pglite:${pglite}?gallery=${name}`],
  ...(server ? [['PostgreSQL', (name: string) => `${server}${server.includes('?') ? '&' : '?'}gallery=t${run}_${name}`] as [string, (name: string) => string]] : []),
];
if (!server) console.log('gallery-db: FACEKIT_TEST_PG is not set: the CLI runs against PGlite only (see README, "Galleries in PostgreSQL")');

function synthetic(n: number, people: number, queries = false): string {
  const r = spawnSync(process.execPath, [join(ROOT, 'bench', 'synthetic-records.mjs'), String(n), '--people', String(people), ...(queries ? ['--queries'] : [])], { encoding: 'utf8' });
  return r.stdout;
}

describe.each(stores)('a gallery in %s', (store, url) => {
  // PGlite starts slowly (2-4 s a command): the checks that its unit test makes already are left
  // to the real server's run.
  const full = store !== 'PGlite';
  it('is built, searched, edited, exported and imported as a file gallery is', async () => {
    const db = url('cli');
    const faces = synthetic(300, 30);
    const b = await runCli(['build-db', '-', '--db', db], { input: faces });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/30 people, 300 faces \(resnet34\)/);
    if (full) expect((await runCli(['build-db', '-', '--db', db], { input: faces })).stderr).toMatch(/0 faces added, 300 already in/);
    const info = JSON.parse((await runCli(['db', 'info', '--db', db, '--json'])).stdout);
    expect(info).toMatchObject({ model: 'resnet34', dim: 128, metric: 'euclidean_l2', people: 30, faces: 300, threshold: 0.4 });
    expect(info.db).not.toMatch(/password/);

    // the same answers as a file gallery of the same faces
    const dir = tempDir();
    const file = join(dir, 'g.json');
    expect((await runCli(['build-db', '-', '--db', file], { input: faces })).code).toBe(0);
    const asked = synthetic(40, 30, true);
    const inDb = await runCli(['verify', '-', '--db', db, '--json'], { input: asked });
    const inFile = await runCli(['verify', '-', '--db', file, '--json'], { input: asked });
    expect(inDb.code, inDb.stderr).toBe(inFile.code);
    expect(records(inDb.stdout)).toEqual(records(inFile.stdout));

    const merge = await runCli(['db', 'rename', 'p1', 'p2', '--db', db]);
    expect(merge.code).toBe(2);
    expect(oneLine(merge.stderr)).toMatch(/"p2" is already in the gallery \(10 faces\).*--merge/);
    expect((await runCli(['db', 'rename', 'p1', 'one', '--db', db])).stderr).toMatch(/renamed p1 to one \(10 faces\)/);
    expect((await runCli(['db', 'remove', 'p3', '--db', db])).stderr).toMatch(/removed p3 \(10 faces\)/);
    if (full) {
      const listed = JSON.parse((await runCli(['db', 'list', '--db', db, '--json'])).stdout) as { label: string }[];
      expect(listed).toHaveLength(290);
      expect(listed.some((e) => e.label === 'one')).toBe(true);
    }

    // to a file and back: the same faces, the same records
    const out = await runCli(['db', 'export', '--db', db]);
    const copy = join(dir, 'copy.json');
    expect((await runCli(['db', 'import', '-', '--db', copy], { input: out.stdout })).code).toBe(0);
    expect((await runCli(['db', 'export', '--db', copy])).stdout).toBe(out.stdout);
    if (!full) return;
    const back = url('back');
    expect((await runCli(['db', 'import', '-', '--db', back], { input: out.stdout })).code).toBe(0);
    expect((await runCli(['db', 'export', '--db', back])).stdout).toBe(out.stdout);
  }, 180_000);

  it('refuses another model\'s records, and a missing gallery, with one line each', async () => {
    const db = url('refuse');
    expect((await runCli(['db', 'import', '-', '--db', db], { input: synthetic(20, 2) })).code).toBe(0);
    const foreign = synthetic(2, 1).replace(/"model":"resnet34"/g, '"model":"faceres"');
    const f = await runCli(['db', 'import', '-', '--db', db], { input: foreign });
    expect(f.code).toBe(2);
    expect(oneLine(f.stderr)).toMatch(/gallery was built with resnet34 \(128-d embeddings\), not faceres/);
    const missing = await runCli(['db', 'info', '--db', url('nobody')]);
    expect(missing.code).toBe(2);
    expect(oneLine(missing.stderr)).toMatch(/no gallery "[a-z0-9_]*nobody" in this database/);
  }, 120_000);
});

describe.each(stores)('serve over a gallery in %s', (_store, url) => {
  it('adds a photo, finds it, skips it the second time, removes the person', async () => {
    const db = url('served');
    const dir = tempDir();
    const s = await serve(['--db', db, '--workers', '1'], { cwd: dir });
    try {
      const photo = new Blob([readFileSync(join(DEMO, 'sample1.jpg'))], { type: 'image/jpeg' });
      const add = () => {
        const f = form({ label: 'ada' });
        f.append('image', photo, 'ada.jpg');
        return fetch(`${s.url}/gallery`, { method: 'POST', body: f }).then((r) => r.json() as Promise<Record<string, unknown>>);
      };
      const first = await add();
      expect((first.added as unknown[]).length).toBeGreaterThan(0);
      expect((await add()).skipped).toEqual([{ image: 'ada.jpg', label: 'ada' }]);
      // the database holds it: another process sees it at once
      expect(JSON.parse((await runCli(['db', 'info', '--db', db, '--json'])).stdout)).toMatchObject({ people: 1 });
      const v = new FormData();
      v.append('image', photo, 'who.jpg');
      const answer = await (await fetch(`${s.url}/verify`, { method: 'POST', body: v })).json() as { faces: { identity: string | null }[] };
      expect(answer.faces[0]!.identity).toBe('ada');
      const gone = await (await fetch(`${s.url}/gallery/ada`, { method: 'DELETE' })).json() as { removed: number };
      expect(gone.removed).toBeGreaterThan(0);
    } finally {
      await s.stop();
    }
    expect(JSON.parse((await runCli(['db', 'info', '--db', db, '--json'])).stdout)).toMatchObject({ people: 0, faces: 0 });
  }, 180_000);
});

describe('a database that cannot be used', () => {
  it('an unreachable server, a bad URL and a bad gallery name: one line each, exit 2', async () => {
    const down = await runCli(['db', 'info', '--db', 'postgres://postgres@127.0.0.1:1/facekit']);
    expect(down.code).toBe(2);
    expect(oneLine(down.stderr)).toMatch(/postgres:\/\/postgres@127\.0\.0\.1:1\/facekit: cannot reach the database server: connection refused/);
    const secret = await runCli(['db', 'info', '--db', 'postgres://me:hunter2@127.0.0.1:1/facekit']);
    expect(secret.stderr).not.toMatch(/hunter2/);
    const name = await runCli(['db', 'info', '--db', 'pglite:?gallery=Robert;DROP']);
    expect(name.code).toBe(2);
    expect(oneLine(name.stderr)).toMatch(/gallery name "Robert;DROP" must be a lower-case letter/);
  });
});

describe.skipIf(!hasArtists)('the artists on every store', () => {
  it('give the same answers in a file, a file with an HNSW graph, and PostgreSQL', async () => {
    const rep = await runCli(['represent', ARTISTS, '--workers', '2']);
    expect(rep.code, rep.stderr).toBe(0);
    const dir = tempDir();
    const targets = [join(dir, 'exact.json'), join(dir, 'graph.json'), ...stores.map(([, url]) => url('artists'))];
    for (const [i, db] of targets.entries()) {
      const b = await runCli(['build-db', '-', '--db', db, ...(i === 1 ? ['--index', 'hnsw'] : [])], { input: rep.stdout });
      expect(b.code, b.stderr).toBe(0);
    }
    const answers = await Promise.all(targets.map((db) => runCli(['verify', '-', '--db', db, '--json'], { input: rep.stdout })));
    const first = records(answers[0]!.stdout);
    expect(first).toHaveLength(77);
    expect(first.every((a) => a.verdict === 'match')).toBe(true);
    for (const a of answers.slice(1)) expect(records(a.stdout)).toEqual(first);
  }, 240_000);
});
