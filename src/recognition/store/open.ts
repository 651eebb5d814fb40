/**
 * A gallery named by what `--db` says: a file path (gallery.json and its sidecars), or a database
 * URL (postgres://user@host/db?gallery=NAME, or pglite:DIR for an embedded PostgreSQL). The one
 * place that tells the two apart and opens either.
 */
import { FacekitError } from '../../core/errors.js';
import { loadGallery } from '../gallery-file.js';
import { FileGalleryStore, type GalleryStore, type StoreDefaults } from '../gallery-store.js';
import type { GalleryEntry, GalleryMeta, InMemoryGallery } from '../gallery.js';
import { PgGallery } from './pg.js';
import { isDbUrl, openDb, parseDbUrl } from './sql-client.js';

export { isDbUrl } from './sql-client.js';

/** A PostgreSQL gallery that must exist; its connection closes with `close()`. */
export async function openDbGallery(spec: string): Promise<PgGallery> {
  const target = parseDbUrl(spec);
  const client = await openDb(target);
  try {
    const g = await PgGallery.open(client, target.gallery);
    if (!g) throw new FacekitError('not_found', `no gallery "${target.gallery}" in this database (build one with \`facekit build-db DIR --db ${target.where}\`)`, target.where);
    return g;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
}

/**
 * A PostgreSQL gallery, made with `meta` when it is not there yet. `deferIndex`: a new gallery gets
 * its HNSW index only from `ensureIndex()` (a bulk load is 15x faster without it).
 */
export async function openOrCreateDbGallery(spec: string, meta: GalleryMeta, opts: { deferIndex?: boolean } = {}): Promise<PgGallery> {
  const target = parseDbUrl(spec);
  const client = await openDb(target);
  try {
    return await PgGallery.openOrCreate(client, target.gallery, meta, target.where, opts);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
}

/** The whole gallery in memory, from a file or a database (tsne, the server, small galleries). */
export async function loadAnyGallery(spec: string): Promise<InMemoryGallery> {
  if (!isDbUrl(spec)) return loadGallery(spec);
  const g = await openDbGallery(spec);
  try {
    return await g.toInMemory();
  } finally {
    await g.client.close();
  }
}

export interface GalleryReader {
  meta: GalleryMeta;
  /** the entries in order, with their vectors (rows of meta.dim floats) */
  batches(): AsyncIterable<{ entries: GalleryEntry[]; vectors: Float32Array }>;
  close(): Promise<void>;
}

/** A gallery read batch by batch (`db export`): a database gallery never has to fit in memory. */
export async function openGalleryReader(spec: string): Promise<GalleryReader> {
  if (isDbUrl(spec)) {
    const g = await openDbGallery(spec);
    return { meta: g.meta, batches: () => g.rows(10_000), close: () => g.client.close() };
  }
  const g = await loadGallery(spec);
  return {
    meta: g.meta,
    async *batches() {
      for (let i = 0; i < g.size; i += 10_000) {
        const end = Math.min(g.size, i + 10_000);
        yield { entries: g.entries.slice(i, end), vectors: g.vectors.subarray(i * g.meta.dim, end * g.meta.dim) };
      }
    },
    close: async () => undefined,
  };
}

/** The server's live gallery: a file (FileGalleryStore) or a database (DbGalleryStore). */
export async function openGalleryStore(spec: string, defaults: StoreDefaults, photosDir = 'db/photos'): Promise<GalleryStore> {
  if (!isDbUrl(spec)) return FileGalleryStore.open(spec, defaults);
  const { DbGalleryStore } = await import('./live-db.js');
  return DbGalleryStore.open(spec, defaults, photosDir);
}
