import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { InMemoryGallery, type GalleryEntry, type GalleryMeta } from '../../src/recognition/gallery.js';
import { PgGallery, parseVector, vectorLiteral } from '../../src/recognition/store/pg.js';
import { withEfSearch } from '../../src/recognition/store/open.js';
import { framedExpression, framedQuery, parseFrame } from '../../src/recognition/store/pgvector.js';
import {
  connectPostgres, isDbUrl, mapDbError, openPglite, parseDbUrl, pgliteClient, redactUrl, type SqlClient,
} from '../../src/recognition/store/sql-client.js';
import { FacekitError } from '../../src/core/errors.js';
import type { Metric } from '../../src/models/catalogue.js';
import { pgliteDir } from '../helpers/group-b.js';
import { seededRandom, syntheticFaces } from '../helpers/synthetic.js';

const faces = (n: number, dim: number, people: number, seed: number, prefix = 'img') => syntheticFaces(n, dim, people, seed, { prefix, varied: true });

const meta = (metric: Metric): GalleryMeta => ({ model: 'dlib', dim: 128, metric, flip: false, detector: 'blazeface' });

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<FacekitError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(FacekitError);
  expect((e as FacekitError).code).toBe(code);
  if (message) expect((e as FacekitError).message).toMatch(message);
  return e as FacekitError;
}

