// Large-gallery search (an HNSW graph beside the gallery), db reindex, db export and db import,
// on synthetic faces spread like resnet34's (bench/synthetic-records.mjs): no model runs here.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, oneLine, records, runCli, tempDir } from '../helpers/cli.js';

function synthetic(n: number, people: number, queries = false): string {
  const r = spawnSync(process.execPath, [join(ROOT, 'bench', 'synthetic-records.mjs'), String(n), '--people', String(people), ...(queries ? ['--queries'] : [])], { encoding: 'utf8', maxBuffer: 1 << 28 });
  expect(r.status).toBe(0);
  return r.stdout;
}

const identities = (stdout: string) => records(stdout).map((a) => [a.identity, a.distance]);

describe('a gallery searched through an HNSW graph', () => {
  const faces = synthetic(3000, 300);
  const asked = synthetic(200, 300, true);

  it('answers as the exact search does, and says how it searches', async () => {
    const dir = tempDir();
    const graph = join(dir, 'graph.json');
    const exact = join(dir, 'exact.json');
    const b = await runCli(['build-db', '-', '--db', graph, '--index', 'hnsw'], { input: faces });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/building the search index \(an HNSW graph\) of 3,000 faces/);
    expect((await runCli(['build-db', '-', '--db', exact, '--index', 'exact'], { input: faces })).code).toBe(0);
    const info = JSON.parse((await runCli(['db', 'info', '--db', graph, '--json'])).stdout);
    expect(info.search).toMatch(/^HNSW graph of 3000 faces, \d+ KiB \(index: hnsw\)$/);
    expect(JSON.parse((await runCli(['db', 'info', '--db', exact, '--json'])).stdout).search).toBe('exact scan (index: exact)');
    const a = await runCli(['verify', '-', '--db', graph, '--json'], { input: asked });
    const e = await runCli(['verify', '-', '--db', exact, '--json'], { input: asked });
    expect(a.code, a.stderr).toBeLessThanOrEqual(1);
    const got = identities(a.stdout);
    const want = identities(e.stdout);
    expect(got).toHaveLength(200);
    const same = got.filter((g, i) => g[0] === want[i]![0] && g[1] === want[i]![1]).length;
    expect(same).toBeGreaterThanOrEqual(198);
  });

  it('refuses a damaged graph with one line naming the fix, and `db reindex` mends it', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    expect((await runCli(['build-db', '-', '--db', db, '--index', 'hnsw'], { input: faces })).code).toBe(0);
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.hnsw'))!);
    truncateSync(file, 4096);
    const v = await runCli(['verify', '-', '--db', db], { input: asked });
    expect(v.code).toBe(2);
    expect(oneLine(v.stderr)).toMatch(/search index holds 4096 bytes.*facekit db reindex/);
    const r = await runCli(['db', 'reindex', '--db', db]);
    // the damaged graph is what reindex replaces: it reads the gallery without it
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/building an HNSW graph of 3000 faces/);
    expect((await runCli(['verify', '-', '--db', db, '--json'], { input: asked })).code).toBeLessThanOrEqual(1);
    expect(readdirSync(dir).filter((f) => f.endsWith('.hnsw'))).toHaveLength(1);
    // back to exact search: the graph goes
    expect((await runCli(['db', 'reindex', '--db', db, '--index', 'exact'])).code).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.hnsw'))).toHaveLength(0);
  });

  it('keeps a whole gallery through kill -9 at any moment of a build, and clears what the killed writers left', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    expect((await runCli(['build-db', '-', '--db', db, '--index', 'hnsw'], { input: synthetic(500, 50) })).code).toBe(0);
    const more = synthetic(12000, 1200, true);
    for (const ms of [300, 800, 1300, 1900]) {
      const child = spawn(process.execPath, [BIN, 'build-db', '-', '--db', db], { cwd: ROOT, stdio: ['pipe', 'ignore', 'ignore'] });
      child.stdin.on('error', () => undefined);
      // listened for before the wait: a build that ends (or fails) before the kill must not hang the test
      const closed = new Promise((r) => child.once('close', r));
      child.stdin.end(more);
      await new Promise((r) => setTimeout(r, ms));
      child.kill('SIGKILL');
      await closed;
      const info = await runCli(['db', 'info', '--db', db, '--json']);
      expect(info.code, `after kill -9 at ${ms} ms: ${info.stderr}`).toBe(0);
      expect([500, 12500]).toContain(JSON.parse(info.stdout).faces);
      const v = await runCli(['verify', '-', '--db', db, '--json'], { input: asked.split('\n').slice(0, 5).join('\n') + '\n' });
      expect(v.code, v.stderr).toBeLessThanOrEqual(1);
    }
    const done = await runCli(['build-db', '-', '--db', db], { input: more });
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse((await runCli(['db', 'info', '--db', db, '--json'])).stdout).faces).toBe(12500);
    expect(readdirSync(dir).filter((f) => /tmp-/.test(f))).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.hnsw'))).toHaveLength(1);
  }, 240_000);
});

