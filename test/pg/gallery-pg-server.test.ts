/**
 * The PostgreSQL gallery store against a real server with pgvector. Runs only when
 * FACEKIT_TEST_PG names one, e.g.
 *   FACEKIT_TEST_PG=postgres://postgres@127.0.0.1:55432/facekit npx vitest run test/pg/
 * Each test works in a gallery of its own (random suffix) and drops it at the end.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { InMemoryGallery, type GalleryMeta } from '../../src/recognition/gallery.js';
import { PgGallery } from '../../src/recognition/store/pg.js';
import { connectPostgres, type SqlClient } from '../../src/recognition/store/sql-client.js';
import { openBackend } from '../../src/recognition/store/open.js';
import { FacekitError } from '../../src/core/errors.js';
import type { Metric } from '../../src/models/catalogue.js';
import { seededRandom, syntheticFaces } from '../helpers/synthetic.js';

const SERVER = process.env.FACEKIT_TEST_PG;
const suffix = Math.floor(Math.random() * 1e9).toString(36);

const faces = (n: number, dim: number, people: number, seed: number, prefix = 'img') => syntheticFaces(n, dim, people, seed, { prefix });

const meta = (metric: Metric): GalleryMeta => ({ model: 'dlib', dim: 128, metric, flip: false, detector: 'blazeface' });

async function failure(p: Promise<unknown>): Promise<FacekitError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(FacekitError);
  return e as FacekitError;
}

/** The server URL with another user and/or database. */
function variant(user: string | undefined, db: string | undefined): string {
  const u = new URL(SERVER!);
  if (user) u.username = user;
  if (db) u.pathname = `/${db}`;
  return u.toString();
}

