/**
 * A gallery in PostgreSQL + pgvector, or in PGlite (the same SQL, in this process): searched
 * where it lives (PgGallery), never loaded whole. Every add is one transaction; rows are unique by
 * photo and face, so several processes (or machines) can add at once and lose nothing. A gallery
 * not there yet is created by its first write. A bulk build commits in batches as faces come, so
 * an interruption loses at most the batch under way and the next run skips what is in.
 */
import { existsSync } from 'node:fs';
import { FacekitError } from '../../core/errors.js';
import type { Metric } from '../../models/catalogue.js';
import type { BuildSink, BuildSinkOptions, GalleryBackend, GalleryCheck, GalleryInfo, GalleryItem, GalleryRows, StoreKind } from '../backend.js';
import { assertSameModel, type GalleryEntry, type GalleryMeta, type Match } from '../gallery.js';
import type { IndexPolicy } from '../vector-index.js';
import { infoOf } from './memory.js';
import { PgGallery } from './pg.js';
import { textArray } from './pgvector.js';
import { openDb, parseDbUrl, type DbTarget, type SqlClient } from './sql-client.js';

/** Faces per transaction of a bulk build: small enough that an interruption loses little, large enough to be fast. */
const BATCH = 500;

export class DatabaseBackend implements GalleryBackend {
  readonly store: StoreKind;
  private last = { people: 0, faces: 0 };

  private constructor(private readonly target: DbTarget, private readonly client: SqlClient, private pg: PgGallery | undefined, private readonly wanted: GalleryMeta | undefined) {
    this.store = target.kind === 'postgres' ? 'postgres' : 'pglite';
  }

