/**
 * A gallery in PostgreSQL with pgvector: for galleries too big to load whole, and for several
 * processes adding to one gallery at once (each `add` is one transaction; rows are unique by
 * image hash and face, so a face added twice is kept once and concurrent adds lose nothing).
 *
 * Schema (pg-schema.ts): a catalogue `facekit_galleries` and one table per gallery with the raw
 * embeddings in a `vector(dim)` column and an HNSW index: framed (pgvector.ts PgFrame) for cosine
 * and euclidean_l2, whose order on raw vectors is the cosine order; raw vector_l2_ops for
 * euclidean. Search asks the index for the nearest faces, groups
 * them by identity, and recomputes the distances in JS as InMemoryGallery does (float64 over the
 * float32 rows), so that both stores give the same answers.
 */
import { FacekitError } from '../../core/errors.js';
import type { Metric } from '../../models/catalogue.js';
import { queryNorm, rowDistance } from '../gallery-search.js';
import { assertSameModel, InMemoryGallery, type GalleryEntry, type GalleryMeta, type Match } from '../gallery.js';
import { addCatalogueColumns, buildIndexes, CATALOGUE, createGalleryTables, HNSW_MAX_DIM, keptCounts, METRICS, moveCounts, recountInto, SCHEMA_LOCK, type Counts } from './pg-schema.js';
import { framedExpression, framedQuery, iterativeScan, parseFrame, parseVector, textArray, vectorLiteral, type PgFrame } from './pgvector.js';
import { checkGalleryName, EF_SEARCH_DEFAULT, EF_SEARCH_MAX, sqlState, type SqlClient } from './sql-client.js';

export { parseVector, vectorLiteral } from './pgvector.js';

/** hnsw.ef_search's ceiling; beyond it only an iterative scan (pgvector ≥ 0.8) returns more rows. */
const EF_MAX = EF_SEARCH_MAX;
const ITERATIVE_MAX_K = 16_384;


export interface PgItem {
  entry: GalleryEntry;
  vector: ArrayLike<number>;
}

export interface PgRows {
  /** the rows' ids (Match.row) */
  ids: number[];
  entries: GalleryEntry[];
  /** row i of the batch is vectors[i*dim, (i+1)*dim) */
  vectors: Float32Array;
}

type CatalogueRow = GalleryMeta & { name: string; metric: string; created: Date | string; updated: Date | string; /** absent in catalogues from before frames */ frame?: string | null };
/** a face as queried: `e` is the embedding as pgvector's text */
type FaceRow = { id: number | string; label: string; image: string; hash: string; face: number; box: GalleryEntry['box'] | null; e: string };

const iso = (d: Date | string) => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

export class PgGallery {
  private constructor(
    readonly client: SqlClient,
    readonly name: string,
    readonly meta: GalleryMeta,
    readonly created: string,
    /** pgvector ≥ 0.8: hnsw.iterative_scan */
    private readonly iterative: boolean,
    /** the HNSW index holds the faces' directions less their mean (pgvector.ts PgFrame); undefined: raw vectors */
    private frame: PgFrame | undefined,
    /** the catalogue keeps the gallery's counts (its faces and people columns; older catalogues get them at open) */
    readonly keepsCounts: boolean,
  ) {}

  /** Whether the gallery's HNSW index is framed (built by this facekit; older galleries: `db reindex`). */
  get framed(): boolean {
    return this.frame !== undefined;
  }

  /** the gallery's table, quoted (the name is checked against GALLERY_NAME: no injection) */
  get table(): string {
    return `"facekit_g_${this.name}"`;
  }

  /** For messages: the database and the gallery. */
  get where(): string {
    return this.client.where.includes('gallery=') ? this.client.where : `${this.client.where} (gallery ${this.name})`;
  }

  /** The gallery called `name`, or undefined when there is none. */
  static async open(client: SqlClient, name: string): Promise<PgGallery | undefined> {
    checkGalleryName(name, client.where);
    const has = await client.query<{ ok: boolean }>(`SELECT to_regclass('${CATALOGUE}') IS NOT NULL AS ok`);
    if (!has.rows[0]?.ok) return undefined;
    const r = await client.query<CatalogueRow & { has_table: boolean; vver: string | null }>(
      `SELECT g.*, to_regclass($2) IS NOT NULL AS has_table,
              (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS vver
         FROM ${CATALOGUE} g WHERE name = $1`, [name, `facekit_g_${name}`]);
    const row = r.rows[0];
    if (!row) return undefined;
    if (!row.has_table) throw new FacekitError('bad_gallery', `gallery "${name}" is in ${CATALOGUE} but its table facekit_g_${name} is gone`, client.where);
    if (!METRICS.includes(row.metric as Metric)) throw new FacekitError('bad_gallery', `gallery "${name}" has an unknown metric ${row.metric}`, client.where);
    const meta: GalleryMeta = { model: row.model, dim: row.dim, metric: row.metric as Metric, flip: row.flip, detector: row.detector };
    const keepsCounts = 'faces' in row || (await addCatalogueColumns(client));
    return new PgGallery(client, name, meta, iso(row.created), iterativeScan(row.vver), meta.metric === 'euclidean' ? undefined : parseFrame(row.frame, meta.dim), keepsCounts);
  }

