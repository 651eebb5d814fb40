/**
 * A gallery named by a location, the one place that tells the stores apart: a file path
 * (gallery.json and its sidecars), `postgres://user@host/db?gallery=NAME`, `pglite:DIR?gallery=NAME`
 * (an embedded PostgreSQL), or `memory:` (nothing stored).
 */
import { FacekitError } from '../../core/errors.js';
import type { GalleryBackend, StoreKind } from '../backend.js';
import type { GalleryMeta } from '../gallery.js';
import { DatabaseBackend } from './database.js';
import { FileBackend } from './file.js';
import { MemoryBackend } from './memory.js';
import { EF_SEARCH_MAX, isDbUrl } from './sql-client.js';

export { isDbUrl, redactUrl } from './sql-client.js';

/** `memory:` or `memory:NAME`: a gallery that lives only as long as the process. */
export const isMemoryLocation = (location: string): boolean => /^memory:/.test(location);

/** Which store a location names. */
export function storeOf(location: string): StoreKind {
  if (isMemoryLocation(location)) return 'memory';
  if (isDbUrl(location)) return /^pglite:/i.test(location) ? 'pglite' : 'postgres';
  return 'file';
}

/**
 * `location` with pgvector's HNSW candidate list set (`?ef_search=N`, replacing one it has): only a
 * database gallery searches through pgvector, so any other location is a usage error.
 */
export function withEfSearch(location: string, efSearch: number): string {
  const kind = storeOf(location);
  if (kind !== 'postgres' && kind !== 'pglite') {
    throw new FacekitError('usage', `--ef-search sets pgvector's HNSW search: it is for a database gallery (postgres://... or pglite:DIR), not a ${kind} gallery`, location);
  }
  if (!Number.isInteger(efSearch) || efSearch < 1 || efSearch > EF_SEARCH_MAX) {
    throw new FacekitError('usage', `ef_search must be an integer from 1 to ${EF_SEARCH_MAX}, got ${efSearch}`, location);
  }
  const [base, query = ''] = location.split(/\?(.*)/s, 2) as [string, string?];
  const kept = query.split('&').filter((p) => p !== '' && !/^ef_search=/i.test(p));
  return `${base}?${[...kept, `ef_search=${efSearch}`].join('&')}`;
}

/**
 * Open the gallery at `location`. One that is not there is `not_found`, unless `create` gives the
 * settings it is to be made with (it is then created by its first write; reads never create).
 */
export async function openBackend(location: string, opts: { create?: GalleryMeta } = {}): Promise<GalleryBackend> {
  if (isMemoryLocation(location)) {
    if (!opts.create) throw new FacekitError('usage', 'a memory: gallery starts empty: open it with the settings to make it with (create)', location);
    return new MemoryBackend(location, opts.create);
  }
  if (isDbUrl(location)) return DatabaseBackend.open(location, opts);
  return FileBackend.open(location, opts);
}
