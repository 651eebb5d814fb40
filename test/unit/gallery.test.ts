import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { InMemoryGallery } from '../../src/recognition/gallery.js';
import { VectorRows } from '../../src/recognition/vector-rows.js';
import { checkGallery, loadGallery, saveGallery } from '../../src/recognition/gallery-file.js';
import { distance } from '../../src/stages/verification.js';
import { FULL_CHECK_BYTES, sha256 } from '../../src/core/files.js';
import { EntryColumnsBuilder } from '../../src/recognition/entry-columns.js';
import { tempDir } from '../helpers/cli.js';

function randomGallery(n: number, dim: number, people: number): InMemoryGallery {
  let seed = 7;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  const g = new InMemoryGallery({ model: 'resnet34', dim, metric: 'euclidean_l2', flip: true, detector: 'blazeface' });
  g.addMany(Array.from({ length: n }, (_, i) => ({
    entry: { label: `p${i % people}`, image: `img${i}.jpg`, hash: String(i), face: 0 },
    vector: Array.from({ length: dim }, rand),
  })));
  return g;
}

describe('Gallery.search', () => {
  const g = randomGallery(500, 16, 37);
  const q = Array.from({ length: 16 }, (_, i) => Math.sin(i));

  it.each(['cosine', 'euclidean', 'euclidean_l2'] as const)('finds the nearest identities by %s, as brute force does', (metric) => {
    const brute = new Map<string, number>();
    g.entries.forEach((e, r) => {
      const d = distance(q, g.vector(r), metric);
      if (!brute.has(e.label) || d < brute.get(e.label)!) brute.set(e.label, d);
    });
    const expected = [...brute].sort((a, b) => a[1] - b[1]).slice(0, 5);
    const got = g.search(q, metric, 5);
    expect(got.map((m) => m.label)).toEqual(expected.map((e) => e[0]));
    got.forEach((m, i) => expect(m.distance).toBeCloseTo(expected[i]![1], 5));
  });

  it('leaves out excluded rows and handles k larger than the identities', () => {
    const all = g.search(q, 'cosine', 100);
    expect(all).toHaveLength(37);
    const without = g.search(q, 'cosine', 3, (r) => g.entries[r]!.label === all[0]!.label);
    expect(without[0]!.label).toBe(all[1]!.label);
  });

  it('refuses a query of another dimension', () => {
    expect(() => g.search([1, 2, 3], 'cosine', 1)).toThrow(/3-d embedding, the gallery holds 16-d/);
  });
});

describe('gallery files', () => {
  it('round-trips through JSON + sidecar and detects a damaged sidecar', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const g = randomGallery(20, 128, 4);
    await saveGallery(g, db, 'test');
    const back = await loadGallery(db);
    expect(back.size).toBe(20);
    expect(Array.from(back.vector(7))).toEqual(Array.from(g.vector(7)));
    const json = JSON.parse(readFileSync(db, 'utf8'));
    const side = join(dir, json.vectors.file);
    const bytes = readFileSync(side);
    bytes[0] = bytes[0]! ^ 0xff;
    writeFileSync(side, bytes);
    await expect(loadGallery(db)).rejects.toThrow(/checksum differs/);
    writeFileSync(side, bytes.subarray(0, 100));
    await expect(loadGallery(db)).rejects.toThrow(/holds 100 bytes, the gallery needs 10240/);
  });
});