  /** A new, empty gallery; refused when one called `name` exists. */
  static async create(client: SqlClient, name: string, meta: GalleryMeta, opts: { deferIndex?: boolean } = {}): Promise<PgGallery> {
    await createGalleryTables(client, name, meta, 'create', opts.deferIndex ?? false);
    return (await PgGallery.open(client, name))!;
  }

  /** The gallery called `name`, created with `meta` if absent; refused when it holds another model's embeddings. */
  static async openOrCreate(client: SqlClient, name: string, meta: GalleryMeta, where?: string, opts: { deferIndex?: boolean } = {}): Promise<PgGallery> {
    let g = await PgGallery.open(client, name);
    if (!g) {
      await createGalleryTables(client, name, meta, 'openOrCreate', opts.deferIndex ?? false);
      g = (await PgGallery.open(client, name))!;
    }
    assertSameModel(g.meta, meta, where ?? g.where);
    return g;
  }

  /** The galleries in this database. */
  static async list(client: SqlClient): Promise<{ name: string; meta: GalleryMeta; created: string; updated: string }[]> {
    const has = await client.query<{ ok: boolean }>(`SELECT to_regclass('${CATALOGUE}') IS NOT NULL AS ok`);
    if (!has.rows[0]?.ok) return [];
    const r = await client.query<CatalogueRow>(`SELECT * FROM ${CATALOGUE} ORDER BY name`);
    return r.rows.map((g) => ({
      name: g.name, created: iso(g.created), updated: iso(g.updated),
      meta: { model: g.model, dim: g.dim, metric: g.metric as Metric, flip: g.flip, detector: g.detector },
    }));
  }

  /**
   * Build the HNSW index if there is none (after a load with create(..., {deferIndex: true}): one
   * build is much faster than inserting into the graph face by face), and the photo index
   * (galleries made before it had none). A gallery of angles with faces gets the framed index
   * (pgvector.ts PgFrame); an empty one the raw index, until `reframe` (`facekit db reindex`)
   * takes the mean of the faces then there and builds the framed index in its place.
   */
  async ensureIndex(opts: { maintenanceWorkMem?: string; reframe?: boolean } = {}): Promise<void> {
    this.frame = await buildIndexes(this.client, this.name, this.meta, this.frame, opts);
  }

