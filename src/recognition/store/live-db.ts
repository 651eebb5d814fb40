/**
 * The server's gallery in PostgreSQL: answers come from an in-memory copy, reloaded whenever the
 * gallery's `updated` time in the catalogue moves (another server or a build-db elsewhere added or
 * removed faces); adds and removes are transactions in the database, then the copy is reloaded.
 * Photos added over HTTP are kept on this machine, in `photosDir`.
 */
import { unlink } from 'node:fs/promises';
import { FacekitError } from '../../core/errors.js';
import { assertSameModel, defaultMetaFor, InMemoryGallery, type GalleryMeta } from '../gallery.js';
import { storePhotos, WriteQueue, type AddResult, type GalleryStore, type NewFace, type StoreDefaults } from '../gallery-store.js';
import { openDbGallery, openOrCreateDbGallery } from './open.js';
import type { PgGallery } from './pg.js';
import { redactUrl, textArray } from './sql-client.js';

export class DbGalleryStore implements GalleryStore {
  private readonly writes = new WriteQueue();
  readonly dbPath: string;

  private constructor(private readonly spec: string, private pg: PgGallery | undefined, private gallery: InMemoryGallery, private signature: string,
    readonly photosDir: string, private readonly defaults: GalleryMeta) {
    this.dbPath = redactUrl(spec);
  }

  /** A gallery that is not there yet is empty, with `defaults`, and created on the first add. */
  static async open(spec: string, defaults: StoreDefaults, photosDir: string): Promise<DbGalleryStore> {
    const meta = defaultMetaFor(defaults.model, defaults.metric, defaults.flip, defaults.detector);
    const pg = await openDbGallery(spec).catch((err: unknown) => {
      if (err instanceof FacekitError && err.code === 'not_found') return undefined;
      throw err;
    });
    const store = new DbGalleryStore(spec, pg, new InMemoryGallery(meta), '', photosDir, meta);
    await store.reload();
    return store;
  }

  private async updated(): Promise<string> {
    if (!this.pg) return '';
    const r = await this.pg.client.query<{ updated: Date | string }>('SELECT updated FROM facekit_galleries WHERE name = $1', [this.pg.name]);
    const u = r.rows[0]?.updated;
    if (u === undefined) throw new FacekitError('bad_gallery', 'the gallery was removed from the database', this.dbPath);
    return u instanceof Date ? u.toISOString() : String(u);
  }

  private async reload(): Promise<void> {
    if (!this.pg) return;
    const sig = await this.updated();
    this.gallery = await this.pg.toInMemory();
    this.signature = sig;
  }

  async current(): Promise<InMemoryGallery> {
    if (this.writes.pending > 0 || !this.pg) return this.gallery;
    if ((await this.updated()) !== this.signature) await this.reload();
    return this.gallery;
  }

  peek(): InMemoryGallery {
    return this.gallery;
  }

  add(faces: NewFace[], model: Pick<GalleryMeta, 'model' | 'dim'>): Promise<AddResult> {
    return this.writes.run(async () => {
      this.pg ??= await openOrCreateDbGallery(this.spec, this.defaults);
      assertSameModel(this.pg.meta, model, this.dbPath);
      // Who already has these photos (by content), asked of the database, not of a copy.
      const r = await this.pg.client.query<{ hash: string; label: string }>(
        `SELECT DISTINCT ON (hash) hash, label FROM ${this.pg.table} WHERE hash = ANY($1::text[])`, [textArray(faces.map((f) => f.hash))]);
      const known = new Map(r.rows.map((x) => [x.hash, x.label]));
      const { items, result, written } = await storePhotos(faces, known, this.photosDir);
      try {
        if (items.length) await this.pg.add(items);
      } catch (err) {
        await Promise.all(written.map((p) => unlink(p).catch(() => undefined)));
        throw err;
      }
      await this.reload();
      return result;
    });
  }

  remove(label: string): Promise<number> {
    return this.writes.run(async () => {
      if (!this.pg) return 0;
      const n = await this.pg.removePerson(label);
      await this.reload();
      return n;
    });
  }

  idle(): Promise<void> {
    return this.writes.idle();
  }

  get busy(): boolean {
    return this.writes.pending > 0;
  }

  async close(): Promise<void> {
    await this.idle();
    await this.pg?.client.close();
  }
}
