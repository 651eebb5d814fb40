import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { InMemoryGallery } from '../../src/recognition/gallery.js';
import { loadGallery, saveGallery } from '../../src/recognition/gallery-file.js';
import { distance } from '../../src/stages/verification.js';
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

describe('the gallery files (schema 2: header, entries as JSON Lines, vectors)', () => {
  it('saves and loads entries line by line, and names a damaged entries file', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const g = randomGallery(500, 128, 20);
    await saveGallery(g, db, 'test');
    const header = JSON.parse(readFileSync(db, 'utf8')) as { schema: number; entries: { file: string; count: number } };
    expect(header.schema).toBe(2);
    expect(header.entries.count).toBe(500);
    const back = await loadGallery(db);
    expect(back.entries).toEqual(g.entries);
    expect(Array.from(back.vectors)).toEqual(Array.from(g.vectors));
    const file = join(dir, header.entries.file);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, text.length / 2));
    await expect(loadGallery(db)).rejects.toThrow(/entries file holds \d+ entries, the gallery needs 500|not valid JSON/);
    writeFileSync(file, text.replace('"label":"', '"label":"x'));
    await expect(loadGallery(db)).rejects.toThrow(/entries file does not match the gallery \(checksum differs\)/);
  });
});