  async count(): Promise<number> {
    return (await this.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.table}`)).rows[0]!.n;
  }

  /**
   * The gallery's faces and people as the catalogue keeps them (every change moves them in its own
   * transaction, pg-schema.ts moveCounts): one row read, where a recount of a million faces takes a
   * second. A gallery from before kept counts is counted once, then kept.
   */
  async counts(): Promise<Counts> {
    if (!this.keepsCounts) return { people: (await this.labels()).size, faces: await this.count() };
    return (await keptCounts(this.client, this.name)) ?? (await this.recount()).counted;
  }

  /** Count every face and person, and keep what was counted; with what the catalogue said before (`db check`). */
  async recount(): Promise<{ counted: Counts; kept?: { people: number | null; faces: number | null } }> {
    return recountInto(this.client, this.name, this.table, this.keepsCounts);
  }

  /** A change's last step, in its transaction: the catalogue's `updated` and counts move (pg-schema.ts moveCounts). */
  private async moved(tx: SqlClient, faces: number, opts: { fresh?: { labels: string[]; ids: number[] }; emptied?: string[] } = {}): Promise<void> {
    if (!this.keepsCounts) return void (await tx.query(`UPDATE ${CATALOGUE} SET updated = now() WHERE name = $1`, [this.name]));
    await moveCounts(tx, this.name, this.table, faces, opts);
  }

  /** Faces per label, in the order the labels first came in. */
  async labels(): Promise<Map<string, number>> {
    const r = await this.client.query<{ label: string; n: number }>(`SELECT label, count(*)::int AS n FROM ${this.table} GROUP BY label ORDER BY min(id)`);
    return new Map(r.rows.map((x) => [x.label, x.n]));
  }

  async hashes(): Promise<Set<string>> {
    const r = await this.client.query<{ hash: string }>(`SELECT DISTINCT hash FROM ${this.table}`);
    return new Set(r.rows.map((x) => x.hash));
  }

  async has(hash: string): Promise<boolean> {
    const r = await this.client.query<{ x: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${this.table} WHERE hash = $1) AS x`, [hash]);
    return r.rows[0]!.x;
  }

  /**
   * Add faces; a face already there (same image hash and face number) is skipped. One
   * transaction; returns how many were added. Their ids follow the order given. Should
   * PostgreSQL still roll the transaction back as a deadlock victim, it is tried again.
   */
  async add(items: PgItem[], opts: { batch?: number } = {}): Promise<number> {
    const dim = this.meta.dim;
    for (const it of items) {
      if (it.vector.length !== dim) {
        throw new FacekitError('model_mismatch', `a ${it.vector.length}-d embedding cannot join a gallery of ${dim}-d ${this.meta.model} embeddings`, it.entry.image);
      }
      for (let k = 0; k < dim; k++) {
        if (!Number.isFinite(it.vector[k]!)) throw new FacekitError('bad_tensor', 'the embedding holds NaN or Infinity', it.entry.image);
      }
    }
    if (items.length === 0) return 0;
    const batch = Math.max(1, opts.batch ?? 1000);
    // Rows go in sorted by (hash, face): concurrent adds of the same photos then wait on each
    // other's rows in one order and cannot deadlock. Ids, drawn first, keep the order given.
    const order = items.map((_, i) => i).sort((x, y) => {
      const a = items[x]!.entry, b = items[y]!.entry;
      return a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : (a.face | 0) - (b.face | 0);
    });
    const chunks: string[][] = [];
    for (let i = 0; i < order.length; i += batch) {
      const part = order.slice(i, i + batch).map((j) => items[j]!);
      chunks.push([
        textArray(part.map((x) => x.entry.label)),
        textArray(part.map((x) => x.entry.image)),
        textArray(part.map((x) => x.entry.hash)),
        `{${part.map((x) => x.entry.face | 0).join(',')}}`,
        textArray(part.map((x) => (x.entry.box ? JSON.stringify(x.entry.box) : null))),
        textArray(part.map((x) => vectorLiteral(x.vector))),
      ]);
    }
    const sql = `WITH ins AS (
        INSERT INTO ${this.table} (id, label, image, hash, face, box, embedding)
        SELECT * FROM unnest($7::bigint[], $1::text[], $2::text[], $3::text[], $4::int[], $5::jsonb[], $6::vector[])
        ON CONFLICT (hash, face) DO NOTHING RETURNING label)
      SELECT label, count(*)::int AS n FROM ins GROUP BY label`;
    return this.retrying(() => this.client.transaction(async (tx) => {
      const drawn = await tx.query<{ id: string | number }>(
        `SELECT nextval(pg_get_serial_sequence($1, 'id')) AS id FROM generate_series(1, $2)`, [`facekit_g_${this.name}`, items.length]);
      const ids = drawn.rows.map((r) => Number(r.id)).sort((x, y) => x - y);
      let added = 0;
      const labels = new Set<string>();
      for (let c = 0; c < chunks.length; c++) {
        const part = order.slice(c * batch, (c + 1) * batch);
        const params = [...chunks[c]!, `{${part.map((j) => ids[j]).join(',')}}`];
        for (const r of (await tx.query<{ label: string; n: number }>(sql, params)).rows) {
          added += r.n;
          labels.add(r.label);
        }
      }
      if (added > 0) await this.moved(tx, added, { fresh: { labels: [...labels], ids } });
      return added;
    }));
  }

  /** Every face of `label` goes; returns how many (0 when nobody has that name). */
  async removePerson(label: string): Promise<number> {
    return this.deleteWhere('label = $1', [label]);
  }

  /** Every face of these images goes; returns how many. */
  async removeImages(hashes: string[]): Promise<number> {
    if (hashes.length === 0) return 0;
    return this.deleteWhere('hash = ANY($1::text[])', [textArray(hashes)]);
  }

  /** As InMemoryGallery.renamePerson: same rules, same messages. Returns the faces renamed. */
  async renamePerson(from: string, to: string, opts: { merge?: boolean; where?: string } = {}): Promise<number> {
    if (to.trim() === '') throw new FacekitError('usage', 'the new name is empty', opts.where);
    return this.client.transaction(async (tx) => {
      const r = await tx.query<{ label: string; n: number }>(
        `SELECT label, count(*)::int AS n FROM ${this.table} WHERE label = $1 OR label = $2 GROUP BY label`, [from, to]);
      const labels = new Map(r.rows.map((x) => [x.label, x.n]));
      if (!labels.has(from)) throw new FacekitError('usage', `no one called "${from}" in the gallery (see \`facekit db list\`)`, opts.where);
      if (from !== to && labels.has(to) && !opts.merge) {
        throw new FacekitError('usage', `"${to}" is already in the gallery (${labels.get(to)} faces); renaming "${from}" onto it would merge two people: pass --merge if they are one person`, opts.where);
      }
      const u = await tx.query<{ id: number | string }>(`UPDATE ${this.table} SET label = $2 WHERE label = $1 RETURNING id`, [from, to]);
      const ids = u.rows.map((r) => Number(r.id));
      await this.moved(tx, 0, from === to ? {} : { fresh: { labels: [to], ids }, emptied: [from] });
      return ids.length;
    });
  }

  /**
   * The `k` nearest identities, each with its closest face, nearest first: InMemoryGallery.search
   * on the same faces gives the same answer (`row` is the face's id here). The HNSW index gives
   * the nearest max(64, 16k) faces; when they hold fewer than k people, 4 times more; past what
   * the index can return, an exact scan keeps each person's nearest face.
   */
  async search(query: ArrayLike<number>, metric: Metric, k: number, opts: { efSearch?: number; exact?: boolean } = {}): Promise<Match[]> {
    const dim = this.meta.dim;
    if (query.length !== dim) {
      throw new FacekitError('model_mismatch', `query is a ${query.length}-d embedding, the gallery holds ${dim}-d ${this.meta.model} embeddings`);
    }
    if (k <= 0) return [];
    const op = metric === 'euclidean' ? '<->' : '<=>';
    // The index orders by its own operator; cosine and euclidean_l2 share one.
    const indexed = !opts.exact && dim <= HNSW_MAX_DIM && (op === '<->') === (this.meta.metric === 'euclidean');
    const q = vectorLiteral(query);
    const cols = 'id, label, image, hash, face, box, embedding::text AS e';
    let K = Math.max(64, 16 * k);
    const maxK = this.iterative ? ITERATIVE_MAX_K : EF_MAX;
    while (indexed && K <= maxK) {
      const rows = await this.client.transaction(async (tx) => {
        // Without an iterative scan, an HNSW scan returns at most ef_search rows, whatever the LIMIT.
        const ef = String(Math.min(EF_MAX, Math.max(K, opts.efSearch ?? EF_SEARCH_DEFAULT)));
        const settings = this.iterative
          ? [`set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.max_scan_tuples', $2, true)`, [ef, String(Math.max(20_000, 4 * K))]] as const
          : [`set_config('hnsw.ef_search', $1, true)`, [ef]] as const;
        // the index's frame as it is now, in the same round trip: another machine's `db reindex` is followed at once
        const angles = this.keepsCounts && this.meta.metric !== 'euclidean';
        const now = await tx.query<{ frame?: string | null }>(`SELECT ${settings[0]}${angles ? `, (SELECT frame FROM ${CATALOGUE} WHERE name = $${settings[1].length + 1}) AS frame` : ''}`,
          angles ? [...settings[1], this.name] : [...settings[1]]);
        if (angles && (now.rows[0]?.frame ?? undefined) !== this.frame?.literal) this.frame = parseFrame(now.rows[0]?.frame, dim);
        const f = this.frame;
        const order = f ? `${framedExpression(f, dim)} <=> $1::halfvec(${dim})` : `embedding ${op} $1::vector`;
        return (await tx.query<FaceRow>(`SELECT ${cols} FROM ${this.table} ORDER BY ${order} LIMIT ${K}`, [f ? framedQuery(f, query) : q])).rows;
      });
      if (new Set(rows.map((r) => r.label)).size >= k) return this.rank(rows, query, metric, k);
      if (rows.length < K) break; // a small table, or the index stopped early: scan
      K *= 4;
    }
    // Exact: each person's nearest face (DISTINCT ON), then the nearest of those, with some spare
    // rows so that float32 near-ties at the k-th place are settled by the JS distances.
    const r = await this.client.query<FaceRow>(
      `SELECT ${cols} FROM (
         SELECT DISTINCT ON (label) id, label, image, hash, face, box, embedding, embedding ${op} $1::vector AS d
           FROM ${this.table} ORDER BY label, d, id) best
       ORDER BY d, id LIMIT $2`, [q, 2 * k + 16]);
    return this.rank(r.rows, query, metric, k);
  }

  /**
   * Exact distances of the candidate faces, by the same formula as every other search path
   * (gallery-search.ts rowDistance), each person's best
   * face, the k nearest people. pgvector's own distances are float32 sums: only its order is used.
   */
  private rank(rows: FaceRow[], query: ArrayLike<number>, metric: Metric, k: number): Match[] {
    const dim = this.meta.dim;
    const v = new Float32Array(dim);
    const q = Float64Array.from(query);
    const qn = queryNorm(q);
    const scored = rows.map((r, i) => {
      parseVector(r.e, v, 0, dim);
      return { i, d: rowDistance(v, 0, dim, q, qn, metric === 'euclidean' ? 1 : queryNorm(v), metric) };
    });
    scored.sort((a, b) => a.d - b.d || Number(rows[a.i]!.id) - Number(rows[b.i]!.id));
    const seen = new Set<string>();
    const out: Match[] = [];
    for (const { i, d } of scored) {
      const r = rows[i]!;
      if (seen.has(r.label)) continue;
      seen.add(r.label);
      out.push({ label: r.label, distance: d, image: r.image, row: Number(r.id) });
      if (out.length === k) break;
    }
    return out;
  }

  /** All faces in batches, in the order they were added (by id): for export, tsne, toInMemory. */
  async *rows(batchSize = 10_000): AsyncGenerator<PgRows> {
    const dim = this.meta.dim;
    let last = 0;
    for (;;) {
      const r = await this.client.query<FaceRow>(
        `SELECT id, label, image, hash, face, box, embedding::text AS e FROM ${this.table} WHERE id > $1 ORDER BY id LIMIT $2`,
        [last, batchSize]);
      if (r.rows.length === 0) return;
      const vectors = new Float32Array(r.rows.length * dim);
      r.rows.forEach((x, i) => parseVector(x.e, vectors, i * dim, dim));
      yield { ids: r.rows.map((x) => Number(x.id)), entries: r.rows.map(toEntry), vectors };
      if (r.rows.length < batchSize) return;
      last = Number(r.rows[r.rows.length - 1]!.id);
    }
  }

  /** The whole gallery in memory (small galleries: its rows are array indexes there, not ids). */
  async toInMemory(): Promise<InMemoryGallery> {
    const entries: GalleryEntry[] = [];
    const parts: Float32Array[] = [];
    for await (const b of this.rows()) {
      for (const e of b.entries) entries.push(e);
      parts.push(b.vectors);
    }
    const vectors = new Float32Array(entries.length * this.meta.dim);
    let o = 0;
    for (const p of parts) { vectors.set(p, o); o += p.length; }
    return new InMemoryGallery({ ...this.meta }, entries, vectors, this.created);
  }

  /** Remove the gallery: its table and its catalogue row. */
  async drop(): Promise<void> {
    await this.client.transaction(async (tx) => {
      await tx.query(SCHEMA_LOCK);
      await tx.query(`DROP TABLE IF EXISTS ${this.table}`);
      await tx.query(`DELETE FROM ${CATALOGUE} WHERE name = $1`, [this.name]);
    });
  }

  private async deleteWhere(cond: string, params: unknown[]): Promise<number> {
    return this.client.transaction(async (tx) => {
      const d = await tx.query<{ label: string; n: number }>(`WITH d AS (DELETE FROM ${this.table} WHERE ${cond} RETURNING label) SELECT label, count(*)::int AS n FROM d GROUP BY label`, params);
      const n = d.rows.reduce((sum, r) => sum + r.n, 0);
      if (n > 0) await this.moved(tx, -n, { emptied: d.rows.map((r) => r.label) });
      return n;
    });
  }

  /** Run again a transaction that PostgreSQL rolled back as a deadlock victim or serialization failure. */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const s = sqlState(e);
        if (attempt >= 5 || (s !== '40P01' && s !== '40001')) throw e;
        await new Promise((r) => setTimeout(r, 20 * attempt * Math.random()));
      }
    }
  }
}

function toEntry(r: FaceRow): GalleryEntry {
  const e: GalleryEntry = { label: r.label, image: r.image, hash: r.hash, face: r.face };
  if (r.box) e.box = r.box;
  return e;
}
