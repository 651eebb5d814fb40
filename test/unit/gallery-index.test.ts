import { join } from 'node:path';
import { readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InMemoryGallery } from '../../src/recognition/gallery.js';
import { loadGallery, saveGallery } from '../../src/recognition/gallery-file.js';
import { NATIVE_SCAN_MIN_FACES } from '../../src/recognition/vector-index.js';
import type { Metric } from '../../src/models/catalogue.js';
import { tempDir } from '../helpers/cli.js';
import { gaussian, seededRandom } from '../helpers/synthetic.js';

// Faces as resnet34's are spread (see bench/synthetic-records.mjs): a common direction, a centre
// per person about 0.34 from it, each face about 0.2 from its centre.
const DIM = 128;
function faces(n: number, people: number, seed: number, metric: Metric = 'euclidean_l2') {
  const noise = gaussian(seededRandom(seed));
  const centres = Array.from({ length: people }, (_, p) => {
    const c = gaussian(seededRandom(1000 + p));
    return Array.from({ length: DIM }, (_, i) => (i === 0 ? 0.9 : 0) + 0.03 * c());
  });
  const gallery = new InMemoryGallery({ model: 'resnet34', dim: DIM, metric, flip: true, detector: 'blazeface' });
  const items = Array.from({ length: n }, (_, i) => ({
    entry: { label: `p${i % people}`, image: `p${i % people}/${i}.jpg`, hash: `h${i}`, face: 0 },
    vector: centres[i % people]!.map((x) => x + 0.018 * noise()),
  }));
  return { gallery, items, query: (p: number) => centres[p]!.map((x) => x + 0.018 * noise()) };
}

const exactCopy = (g: InMemoryGallery) => {
  const c = new InMemoryGallery(g.meta, g.entries.map((e) => ({ ...e })), g.vectors.slice());
  c.indexPolicy = 'exact';
  return c;
};

describe('gallery search engines', () => {
  it.each(['cosine', 'euclidean_l2', 'euclidean'] as const)('an HNSW graph gives the exact search\'s answers (%s)', (metric) => {
    const { gallery, items, query } = faces(3000, 300, 1, metric);
    gallery.indexPolicy = 'hnsw';
    gallery.addMany(items);
    gallery.syncIndex();
    expect(gallery.ann?.size).toBe(3000);
    const exact = exactCopy(gallery);
    let same = 0;
    for (let p = 0; p < 100; p++) {
      const q = query(p * 3);
      const a = gallery.search(q, metric, 5);
      const b = exact.search(q, metric, 5);
      if (a[0]!.label === b[0]!.label && Math.abs(a[0]!.distance - b[0]!.distance) < 1e-6) same++;
      // distances are re-ranked exactly: each answer's distance is the true distance to one of that
      // person's faces, never below the exact search's (the graph may reach another of their faces)
      const d = gallery.distances(q, metric);
      for (const m of a) {
        const own = gallery.entries.flatMap((e, r) => (e.label === m.label ? [d[r]!] : []));
        expect(own.some((x) => Math.abs(x - m.distance) < 1e-4)).toBe(true);
        expect(m.distance).toBeGreaterThanOrEqual(Math.min(...own) - 1e-6);
      }
      expect(a).toHaveLength(5);
    }
    // issue 22: the graph agrees with exact search on the identity and the best distance of every query
    expect(same).toBe(100);
  });

  it('the native exact scan of a larger gallery equals the plain loop', () => {
    const n = NATIVE_SCAN_MIN_FACES + 500;
    const { gallery, items, query } = faces(n, 2000, 2);
    gallery.indexPolicy = 'exact';
    gallery.addMany(items);
    const loop = gallery.distances(query(0), 'euclidean_l2'); // what the plain loop compares
    for (let p = 0; p < 20; p++) {
      const q = query(p * 7);
      const got = gallery.search(q, 'euclidean_l2', 3);
      const d = gallery.distances(q, 'euclidean_l2');
      const best = new Map<string, number>();
      gallery.entries.forEach((e, r) => best.set(e.label, Math.min(best.get(e.label) ?? Infinity, d[r]!)));
      const want = [...best].sort((x, y) => x[1] - y[1]).slice(0, 3);
      expect(got.map((m) => m.label)).toEqual(want.map((w) => w[0]));
      got.forEach((m, i) => expect(m.distance).toBeCloseTo(want[i]![1], 4));
    }
    expect(loop.length).toBe(n);
  });

  it('keeps the graph in step: removed people are never found, added ones are', () => {
    const { gallery, items, query } = faces(1000, 100, 3);
    gallery.indexPolicy = 'hnsw';
    gallery.addMany(items.slice(0, 900));
    gallery.syncIndex();
    expect(gallery.search(query(5), 'euclidean_l2', 1)[0]!.label).toBe('p5');
    gallery.removePerson('p5');
    expect(gallery.ann?.size).toBe(891);
    for (let i = 0; i < 10; i++) expect(gallery.search(query(5), 'euclidean_l2', 3).map((m) => m.label)).not.toContain('p5');
    gallery.addMany(items.slice(900));
    expect(gallery.ann?.size).toBe(991);
    expect(gallery.search(query(5), 'euclidean_l2', 1)[0]!.label).toBe('p5'); // faces 905, 995 came back
    gallery.renamePerson('p7', 'seven');
    expect(gallery.search(query(7), 'euclidean_l2', 1)[0]!.label).toBe('seven');
  });
});