describe('db export and db import', () => {
  it('round-trips a gallery through records, byte for byte, and adds nothing twice', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.json');
    const b = join(dir, 'b', 'b.json');
    expect((await runCli(['db', 'import', '-', '--db', a], { input: synthetic(300, 30) })).code).toBe(0);
    // a new gallery takes the records' model (resnet34 here), not facekit's default
    expect(JSON.parse((await runCli(['db', 'info', '--db', a, '--json'])).stdout)).toMatchObject({ model: 'resnet34', dim: 128 });
    const out = await runCli(['db', 'export', '--db', a]);
    expect(out.code).toBe(0);
    expect(oneLine(out.stderr)).toBe(`facekit: exported 300 faces of ${a}`);
    const recs = records(out.stdout);
    expect(recs[0]).toMatchObject({ schema: 1, face: 0, label: 'p0', embedding: { model: 'resnet34', dim: 128 } });
    expect(recs[0]!.imageSha256).toMatch(/^[0-9a-f]{64}$/);
    writeFileSync(join(dir, 'faces.txt'), out.stdout); // any name: import reads records
    expect((await runCli(['db', 'import', join(dir, 'faces.txt'), '--db', b])).code).toBe(0);
    const again = await runCli(['db', 'import', join(dir, 'faces.txt'), '--db', b]);
    expect(again.stderr).toMatch(/0 faces added, 300 already in/);
    expect((await runCli(['db', 'export', '--db', b])).stdout).toBe(out.stdout);
    const file = join(dir, 'export.ndjson');
    expect((await runCli(['db', 'export', '--db', b, '--out', file])).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(out.stdout);
  });

  it('refuses records of another model, broken lines and a missing gallery with one line each', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.json');
    expect((await runCli(['db', 'import', '-', '--db', a], { input: synthetic(20, 2) })).code).toBe(0);
    const foreign = synthetic(3, 1).replace(/"model":"resnet34","dim":128/g, '"model":"faceres","dim":128');
    const f = await runCli(['db', 'import', '-', '--db', a], { input: foreign });
    expect(f.code).toBe(2);
    expect(oneLine(f.stderr)).toMatch(/gallery was built with resnet34 \(128-d embeddings\), not faceres/);
    const broken = await runCli(['db', 'import', '-', '--db', a], { input: '{"schema":1,"image":"x.jpg","face":0,"label":"x","imageSha256":"zz"}\nnot json\n' });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/stdin line 1: "imageSha256" must be 64 hex digits/);
    expect(broken.stderr).toMatch(/stdin line 2: not valid JSON/);
    const missing = await runCli(['db', 'export', '--db', join(dir, 'nowhere.json')]);
    expect(missing.code).toBe(2);
    expect(oneLine(missing.stderr)).toMatch(/no gallery here/);
  });
});