describe('database URLs', () => {
  it('names a gallery on PostgreSQL or PGlite, and refuses bad names', () => {
    expect(isDbUrl('postgres://u@h:5432/db')).toBe(true);
    expect(isDbUrl('postgresql://u@h/db?gallery=x')).toBe(true);
    expect(isDbUrl('pglite:')).toBe(true);
    expect(isDbUrl('db/gallery.json')).toBe(false);
    const t = parseDbUrl('postgres://u:secret@h:5432/db?gallery=staff&sslmode=disable');
    expect(t).toEqual({ kind: 'postgres', url: 'postgres://u:secret@h:5432/db?sslmode=disable', gallery: 'staff', where: 'postgres://u@h:5432/db?gallery=staff&sslmode=disable' });
    expect(parseDbUrl('postgresql://h/db').gallery).toBe('gallery');
    expect(parseDbUrl('pglite:')).toEqual({ kind: 'pglite', dataDir: undefined, gallery: 'gallery', where: 'pglite:' });
    expect(parseDbUrl('pglite:/some/dir?gallery=g2')).toMatchObject({ dataDir: '/some/dir', gallery: 'g2' });
    for (const bad of ['Staff', '1x', 'a-b', 'x'.repeat(42)]) {
      expect(() => parseDbUrl(`postgres://h/db?gallery=${bad}`)).toThrow(/gallery name/);
    }
    expect(redactUrl('postgres://u:pw@h/db')).toBe('postgres://u@h/db');
  });

  it('takes pgvector\'s ef_search from the URL (for every command and the server alike), not passing it to the driver', () => {
    expect(parseDbUrl('postgres://u@h/db?gallery=staff&ef_search=1000')).toMatchObject({ url: 'postgres://u@h/db', gallery: 'staff', efSearch: 1000 });
    expect(parseDbUrl('pglite:/d?ef_search=40')).toMatchObject({ dataDir: '/d', efSearch: 40 });
    expect(parseDbUrl('postgres://u@h/db')).not.toHaveProperty('efSearch');
    for (const bad of ['0', '1001', '2.5', 'many', '']) {
      expect(() => parseDbUrl(`postgres://u@h/db?ef_search=${bad}`)).toThrow(`ef_search must be an integer from 1 to 1000, got "${bad}"`);
    }
  });

  it('--ef-search (serve, verify, similar; Gallery.open\'s efSearch) sets the URL\'s ef_search, replacing one it has; a file gallery refuses it', () => {
    expect(withEfSearch('postgres://u@h/db?gallery=a&ef_search=5', 100)).toBe('postgres://u@h/db?gallery=a&ef_search=100');
    expect(withEfSearch('pglite:/tmp/x', 7)).toBe('pglite:/tmp/x?ef_search=7');
    expect(parseDbUrl(withEfSearch('postgres://u@h/db?gallery=staff', 1000))).toMatchObject({ gallery: 'staff', efSearch: 1000 });
    expect(() => withEfSearch('db/gallery.json', 100)).toThrow(/it is for a database gallery \(postgres:\/\/\.\.\. or pglite:DIR\), not a file gallery/);
    expect(() => withEfSearch('postgres://u@h/db', 0)).toThrow(/ef_search must be an integer from 1 to 1000/);
  });

  it('maps driver errors to one-line FacekitErrors', () => {
    const err = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    const code = (e: unknown) => (mapDbError(e, 'w') as FacekitError).code;
    expect(code(err('ECONNREFUSED'))).toBe('db_unreachable');
    expect(code(err('ENOTFOUND'))).toBe('db_unreachable');
    expect(code(new Error('timeout expired'))).toBe('db_unreachable');
    expect(code(err('28P01', 'password authentication failed for user "u"'))).toBe('db_auth');
    expect(code(err('3D000', 'database "nope" does not exist'))).toBe('db_missing');
    expect(code(err('0A000', 'extension "vector" is not available'))).toBe('db_no_pgvector');
    const plain = new TypeError('a bug');
    expect(mapDbError(plain, 'w')).toBe(plain);
  });

  it('reports an unreachable server quickly', async () => {
    const t0 = Date.now();
    const e = await expectCode(connectPostgres('postgres://postgres@127.0.0.1:1/facekit'), 'db_unreachable', /connection refused/);
    expect(e.where).toBe('postgres://postgres@127.0.0.1:1/facekit');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('vectors go to pgvector text and back exactly as float32', () => {
    const v = Float32Array.from([0.1, -1e-7, 3.4e38, 1 / 3, 0]);
    const out = new Float32Array(5);
    parseVector(vectorLiteral(v), out, 0, 5);
    expect(Array.from(out)).toEqual(Array.from(v));
  });
});

describe('PgGallery on PGlite + pgvector', () => {
  let db: SqlClient;
  let dataDir: string;
  // a copy of a PGlite folder made once per test run: opening it takes a second, a new one (initdb) several
  beforeAll(async () => {
    dataDir = await pgliteDir();
    db = await openPglite(dataDir);
  });
  afterAll(async () => { await db?.close(); });

  it('creates, opens and refuses another model', async () => {
    expect(await PgGallery.open(db, 'g_open')).toBeUndefined();
    const g = await PgGallery.create(db, 'g_open', meta('euclidean_l2'));
    expect(g.meta).toEqual(meta('euclidean_l2'));
    const again = await PgGallery.open(db, 'g_open');
    expect(again?.meta).toEqual(g.meta);
    expect(again?.created).toBe(g.created);
    await expectCode(PgGallery.create(db, 'g_open', meta('cosine')), 'usage', /already exists/);
    await expectCode(PgGallery.openOrCreate(db, 'g_open', { ...meta('cosine'), model: 'facenet512', dim: 512 }, 'the-db'), 'model_mismatch',
      /^gallery was built with dlib \(128-d embeddings\), not facenet512 \(512-d\)/);
    expect((await PgGallery.openOrCreate(db, 'g_open', meta('cosine'))).meta.metric).toBe('euclidean_l2');
    expect((await PgGallery.list(db)).map((x) => x.name)).toContain('g_open');
    await g.drop();
    expect(await PgGallery.open(db, 'g_open')).toBeUndefined();
  });

  it('adds faces once, counts them, and refuses other dimensions', async () => {
    const g = await PgGallery.create(db, 'g_add', meta('cosine'));
    const items = faces(300, 128, 30, 1);
    expect(await g.add(items.slice(0, 200))).toBe(200);
    expect(await g.add(items.slice(150))).toBe(100); // 50 of the 150 already there
    expect(await g.add([...items.slice(0, 10), ...items.slice(0, 10)])).toBe(0);
    expect(await g.count()).toBe(300);
    const mem = new InMemoryGallery(meta('cosine'));
    mem.addMany(items);
    expect([...(await g.labels())]).toEqual([...mem.labels()]);
    expect(await g.hashes()).toEqual(mem.hashes());
    expect(await g.has('imgh7')).toBe(true);
    expect(await g.has('nope')).toBe(false);
    await expectCode(g.add([{ entry: items[0]!.entry, vector: [1, 2, 3] }]), 'model_mismatch', /a 3-d embedding cannot join a gallery of 128-d dlib/);
    await expectCode(g.add([{ entry: items[0]!.entry, vector: new Array(128).fill(NaN) }]), 'bad_tensor');
    await expectCode(g.search([1, 2], 'cosine', 3), 'model_mismatch', /query is a 2-d embedding/);
    await g.drop();
  });

  describe.each(['cosine', 'euclidean', 'euclidean_l2'] as const)('search in a %s gallery', (galleryMetric) => {
    const items = faces(300, 128, 30, 2);
    const mem = new InMemoryGallery(meta(galleryMetric));
    mem.addMany(items);
    const rand = seededRandom(99);
    const queries = [
      ...Array.from({ length: 8 }, (_, i) => items[i * 37]!.vector.map((x) => x + 0.2 * (rand() - 0.5))),
      ...Array.from({ length: 4 }, () => Array.from({ length: 128 }, () => rand() - 0.5)),
    ];
    let g: PgGallery;
    beforeAll(async () => {
      g = await PgGallery.create(db, `g_search_${galleryMetric}`, meta(galleryMetric));
      await g.add(items);
    });
    afterAll(async () => { await g.drop(); });

    it.each(['cosine', 'euclidean', 'euclidean_l2'] as const)('answers as InMemoryGallery.search does, by %s', async (metric) => {
      for (const q of queries) {
        for (const k of [1, 5, 29, 40]) {
          const want = mem.search(q, metric, k);
          const got = await g.search(q, metric, k);
          expect(got.map((m) => [m.label, m.image])).toEqual(want.map((m) => [m.label, m.image]));
          got.forEach((m, i) => expect(m.distance).toBeCloseTo(want[i]!.distance, 5));
          got.forEach((m, i) => expect(m.row).toBe(want[i]!.row + 1)); // ids count from 1 in a fresh table
        }
      }
    });
  });

  it('renames with the same rules and messages as the file gallery', async () => {
    const g = await PgGallery.create(db, 'g_rename', meta('cosine'));
    const items = faces(60, 128, 6, 3);
    await g.add(items);
    const mem = new InMemoryGallery(meta('cosine'));
    mem.addMany(items.map((x) => ({ ...x, entry: { ...x.entry } })));
    const same = async (f: () => number, p: () => Promise<number>) => {
      let want: unknown, got: unknown;
      try { want = f(); } catch (e) { want = (e as Error).message; }
      try { got = await p(); } catch (e) { got = (e as Error).message; }
      expect(got).toEqual(want);
      return got;
    };
    expect(await same(() => mem.renamePerson('p1', 'p2'), () => g.renamePerson('p1', 'p2'))).toMatch(/would merge two people/);
    expect(await same(() => mem.renamePerson('nobody', 'x'), () => g.renamePerson('nobody', 'x'))).toMatch(/no one called "nobody"/);
    expect(await same(() => mem.renamePerson('p1', ' '), () => g.renamePerson('p1', ' '))).toBe('the new name is empty');
    expect(await same(() => mem.renamePerson('p1', 'alice'), () => g.renamePerson('p1', 'alice'))).toBe(10);
    expect(await same(() => mem.renamePerson('p2', 'alice', { merge: true }), () => g.renamePerson('p2', 'alice', { merge: true }))).toBe(10);
    expect(await same(() => mem.renamePerson('p3', 'p3'), () => g.renamePerson('p3', 'p3'))).toBe(10);
    expect([...(await g.labels())].sort()).toEqual([...mem.labels()].sort());
    await g.drop();
  });

  it('removes people and images', async () => {
    const g = await PgGallery.create(db, 'g_remove', meta('cosine'));
    await g.add(faces(60, 128, 6, 4));
    expect(await g.removePerson('p0')).toBe(10);
    expect(await g.removePerson('p0')).toBe(0);
    expect(await g.removeImages(['imgh1', 'imgh2', 'imgh6', 'nope'])).toBe(2); // imgh6 was p0's
    expect(await g.removeImages([])).toBe(0);
    expect(await g.count()).toBe(48);
    expect((await g.labels()).has('p0')).toBe(false);
    await g.drop();
  });

  it('indexes a gallery of angles on the faces\' directions from their mean (reindex frames an older raw index), and answers as before', async () => {
    // faces as a recognizer gives them: one common direction, people around it
    const rand = seededRandom(5);
    const base = Array.from({ length: 128 }, (_, i) => (i === 0 ? 3 : 0));
    const items = faces(400, 128, 40, 6).map((it) => ({ ...it, vector: it.vector.map((x, i) => base[i]! + 0.3 * x) }));
    const mem = new InMemoryGallery(meta('euclidean_l2'));
    mem.addMany(items);
    const g = await PgGallery.create(db, 'g_frame', meta('euclidean_l2')); // empty: a raw index, as galleries before frames had
    await g.add(items);
    expect(g.framed).toBe(false);
    const indexes = async () => (await db.query<{ i: string }>(`SELECT indexname AS i FROM pg_indexes WHERE tablename = 'facekit_g_g_frame' ORDER BY 1`)).rows.map((r) => r.i);
    expect(await indexes()).toContain('facekit_g_g_frame_hnsw');
    const queries = Array.from({ length: 10 }, (_, i) => items[i * 31]!.vector.map((x) => x + 0.05 * (rand() - 0.5)));
    const answers = async (x: PgGallery) => Promise.all(queries.map(async (q) => (await x.search(q, 'euclidean_l2', 5)).map((m) => [m.label, m.image])));
    const want = queries.map((q) => mem.search(q, 'euclidean_l2', 5).map((m) => [m.label, m.image]));
    expect(await answers(g)).toEqual(want);
    const stale = (await PgGallery.open(db, 'g_frame'))!; // another instance, opened before the reindex
    await g.ensureIndex({ reframe: true });
    expect(g.framed).toBe(true);
    expect(stale.framed).toBe(false);
    expect(await answers(stale)).toEqual(want); // its first search reads the new frame
    expect(stale.framed).toBe(true);
    expect(await indexes()).toEqual(['facekit_g_g_frame_frame', 'facekit_g_g_frame_hash_face_key', 'facekit_g_g_frame_image', 'facekit_g_g_frame_label', 'facekit_g_g_frame_pkey']);
    expect(await answers(g)).toEqual(want);
    const again = (await PgGallery.open(db, 'g_frame'))!;
    expect(again.framed).toBe(true);
    expect(await answers(again)).toEqual(want);
    // the query is ordered by the indexed expression: PostgreSQL walks the framed graph
    const frame = parseFrame((await db.query<{ f: string }>(`SELECT frame AS f FROM facekit_galleries WHERE name = 'g_frame'`)).rows[0]!.f, 128)!;
    const plan = await db.transaction(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      return (await tx.query<Record<string, string>>(`EXPLAIN SELECT id FROM facekit_g_g_frame ORDER BY ${framedExpression(frame, 128)} <=> $1::halfvec(128) LIMIT 5`, [framedQuery(frame, queries[0]!)])).rows;
    });
    expect(plan.map((r) => Object.values(r)[0]).join('\n')).toMatch(/Index Scan using facekit_g_g_frame_frame/);
    // a later build of an indexed gallery keeps its index as it is
    await again.ensureIndex();
    expect(await indexes()).toContain('facekit_g_g_frame_frame');
    await g.drop();
  });

  it('keeps its counts in the catalogue through adds, removals and renames (a gallery from before is counted once)', async () => {
    const g = await PgGallery.create(db, 'g_counts', meta('cosine'));
    const other = (await PgGallery.open(db, 'g_counts'))!; // a second writer, as another instance would be
    const recounted = async () => ({ faces: await g.count(), people: (await g.labels()).size });
    const items = faces(300, 128, 30, 7);
    expect(await g.counts()).toEqual({ faces: 0, people: 0 });
    await Promise.all([g.add(items.slice(0, 200)), other.add(items.slice(100))]);
    expect(await g.counts()).toEqual({ faces: 300, people: 30 });
    expect(await other.counts()).toEqual(await recounted());
    await g.add(items.slice(0, 10)); // already in: nothing moves
    expect(await g.counts()).toEqual({ faces: 300, people: 30 });
    expect(await g.removePerson('p3')).toBe(10);
    expect(await g.counts()).toEqual({ faces: 290, people: 29 });
    await g.removeImages(['imgh4', 'imgh34']); // two of p4's ten faces: p4 stays
    expect(await g.counts()).toEqual({ faces: 288, people: 29 });
    await g.renamePerson('p5', 'five');
    expect(await g.counts()).toEqual({ faces: 288, people: 29 });
    await g.renamePerson('five', 'p6', { merge: true });
    expect(await g.counts()).toEqual({ faces: 288, people: 28 });
    expect(await g.counts()).toEqual(await recounted());
    // a catalogue from before kept counts: counted at first need, then kept
    await db.query(`UPDATE facekit_galleries SET faces = NULL, people = NULL WHERE name = 'g_counts'`);
    expect(await other.counts()).toEqual({ faces: 288, people: 28 });
    expect((await db.query<{ f: string }>(`SELECT faces::text AS f FROM facekit_galleries WHERE name = 'g_counts'`)).rows[0]!.f).toBe('288');
    await db.query(`UPDATE facekit_galleries SET faces = 7 WHERE name = 'g_counts'`);
    expect(await g.recount()).toEqual({ counted: { faces: 288, people: 28 }, kept: { faces: 7, people: 28 } });
    await g.drop();
  });

  it('gives every row back, in order, bit for bit', async () => {
    const g = await PgGallery.create(db, 'g_rows', meta('euclidean'));
    const items = faces(50, 128, 5, 5);
    await g.add(items);
    const ids: number[] = [];
    const entries: GalleryEntry[] = [];
    const vectors: number[] = [];
    for await (const b of g.rows(7)) {
      expect(b.vectors.length).toBe(b.entries.length * 128);
      ids.push(...b.ids);
      entries.push(...b.entries);
      vectors.push(...b.vectors);
    }
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(entries).toEqual(items.map((x) => x.entry));
    expect(vectors).toEqual(items.flatMap((x) => Array.from(Float32Array.from(x.vector))));
    const mem = await g.toInMemory();
    expect(mem.entries).toMatchObject(items.map((x) => x.entry)); // it may give entries ids of its own
    expect(mem.meta).toEqual(g.meta);
    await g.drop();
  });

  it('takes concurrent adds without losing any (PGlite runs them one after the other)', async () => {
    const g = await PgGallery.create(db, 'g_conc', meta('cosine'));
    const a = faces(400, 128, 20, 6, 'a');
    const b = faces(400, 128, 20, 7, 'b');
    const g2 = (await PgGallery.open(db, 'g_conc'))!;
    const added = await Promise.all([g.add(a, { batch: 50 }), g2.add(b, { batch: 50 }), g.add(a.slice(0, 100), { batch: 30 })]);
    expect(added[0] + added[1] + added[2]).toBe(800);
    expect(await g.count()).toBe(800);
    await g.drop();
  });

  it('reopens a gallery kept in a directory', async () => {
    // the folder of this file's database: closed and opened again (the last test that uses it; afterAll closes it)
    const t = parseDbUrl(`pglite:${dataDir}?gallery=kept`);
    if (t.kind !== 'pglite') throw new Error('pglite');
    await (await PgGallery.openOrCreate(db, t.gallery, meta('cosine'))).add(faces(20, 128, 4, 8));
    await db.close();
    db = await openPglite(t.dataDir);
    const g = await PgGallery.open(db, 'kept');
    expect(await g?.count()).toBe(20);
  });
});

describe('PgGallery without pgvector', () => {
  it('says how to install it', async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const client = pgliteClient(await PGlite.create({ dataDir: await pgliteDir() }), 'pglite: (no pgvector)');
    try {
      expect(await PgGallery.open(client, 'g')).toBeUndefined();
      await expectCode(PgGallery.create(client, 'g', meta('cosine')), 'db_no_pgvector', /no pgvector: the pgvector package must be installed on the server/);
    } finally {
      await client.close();
    }
  });
});