describe('the gallery lock', () => {
  const lockModule = join(__dirname, '..', '..', 'dist', 'recognition', 'gallery-lock.js');

  it('treats an empty or unreadable lock as held while fresh, and takes it over once old', async () => {
    const { acquireLock } = (await import(lockModule)) as typeof import('../../src/recognition/gallery-lock.js');
    const db = join(tempDir(), 'g.json');
    writeFileSync(`${db}.lock`, '');
    expect(() => acquireLock(db)).toThrow(/being written by another facekit/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${db}.lock`, old, old);
    const release = acquireLock(db);
    expect(JSON.parse(readFileSync(`${db}.lock`, 'utf8')).pid).toBe(process.pid);
    release();
    expect(existsSync(`${db}.lock`)).toBe(false);
  });

  it('lets exactly one of several processes take over a stale lock', async () => {
    const db = join(tempDir(), 'g.json');
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    writeFileSync(`${db}.lock`, JSON.stringify({ pid: Number(dead.stdout.trim()), host: hostname(), since: 'then' }));
    const script = `
      const { acquireLock } = await import(${JSON.stringify(lockModule)});
      try { acquireLock(${JSON.stringify(db)}); console.log('got'); await new Promise((r) => setTimeout(r, 1500)); }
      catch (e) { console.log(e.code); }`;
    const runs = await Promise.all(Array.from({ length: 6 }, () => new Promise<string>((res) => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', script]);
      let out = '';
      c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      c.on('close', () => res(out.trim()));
    })));
    expect(runs.filter((r) => r === 'got')).toHaveLength(1);
    expect(runs.filter((r) => r !== 'got').every((r) => r === 'gallery_locked')).toBe(true);
  });
});

describe('the gallery files (schema 3: header, entries as columns, vectors)', () => {
  it('saves and loads the entries as columns, and names a damaged entries file', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const g = randomGallery(500, 128, 20);
    g.entries[3]!.box = [1.25, 2, 30.5, 40];
    g.entries[4]!.label = 'Zoë “quoted”';
    await saveGallery(g, db, 'test');
    const header = JSON.parse(readFileSync(db, 'utf8')) as { schema: number; entries: { file: string; count: number; format: string } };
    expect(header.schema).toBe(3);
    expect(header.entries).toMatchObject({ count: 500, format: 'columns' });
    const back = await loadGallery(db);
    expect(back.size).toBe(500);
    expect(back.labels()).toEqual(g.labels());
    expect(back.search(g.vector(4), 'cosine', 1)[0]).toMatchObject({ label: 'Zoë “quoted”', image: 'img4.jpg', row: 4 });
    expect(back.entries).toEqual(g.entries);
    expect(Array.from(back.vectors)).toEqual(Array.from(g.vectors));
    const file = join(dir, header.entries.file);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length / 2));
    await expect(loadGallery(db)).rejects.toThrow(/entries file does not match the gallery \(checksum differs\)/);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3]! ^= 1;
    writeFileSync(file, flipped);
    await expect(loadGallery(db)).rejects.toThrow(/entries file does not match the gallery \(checksum differs\)/);
    writeFileSync(file, 'not columns');
    await expect(loadGallery(db)).rejects.toThrow(/entries file does not match/);
  });

  it('checks vectors over 64 MiB by a sample on load (a cut or foreign file is refused at once); checkGallery reads every byte', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const n = Math.ceil(FULL_CHECK_BYTES / (128 * 4)) + 1000;
    const g = new InMemoryGallery({ model: 'resnet34', dim: 128, metric: 'euclidean_l2', flip: true, detector: 'blazeface' });
    g.indexPolicy = 'exact';
    const rows = new VectorRows(128);
    for (let i = 0; i < n; i++) rows.push(Array.from({ length: 128 }, (_, k) => Math.sin(i + k)));
    const gathered = new EntryColumnsBuilder();
    for (let i = 0; i < n; i++) gathered.push({ label: `p${i % 1000}`, image: `i${i}.jpg`, hash: `h${i}`, face: 0 });
    g.addRows(gathered, rows);
    await saveGallery(g, db, 'test');
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.f32'))!);
    const bytes = readFileSync(file);
    expect(bytes.length).toBeGreaterThan(FULL_CHECK_BYTES);
    expect((await loadGallery(db)).size).toBe(n);
    // one number changed between two sampled blocks: a load does not read it against the sha256, db check does
    const changed = Buffer.from(bytes);
    changed.writeFloatLE(0.5, 4096 + 100_000);
    writeFileSync(file, changed);
    expect((await loadGallery(db)).size).toBe(n);
    await expect(checkGallery(db)).rejects.toThrow(/vector file does not match the gallery \(checksum differs\)/);
    // another file of the same size, and a cut one: refused on load
    const other = Buffer.from(bytes);
    other.writeFloatLE(0.25, bytes.length - 8);
    writeFileSync(file, other);
    await expect(loadGallery(db)).rejects.toThrow(/vector file does not match the gallery \(checksum differs\)/);
    writeFileSync(file, bytes.subarray(0, bytes.length - 512));
    await expect(loadGallery(db)).rejects.toThrow(/truncated or from another gallery/);
    writeFileSync(file, bytes);
    expect((await checkGallery(db)).checked).toHaveLength(3);
  }, 60_000);

  it('a build gathers entries as columns: a new gallery takes them and its rows without a copy, an existing one as entries', async () => {
    const entries = Array.from({ length: 40_000 }, (_, i) => ({ label: `p${i % 7}`, image: `dir/ü${i}.jpg`, hash: `h${i}`, face: i % 2, ...(i % 3 ? { box: [i, 1.5, 2, 3] as [number, number, number, number] } : {}) }));
    const gather = () => {
      const b = new EntryColumnsBuilder();
      const rows = new VectorRows(4);
      entries.forEach((e, i) => {
        b.push(e);
        rows.push([i, 1, 2, 3]);
      });
      return { b, rows };
    };
    const meta = { model: 'resnet34', dim: 4, metric: 'euclidean_l2' as const, flip: true, detector: 'blazeface' };
    // which faces of which photos are in, without a Set of their keys (past two table growths)
    const big = new EntryColumnsBuilder();
    for (let i = 0; i < 150_000; i++) big.push({ label: 'x', image: `${i}.jpg`, hash: `hash-${i}`, face: i % 3 === 2 ? 1 : 0 });
    expect([0, 1, 2, 149_999, 149_998].map((i) => big.hasFace(`hash-${i}`, 0))).toEqual([true, true, false, false, true]);
    expect([2, 149_999, 0].map((i) => big.hasFace(`hash-${i}`, 1))).toEqual([true, true, false]);
    expect(big.hasFace('hash-150000', 0)).toBe(false);
    const fresh = new InMemoryGallery(meta);
    const { b, rows } = gather();
    fresh.addRows(b, rows);
    expect(rows.count).toBe(0);
    expect(fresh.size).toBe(40_000);
    expect(fresh.entryAt(39_999)).toEqual({ label: 'p1', image: 'dir/ü39999.jpg' });
    expect(Array.from(fresh.vector(12_345))).toEqual([12_345, 1, 2, 3]);
    expect(fresh.labels().get('p3')).toBe(entries.filter((e) => e.label === 'p3').length);
    expect(fresh.entries.slice(0, 4)).toEqual(entries.slice(0, 4).map((e, i) => ({ ...e, id: i })));
    const more = new InMemoryGallery(meta, [{ label: 'x', image: 'x.jpg', hash: 'hx', face: 0 }], new Float32Array(4));
    const again = gather();
    more.addRows(again.b, again.rows);
    expect(more.size).toBe(40_001);
    expect(more.entries[1]).toEqual({ ...entries[0], id: 1 });
    expect(more.rowsById()[40_000]).toBe(40_000);
  });

  it('a gallery loaded for writing takes new faces as columns (labels merged), its vectors grown in place, and knows its photos without a Set', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const meta = { model: 'resnet34', dim: 128, metric: 'euclidean_l2' as const, flip: true, detector: 'blazeface' };
    const vec = (...head: number[]) => [...head, ...new Array<number>(128 - head.length).fill(0)];
    const first = new InMemoryGallery(meta);
    const b1 = new EntryColumnsBuilder();
    const r1 = new VectorRows(128);
    for (let i = 0; i < 30_000; i++) {
      b1.push({ label: `p${i % 5}`, image: `a/ü${i}.jpg`, hash: `h${i}`, face: 0, ...(i % 2 ? { box: [i, 0, 1, 1] as [number, number, number, number] } : {}) });
      r1.push(vec(i, 0, 0, 1));
    }
    first.addRows(b1, r1);
    await saveGallery(first, db, 'test');
    const g = await loadGallery(db);
    const before = g.vectors.buffer;
    expect(g.hasPhoto('h29999')).toBe(true);
    expect(g.hasPhoto('h30000')).toBe(false);
    const b2 = new EntryColumnsBuilder();
    const r2 = new VectorRows(128);
    for (let i = 0; i < 100; i++) {
      b2.push({ label: i % 2 ? 'p3' : `new${i}`, image: `b/é${i}.jpg`, hash: `k${i}`, face: i % 3, ...(i % 4 ? {} : { box: [1, 2, 3, 4] as [number, number, number, number] }) });
      r2.push(vec(-i, 1, 1, 1));
    }
    g.addRows(b2, r2);
    expect(g.vectors.buffer).toBe(before); // grown in place, not copied
    expect(g.size).toBe(30_100);
    expect(g.entryAt(30_001)).toEqual({ label: 'p3', image: 'b/é1.jpg' });
    expect(g.entrySlice(30_000, 30_002)).toEqual([
      { label: 'new0', image: 'b/é0.jpg', hash: 'k0', face: 0, box: [1, 2, 3, 4], id: 30_000 },
      { label: 'p3', image: 'b/é1.jpg', hash: 'k1', face: 1, id: 30_001 },
    ]);
    expect(g.entrySlice(29_999, 30_000)).toEqual([{ label: 'p4', image: 'a/ü29999.jpg', hash: 'h29999', face: 0, box: [29_999, 0, 1, 1], id: 29_999 }]);
    expect(g.labels().get('p3')).toBe(6000 + 50);
    expect(g.labels().size).toBe(5 + 50);
    expect(Array.from(g.vector(30_099))).toEqual(vec(-99, 1, 1, 1));
    expect(Array.from(g.vector(29_999))).toEqual(vec(29_999, 0, 0, 1));
    expect(g.hasPhoto('k99')).toBe(true); // the lookup follows the change
    expect(g.search(vec(-50, 1, 1, 1), 'euclidean', 1)[0]).toMatchObject({ label: 'new50', image: 'b/é50.jpg' });
    await saveGallery(g, db, 'test');
    const back = await loadGallery(db);
    expect(JSON.stringify(back.entrySlice(0, back.size))).toBe(JSON.stringify(g.entrySlice(0, g.size)));
    expect(Buffer.compare(Buffer.from(back.vectors.buffer, 0, back.vectors.byteLength), Buffer.from(g.vectors.buffer, 0, g.vectors.byteLength))).toBe(0);
  });

  it('still reads a schema 2 gallery (entries as JSON Lines), and saves it as schema 3', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const g = randomGallery(50, 128, 5);
    const raw = Buffer.from(g.vectors.buffer);
    const lines = g.entries.map((e) => JSON.stringify({ label: e.label, image: e.image, hash: e.hash, face: e.face })).join('\n') + '\n';
    writeFileSync(join(dir, 'g.000000000001.f32'), raw);
    writeFileSync(join(dir, 'g.000000000002.entries.jsonl'), lines);
    writeFileSync(db, JSON.stringify({
      format: 'facekit-gallery', schema: 2, facekitVersion: 'old', model: 'resnet34', dim: 128, metric: 'euclidean_l2', flip: true, detector: 'blazeface', created: 'then', updated: 'then',
      vectors: { file: 'g.000000000001.f32', dtype: 'float32', count: 50, sha256: sha256(raw) },
      entries: { file: 'g.000000000002.entries.jsonl', format: 'jsonl', count: 50, sha256: sha256(lines) },
    }));
    const back = await loadGallery(db);
    expect(back.entries.map((e) => e.label)).toEqual(g.entries.map((e) => e.label));
    await saveGallery(back, db, 'test');
    expect(JSON.parse(readFileSync(db, 'utf8'))).toMatchObject({ schema: 3, entries: { format: 'columns', count: 50 } });
    expect(existsSync(join(dir, 'g.000000000002.entries.jsonl'))).toBe(false); // the old sidecars went
    expect((await loadGallery(db)).entries.map((e) => e.image)).toEqual(g.entries.map((e) => e.image));
  });
});