  /**
   * The gallery a URL names (postgres://…?gallery=NAME, pglite:DIR?gallery=NAME). A gallery that
   * is not there is `not_found`, unless `create` gives the settings it is to be made with.
   */
  static async open(spec: string, opts: { create?: GalleryMeta } = {}): Promise<DatabaseBackend> {
    const target = parseDbUrl(spec);
    const client = await openDb(target, { create: opts.create !== undefined });
    try {
      const pg = await PgGallery.open(client, target.gallery);
      if (!pg && !opts.create) {
        throw new FacekitError('not_found', `no gallery "${target.gallery}" in this database (build one with \`facekit build-db DIR --db ${target.where}\`)`, target.where);
      }
      const b = new DatabaseBackend(target, client, pg, opts.create);
      if (pg) await b.recount();
      return b;
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  get location(): string {
    return this.pg?.where ?? this.target.where;
  }

  get meta(): GalleryMeta {
    return this.pg?.meta ?? this.wanted!;
  }

  get exists(): boolean {
    return this.pg !== undefined;
  }

  /** The gallery, created with the wanted settings on the first write. */
  private async made(opts: { deferIndex?: boolean } = {}): Promise<PgGallery> {
    this.pg ??= await PgGallery.openOrCreate(this.client, this.target.gallery, this.wanted!, this.target.where, opts);
    return this.pg;
  }

  /** The counts as the catalogue keeps them (one row read; see PgGallery.counts). */
  private async recount(): Promise<void> {
    if (!this.pg) return;
    this.last = await this.pg.counts();
  }

  async refresh(): Promise<void> {
    this.pg ??= await PgGallery.open(this.client, this.target.gallery);
    await this.recount();
  }

  counts(): { people: number; faces: number } {
    return this.last;
  }

  /** What every instance has added or removed: the catalogue's counts, one row read. */
  async countsNow(): Promise<{ people: number; faces: number }> {
    await this.refresh();
    return this.last;
  }

  async people(): Promise<Map<string, number>> {
    return this.pg ? this.pg.labels() : new Map();
  }

  async search(query: ArrayLike<number>, metric: Metric, k: number): Promise<Match[]> {
    return this.pg ? this.pg.search(query, metric, k, { efSearch: this.target.efSearch }) : [];
  }

  async owners(hashes: string[]): Promise<Map<string, string>> {
    if (!this.pg || hashes.length === 0) return new Map();
    const r = await this.client.query<{ hash: string; label: string }>(
      `SELECT DISTINCT ON (hash) hash, label FROM ${this.pg.table} WHERE hash = ANY($1::text[]) ORDER BY hash, id`, [textArray(hashes)]);
    return new Map(r.rows.map((x) => [x.hash, x.label]));
  }

  async entriesOf(hash: string): Promise<GalleryEntry[]> {
    if (!this.pg) return [];
    const r = await this.client.query<GalleryEntry & { box: GalleryEntry['box'] | null }>(
      `SELECT label, image, hash, face, box FROM ${this.pg.table} WHERE hash = $1 ORDER BY face, id`, [hash]);
    return r.rows.map((x) => ({ label: x.label, image: x.image, hash: x.hash, face: x.face, ...(x.box ? { box: x.box } : {}) }));
  }

  async entryOfImage(image: string): Promise<GalleryEntry | undefined> {
    if (!this.pg) return undefined;
    const r = await this.client.query<GalleryEntry & { box: GalleryEntry['box'] | null }>(
      `SELECT label, image, hash, face, box FROM ${this.pg.table} WHERE image = $1 ORDER BY id LIMIT 1`, [image]);
    const x = r.rows[0];
    return x ? { label: x.label, image: x.image, hash: x.hash, face: x.face, ...(x.box ? { box: x.box } : {}) } : undefined;
  }

  async add(items: GalleryItem[]): Promise<number> {
    if (items.length === 0) return 0;
    const pg = await this.made();
    const n = await pg.add(items);
    // the catalogue's counts, moved by this add and by every other writer's (a recount of a million faces took a second)
    if (n > 0 && pg.keepsCounts) await this.recount();
    else if (n > 0) this.last = { ...this.last, faces: this.last.faces + n };
    return n;
  }

  async removePerson(label: string): Promise<number> {
    if (!this.pg) return 0;
    const n = await this.pg.removePerson(label);
    await this.recount();
    return n;
  }

  async rename(from: string, to: string, opts: { merge?: boolean } = {}): Promise<number> {
    if (!this.pg) throw new FacekitError('usage', `no one called "${from}" in the gallery (see \`facekit db list\`)`, this.location);
    return this.pg.renamePerson(from, to, { ...opts, where: this.location });
  }

  async *rows(batch = 10_000): AsyncGenerator<GalleryRows> {
    if (this.pg) yield* this.pg.rows(batch);
  }

  async reindex(_policy?: IndexPolicy): Promise<string> {
    const pg = await this.made();
    await pg.ensureIndex({ reframe: true, maintenanceWorkMem: '1GB' });
    await this.recount();
    return pg.framed
      ? `built the HNSW index of ${this.last.faces} faces anew, on their directions from the mean (PostgreSQL keeps it up to date as faces come and go)`
      : 'PostgreSQL keeps its indexes (HNSW, photo) up to date itself; they are there';
  }

  async info(): Promise<GalleryInfo> {
    const pg = this.pg;
    if (!pg) throw new FacekitError('not_found', `no gallery "${this.target.gallery}" in this database`, this.location);
    await this.recount();
    return infoOf(pg.where, pg.meta, { ...this.last, created: pg.created, search: `PostgreSQL + pgvector (HNSW index${pg.framed ? ' of the faces\' directions from their mean' : ''})` });
  }

  async check(): Promise<GalleryCheck> {
    const pg = this.pg;
    if (!pg) throw new FacekitError('not_found', `no gallery "${this.target.gallery}" in this database`, this.location);
    const { counted, kept } = await pg.recount();
    this.last = counted;
    const agree = !kept || (kept.faces === counted.faces && kept.people === counted.people);
    const counts = agree ? '' : ` (the kept counts said ${kept!.faces ?? 'nothing'} faces of ${kept!.people ?? 'nothing'} people: corrected)`;
    return { db: pg.where, ...this.last, checked: [`${pg.where}: ${counted.faces} faces of ${counted.people} people counted${counts}; the database checks its own pages`] };
  }

  async build(opts: BuildSinkOptions): Promise<BuildSink> {
    const isNew = !this.pg;
    if (this.pg) assertSameModel(this.pg.meta, opts.meta, this.location);
    // A new gallery is loaded first and indexed after (15x faster than indexing face by face).
    const pg = await this.made({ deferIndex: isNew });
    return new BatchSink(pg, isNew, await pg.hashes(), () => this.recount(), async () => {
      // refused, or nothing added to a gallery this build made: it goes
      if (isNew) {
        await pg.drop();
        this.pg = undefined;
      }
    });
  }

  async idle(): Promise<void> {}

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** A bulk build of a database gallery: committed in batches as faces come. */
class BatchSink implements BuildSink {
  readonly counts = { added: 0, alreadyIn: 0 };
  readonly resumed = 0;
  private pending: GalleryItem[] = [];

  constructor(private readonly pg: PgGallery, private readonly isNew: boolean, private readonly known: Set<string>, private readonly recount: () => Promise<void>,
    private readonly unmake: () => Promise<void>) {}

  get created(): boolean {
    return this.isNew;
  }

  async discard(): Promise<void> {
    this.pending = [];
    await this.unmake();
  }

  get meta(): GalleryMeta {
    return this.pg.meta;
  }

  isDone(hash: string): 'in' | false {
    return this.known.has(hash) ? 'in' : false;
  }

  async accept(item: GalleryItem): Promise<void> {
    this.pending.push(item);
    if (this.pending.length >= BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    // Another process may have added some of these meanwhile: they are skipped, not doubled.
    const added = await this.pg.add(batch);
    this.counts.added += added;
    this.counts.alreadyIn += batch.length - added;
  }

  async finish(o: { prune: boolean; note?: (line: string) => void }): Promise<{ pruned: number; people: number; faces: number }> {
    await this.flush();
    let pruned = 0;
    if (o.prune) {
      const gone: string[] = [];
      for await (const b of this.pg.rows(10_000)) for (const e of b.entries) if (!existsSync(e.image)) gone.push(e.hash);
      pruned = await this.pg.removeImages([...new Set(gone)]);
    }
    if (this.isNew) o.note?.('building the HNSW index in PostgreSQL');
    // The graph of a large gallery is built far faster when it fits in memory: PostgreSQL's
    // default 64 MB made a million faces take over half an hour here; 1 GB, for this build only.
    await this.pg.ensureIndex({ maintenanceWorkMem: '1GB' });
    await this.recount();
    return { pruned, people: (await this.pg.labels()).size, faces: await this.pg.count() };
  }

  /** Stopped: what is committed stays (an interrupted first build is indexed by the next run; search scans meanwhile). */
  async keep(): Promise<string> {
    await this.flush();
    return `${this.counts.added} faces were committed to ${this.pg.where}`;
  }
}