describe('the graph on disk', () => {
  async function saved(n = 2000) {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const { gallery, items, query } = faces(n, n / 10, 4);
    gallery.indexPolicy = 'hnsw';
    gallery.addMany(items);
    await saveGallery(gallery, db, 'test');
    return { dir, db, gallery, query };
  }
  const graphFile = (dir: string) => join(dir, readdirSync(dir).find((f) => f.endsWith('.hnsw'))!);

  it('round-trips, is reused while unchanged, and follows incremental changes', async () => {
    const { dir, db, gallery, query } = await saved();
    const header = JSON.parse(readFileSync(db, 'utf8'));
    expect(header.index.policy).toBe('hnsw');
    expect(header.index.graph).toMatchObject({ kind: 'hnsw', count: 2000, space: 'cos', quantization: 'i8' });
    const back = await loadGallery(db);
    expect(back.ann?.size).toBe(2000);
    const q = query(11);
    expect(back.search(q, 'euclidean_l2', 3)).toEqual(gallery.search(q, 'euclidean_l2', 3));
    // a rename changes the entries, not the vectors: the graph file is kept as it is
    back.renamePerson('p11', 'eleven');
    await saveGallery(back, db, 'test');
    expect(JSON.parse(readFileSync(db, 'utf8')).index.graph.sha256).toBe(header.index.graph.sha256);
    // removing a person changes it; one graph file remains
    back.removePerson('p3');
    await saveGallery(back, db, 'test');
    const after = JSON.parse(readFileSync(db, 'utf8'));
    expect(after.index.graph.count).toBe(1990);
    expect(readdirSync(dir).filter((f) => f.endsWith('.hnsw'))).toHaveLength(1);
    const again = await loadGallery(db);
    expect(again.search(q, 'euclidean_l2', 1)[0]!.label).toBe('eleven');
    expect(again.entries.map((e) => e.id)).toEqual(back.entries.map((e) => e.id));
  });

  it('a build\'s last save (release) builds the graph from the vector file just written, and lets go of the vectors', async () => {
    const { gallery, items, query } = faces(3000, 300, 4);
    gallery.indexPolicy = 'hnsw';
    gallery.addMany(items);
    const exact = exactCopy(gallery);
    const dir = tempDir('facekit-release-');
    const db = join(dir, 'gallery.json');
    await saveGallery(gallery, db, 'test', { release: true });
    expect(() => gallery.vectors).toThrow(/let go of its vectors/);
    expect(() => gallery.search(query(1), 'euclidean_l2', 1)).toThrow(/let go of its vectors/);
    // still counted and listed
    expect(gallery.size).toBe(3000);
    expect(gallery.labels().size).toBe(300);
    const back = await loadGallery(db);
    expect(back.ann?.size).toBe(3000);
    expect(back.vectors).toEqual(exact.vectors);
    let same = 0;
    for (let p = 0; p < 100; p++) {
      const q = query(p * 3);
      const a = back.search(q, 'euclidean_l2', 1)[0]!;
      const b = exact.search(q, 'euclidean_l2', 1)[0]!;
      if (a.label === b.label && Math.abs(a.distance - b.distance) < 1e-6) same++;
    }
    expect(same).toBe(100);
  });

  it('refuses a truncated, damaged or foreign graph with one clear error, never a crash', async () => {
    const { dir, db } = await saved(300); // a small graph will do to damage
    const file = graphFile(dir);
    const bytes = readFileSync(file);
    truncateSync(file, 1000);
    await expect(loadGallery(db)).rejects.toThrow(/search index holds 1000 bytes.*truncated or damaged.*facekit db reindex/);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length >> 1] ^= 0xff;
    writeFileSync(file, flipped);
    await expect(loadGallery(db)).rejects.toThrow(/search index does not match its checksum/);
    writeFileSync(file, bytes);
    const header = JSON.parse(readFileSync(db, 'utf8'));
    header.index.graph.vectors = '0'.repeat(64);
    writeFileSync(db, JSON.stringify(header));
    await expect(loadGallery(db)).rejects.toThrow(/built for other vectors/);
  });

  it('an exact gallery has no graph; asking for one later builds it at the next save', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const { gallery, items } = faces(500, 50, 5);
    gallery.addMany(items);
    await saveGallery(gallery, db, 'test');
    expect(JSON.parse(readFileSync(db, 'utf8')).index).toEqual({ policy: 'auto' });
    const back = await loadGallery(db);
    expect(back.ann).toBeUndefined();
    back.indexPolicy = 'hnsw';
    await saveGallery(back, db, 'test');
    expect((await loadGallery(db)).ann?.size).toBe(500);
  });
});