describe.skipIf(!SERVER)('PgGallery on a PostgreSQL server (FACEKIT_TEST_PG)', () => {
  let db: SqlClient;
  beforeAll(async () => { db = await connectPostgres(SERVER!); });
  afterAll(async () => { await db?.close(); });

  async function withGallery(base: string, m: GalleryMeta, fn: (g: PgGallery) => Promise<void>): Promise<void> {
    const g = await PgGallery.create(db, `${base}_${suffix}`, m);
    try { await fn(g); } finally { await g.drop(); }
  }

  it('creates, opens, refuses another model, adds once, counts', () => withGallery('t_contract', meta('euclidean_l2'), async (g) => {
    expect((await PgGallery.open(db, g.name))?.meta).toEqual(meta('euclidean_l2'));
    expect((await failure(PgGallery.openOrCreate(db, g.name, { ...meta('cosine'), model: 'arcface', dim: 512 }))).code).toBe('model_mismatch');
    const items = faces(300, 128, 30, 1);
    expect(await g.add(items.slice(0, 200))).toBe(200);
    expect(await g.add(items)).toBe(100);
    expect(await g.count()).toBe(300);
    const mem = new InMemoryGallery(meta('euclidean_l2'));
    mem.addMany(items);
    expect([...(await g.labels())]).toEqual([...mem.labels()]);
    expect(await g.hashes()).toEqual(mem.hashes());
    expect(await g.renamePerson('p1', 'p2').catch((e: Error) => e.message)).toMatch(/would merge two people/);
    expect(await g.renamePerson('p1', 'p2', { merge: true })).toBe(10);
    expect(await g.removePerson('p2')).toBe(20);
    expect(await g.removeImages(['imgh3', 'imgh4'])).toBe(2);
    expect(await g.count()).toBe(278);
  }));

  it.each(['cosine', 'euclidean', 'euclidean_l2'] as const)('searches a %s gallery as InMemoryGallery.search does', (gm) => withGallery(`t_search_${gm}`, meta(gm), async (g) => {
    const items = faces(3000, 128, 300, 2);
    await g.add(items);
    const mem = new InMemoryGallery(meta(gm));
    mem.addMany(items);
    const rand = seededRandom(5);
    for (const metric of ['cosine', 'euclidean', 'euclidean_l2'] as const) {
      for (let i = 0; i < 10; i++) {
        const q = items[i * 131]!.vector.map((x) => x + 0.2 * (rand() - 0.5));
        for (const k of [1, 5, 20]) {
          const want = mem.search(q, metric, k);
          const got = await g.search(q, metric, k);
          expect(got.map((m) => m.label)).toEqual(want.map((m) => m.label));
          got.forEach((m, j) => expect(m.distance).toBeCloseTo(want[j]!.distance, 5));
        }
      }
    }
    let n = 0;
    for await (const b of g.rows(1000)) n += b.entries.length;
    expect(n).toBe(3000);
  }));

  it('takes ?ef_search=N from the gallery URL: a store opened with it answers as exact search does', () => withGallery('t_ef', meta('cosine'), async (g) => {
    const items = faces(3000, 128, 300, 3);
    await g.add(items);
    const mem = new InMemoryGallery(meta('cosine'));
    mem.addMany(items);
    const store = await openBackend(`${SERVER}${SERVER!.includes('?') ? '&' : '?'}gallery=${g.name}&ef_search=1000`);
    try {
      const rand = seededRandom(7);
      for (let i = 0; i < 10; i++) {
        const q = items[i * 97]!.vector.map((x) => x + 0.2 * (rand() - 0.5));
        expect((await store.search(q, 'cosine', 5)).map((m) => m.label)).toEqual(mem.search(q, 'cosine', 5).map((m) => m.label));
      }
    } finally {
      await store.close();
    }
  }));

  it('takes 2 x 2000 faces from two pools at once, and the same faces twice, losing none', () => withGallery('t_conc', meta('cosine'), async (g) => {
    const other = await connectPostgres(SERVER!);
    try {
      const g2 = (await PgGallery.open(other, g.name))!;
      const a = faces(2000, 128, 200, 3, 'a');
      const b = faces(2000, 128, 200, 4, 'b');
      const added = await Promise.all([g.add(a, { batch: 100 }), g2.add(b, { batch: 100 })]);
      expect(added).toEqual([2000, 2000]);
      expect(await g.count()).toBe(4000);
      // The same new faces from both sides, in opposite orders: deadlocks are retried, each face kept once.
      const c = faces(1000, 128, 100, 5, 'c');
      const again = await Promise.all([g.add(c, { batch: 50 }), g2.add([...c].reverse(), { batch: 50 })]);
      expect(again[0] + again[1]).toBe(1000);
      expect(await g.count()).toBe(5000);
      // the kept counts: both sides added the same 200 new people at once, each counted once
      expect(await g2.counts()).toEqual({ faces: 5000, people: (await g.labels()).size });
      expect((await g.recount()).kept).toEqual({ faces: 5000, people: 200 });
    } finally {
      await other.close();
    }
  }));

  it('creates one gallery from two connections at once', async () => {
    const other = await connectPostgres(SERVER!);
    const name = `t_race_${suffix}`;
    try {
      const [x, y] = await Promise.all([PgGallery.openOrCreate(db, name, meta('cosine')), PgGallery.openOrCreate(other, name, meta('cosine'))]);
      expect(x.created).toBe(y.created);
      await x.drop();
    } finally {
      await other.close();
    }
  });

  it('reports an unreachable server quickly', async () => {
    const t0 = Date.now();
    const e = await failure(connectPostgres(variant(undefined, undefined).replace(/:\d+\//, ':1/')));
    expect(e.code).toBe('db_unreachable');
    expect(Date.now() - t0).toBeLessThan(6000);
  });

  it('reports a missing database and an unknown user', async () => {
    expect((await failure(connectPostgres(variant(undefined, `no_such_db_${suffix}`)))).code).toBe('db_missing');
    expect((await failure(connectPostgres(variant(`no_such_user_${suffix}`, undefined)))).code).toBe('db_auth');
  });

  it('says how to get pgvector where a user may not enable it (a fresh database, a role that is no superuser)', async (ctx) => {
    const role = `facekit_nopgv_${suffix}`;
    try {
      await db.query(`CREATE ROLE ${role} LOGIN`);
      await db.query(`CREATE DATABASE ${role} OWNER ${role}`);
    } catch (e) {
      ctx.skip(`cannot create a role and a database here: ${(e as Error).message}`);
    }
    try {
      const c = await connectPostgres(variant(role, role));
      try {
        const e = await failure(PgGallery.create(c, 'g', meta('cosine')));
        expect(e.code).toBe('db_no_pgvector');
        expect(e.message).toMatch(/ask a superuser to run CREATE EXTENSION vector/);
      } finally {
        await c.close();
      }
    } finally {
      await db.query(`DROP DATABASE IF EXISTS ${role} WITH (FORCE)`);
      await db.query(`DROP ROLE IF EXISTS ${role}`);
    }
  });
});

describe.skipIf(!!SERVER)('PgGallery on a PostgreSQL server', () => {
  it.skip('skipped: set FACEKIT_TEST_PG=postgres://user@host:port/db (a server with pgvector) to run these', () => {});
});

describe.skipIf(!SERVER)('two serve instances over one PostgreSQL gallery (FACEKIT_TEST_PG)', () => {
  it('what one adds, the other identifies at once, and shows its photo from the shared --photos store', async () => {
    const { serveInProcess } = await import('../helpers/app.js');
    const { inject } = await import('../helpers/serve.js');
    const { DEMO, tempDir } = await import('../helpers/cli.js');
    const { join } = await import('node:path');
    const name = `t_two_${suffix}`;
    const url = variant(undefined, undefined).replace(/\/?$/, '') + `?gallery=${name}`;
    const { renameSync } = await import('node:fs');
    // one shared store, mounted at another path on B's machine (here: moved after A wrote to it)
    const store = join(tempDir('facekit-photos-'), 'on-a');
    const elsewhere = join(tempDir('facekit-photos-'), 'on-b');
    const a = await serveInProcess({ db: url, photos: store });
    const b = await serveInProcess({ db: url, photos: elsewhere });
    const client = await connectPostgres(SERVER!);
    try {
      const added = await inject(a, 'POST', '/gallery', { form: { label: 'ada', image: `@${join(DEMO, 'sample1.jpg')}` } });
      expect(added.status).toBe(201);
      const t0 = Date.now();
      const who = await inject(b, 'POST', '/verify', { form: { image: `@${join(DEMO, 'sample1.jpg')}` } });
      const seconds = (Date.now() - t0) / 1000;
      expect(who.status).toBe(200);
      const answer = JSON.parse(who.text) as { faces: { identity: string | null; candidates: { photo?: string }[] }[] };
      expect(answer.faces[0]!.identity).toBe('ada');
      expect(seconds).toBeLessThan(1);
      // and B counts what A added
      expect(JSON.parse((await inject(b, 'GET', '/health')).text).gallery).toMatchObject({ faces: 1, people: 1 });
      // the photo was stored by A; B finds it by its hash in the shared store, at B's own path
      renameSync(store, elsewhere);
      const photo = await inject(b, 'GET', `${answer.faces[0]!.candidates[0]!.photo}?size=64`);
      expect(photo.status).toBe(200);
    } finally {
      await a.stop({ force: true }).catch(() => undefined);
      await b.stop({ force: true }).catch(() => undefined);
      await (await PgGallery.open(client, name))?.drop();
      await client.close();
    }
  }, 180_000);
});
