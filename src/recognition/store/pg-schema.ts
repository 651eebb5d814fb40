/**
 * The PostgreSQL schema of galleries: a catalogue `facekit_galleries` (one row per gallery: model,
 * dim, metric, ..., the frame of its HNSW index, and its counts of faces and people, which every
 * change moves) and one table per gallery `facekit_g_<name>` with its indexes: by label, by photo,
 * and HNSW over the embeddings (framed for angles, pgvector.ts PgFrame; raw vector_l2_ops for euclidean).
 */
import { FacekitError } from '../../core/errors.js';
import type { Metric } from '../../models/catalogue.js';
import type { GalleryMeta } from '../gallery.js';
import { ensurePgvector, framedExpression, parseFrame, textArray, type PgFrame } from './pgvector.js';
import { checkGalleryName, sqlState, type SqlClient } from './sql-client.js';

export const CATALOGUE = 'facekit_galleries';
/** One advisory lock for schema changes (creating the extension, the catalogue, a gallery): "face", 1. */
export const SCHEMA_LOCK = 'SELECT pg_advisory_xact_lock(1717658469, 1)';
export const METRICS: readonly Metric[] = ['cosine', 'euclidean', 'euclidean_l2'];
/** pgvector's HNSW indexes vectors of up to 2000 dimensions; wider galleries are searched exactly. */
export const HNSW_MAX_DIM = 2000;
const opsFor = (metric: Metric) => (metric === 'euclidean' ? 'vector_l2_ops' : 'vector_cosine_ops');

/** A gallery's table, its indexes and its catalogue row (and the catalogue, when it is the first), unless there. */
export async function createGalleryTables(client: SqlClient, name: string, meta: GalleryMeta, mode: 'create' | 'openOrCreate', deferIndex: boolean): Promise<void> {
  checkGalleryName(name, client.where);
  if (meta.head) throw new FacekitError('usage', 'a gallery with a head (build-db --head) is a file gallery for now: give --db FILE.json', client.where);
  if (!Number.isInteger(meta.dim) || meta.dim < 1 || meta.dim > 16000) throw new FacekitError('usage', `a gallery's dimension must be 1..16000, not ${meta.dim}`, client.where);
  if (!METRICS.includes(meta.metric)) throw new FacekitError('usage', `unknown metric ${meta.metric}`, client.where);
  await client.transaction(async (tx) => {
    // Two processes creating at once: the second waits here, then finds everything there.
    await tx.query(SCHEMA_LOCK);
    await ensurePgvector(tx);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${CATALOGUE} (
      name text PRIMARY KEY, model text NOT NULL, dim int NOT NULL, metric text NOT NULL, flip bool NOT NULL,
      detector text NOT NULL, created timestamptz NOT NULL DEFAULT now(), updated timestamptz NOT NULL DEFAULT now(),
      frame text, faces bigint, people bigint)`);
    await addColumns(tx);
    const exists = await tx.query(`SELECT 1 FROM ${CATALOGUE} WHERE name = $1`, [name]);
    if (exists.rows.length > 0) {
      if (mode === 'create') throw new FacekitError('usage', `a gallery called "${name}" already exists`, client.where);
      return;
    }
    const t = `facekit_g_${name}`;
    await tx.query(`CREATE TABLE IF NOT EXISTS "${t}" (
      id bigserial PRIMARY KEY, label text NOT NULL, image text NOT NULL, hash text NOT NULL, face int NOT NULL,
      box jsonb, embedding vector(${meta.dim}) NOT NULL, added timestamptz NOT NULL DEFAULT now(), UNIQUE (hash, face))`);
    await tx.query(`CREATE INDEX IF NOT EXISTS "${t}_label" ON "${t}" (label)`);
    // a search answer names a photo; its entry is looked up by it (a scan of every row without this)
    await tx.query(`CREATE INDEX IF NOT EXISTS "${t}_image" ON "${t}" (image)`);
    if (!deferIndex && meta.dim <= HNSW_MAX_DIM) {
      await tx.query(`CREATE INDEX IF NOT EXISTS "${t}_hnsw" ON "${t}" USING hnsw (embedding ${opsFor(meta.metric)})`);
    }
    await tx.query(`INSERT INTO ${CATALOGUE} (name, model, dim, metric, flip, detector, faces, people) VALUES ($1, $2, $3, $4, $5, $6, 0, 0)`,
      [name, meta.model, meta.dim, meta.metric, meta.flip, meta.detector]);
  });
}

/**
 * PgGallery.ensureIndex: the photo index, and the HNSW index unless there is one (or `reframe`).
 * Returns the gallery's frame after it.
 */
export async function buildIndexes(client: SqlClient, name: string, meta: GalleryMeta, frame: PgFrame | undefined,
  opts: { maintenanceWorkMem?: string; reframe?: boolean }): Promise<PgFrame | undefined> {
  const t = `facekit_g_${name}`;
  const table = `"${t}"`;
  const dim = meta.dim;
  const raw = `CREATE INDEX IF NOT EXISTS "${t}_hnsw" ON ${table} USING hnsw (embedding ${opsFor(meta.metric)})`;
  return client.transaction(async (tx) => {
    if (opts.maintenanceWorkMem) await tx.query(`SELECT set_config('maintenance_work_mem', $1, true)`, [opts.maintenanceWorkMem]);
    await tx.query(`CREATE INDEX IF NOT EXISTS "${t}_image" ON ${table} (image)`);
    if (dim > HNSW_MAX_DIM) return undefined;
    if (meta.metric === 'euclidean') return void (await tx.query(raw));
    const has = (await tx.query<{ raw: boolean; framed: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS raw, to_regclass($2) IS NOT NULL AS framed`, [`${t}_hnsw`, `${t}_frame`])).rows[0]!;
    if (!opts.reframe && (has.raw || has.framed)) return frame;
    const mean = (await tx.query<{ c: string | null }>(`SELECT avg(l2_normalize(embedding))::text AS c FROM ${table}`)).rows[0]!.c;
    if (mean === null) return void (await tx.query(raw)); // no faces: no mean direction yet
    const f = parseFrame(mean, dim)!;
    await tx.query(`UPDATE ${CATALOGUE} SET frame = $2 WHERE name = $1`, [name, f.literal]);
    await tx.query(`DROP INDEX IF EXISTS "${t}_frame"`);
    await tx.query(`CREATE INDEX "${t}_frame" ON ${table} USING hnsw (${framedExpression(f, dim)} halfvec_cosine_ops)`);
    await tx.query(`DROP INDEX IF EXISTS "${t}_hnsw"`);
    return f;
  });
}

/**
 * Columns of the catalogue that older facekits did not make: `frame` (of the HNSW index), and
 * `faces` / `people` (kept counts; NULL until first counted).
 */
async function addColumns(tx: SqlClient): Promise<void> {
  const r = await tx.query<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_name = '${CATALOGUE}' AND table_schema = current_schema()`);
  const have = new Set(r.rows.map((x) => x.c));
  for (const [c, type] of [['frame', 'text'], ['faces', 'bigint'], ['people', 'bigint']]) {
    if (!have.has(c!)) await tx.query(`ALTER TABLE ${CATALOGUE} ADD COLUMN IF NOT EXISTS ${c} ${type}`);
  }
}

/**
 * An older catalogue, opened: its new columns are added (under the schema lock), unless this user
 * may not change it; then counts are counted as before. Returns whether the catalogue keeps counts.
 */
export async function addCatalogueColumns(client: SqlClient): Promise<boolean> {
  try {
    await client.transaction(async (tx) => {
      await tx.query(SCHEMA_LOCK);
      await addColumns(tx);
    });
    return true;
  } catch (e) {
    if (sqlState(e) === '42501') return false;
    throw e;
  }
}

export interface Counts {
  people: number;
  faces: number;
}

/** The counts a catalogue row keeps (NULL: not counted yet). */
const KEPT = `SELECT faces::float8 AS faces, people::float8 AS people FROM ${CATALOGUE} WHERE name = $1`;

/** A gallery's counts as its catalogue row keeps them; undefined when not counted yet (a gallery from before kept counts). */
export async function keptCounts(client: SqlClient, name: string): Promise<Counts | undefined> {
  const r = (await client.query<{ faces: number | null; people: number | null }>(KEPT, [name])).rows[0];
  return r && r.faces !== null && r.people !== null ? { faces: r.faces, people: r.people } : undefined;
}

/** Count every face and person of `table`; `keep`: and keep the counts in the catalogue, returning what it said before. */
export async function recountInto(client: SqlClient, name: string, table: string, keep: boolean): Promise<{ counted: Counts; kept?: { people: number | null; faces: number | null } }> {
  const counting = `SELECT count(*)::float8 AS faces, count(DISTINCT label)::float8 AS people FROM ${table}`;
  if (!keep) return { counted: (await client.query<Counts>(counting)).rows[0]! };
  return client.transaction(async (tx) => {
    const kept = (await tx.query<{ faces: number | null; people: number | null }>(`${KEPT} FOR UPDATE`, [name])).rows[0];
    const c = (await tx.query<Counts>(counting)).rows[0]!;
    await tx.query(`UPDATE ${CATALOGUE} SET faces = $2, people = $3 WHERE name = $1`, [name, c.faces, c.people]);
    return { counted: { faces: c.faces, people: c.people }, ...(kept ? { kept } : {}) };
  });
}

/**
 * A change's last step, in its transaction: the catalogue's `updated` and its counts move. The
 * catalogue row is locked first, so that what other writers of this gallery committed meanwhile
 * is seen: `fresh` labels (of rows with these ids) are new people when no other row has them,
 * `emptied` ones are gone when no row has them any more. Last, so that concurrent changes hold
 * the catalogue row only while they commit.
 */
export async function moveCounts(tx: SqlClient, name: string, table: string, faces: number, opts: { fresh?: { labels: string[]; ids: number[] }; emptied?: string[] }): Promise<void> {
  await tx.query(`SELECT 1 FROM ${CATALOGUE} WHERE name = $1 FOR UPDATE`, [name]);
  let people = 0;
  const count = async (sql: string, params: unknown[]) => (await tx.query<{ n: number }>(sql, params)).rows[0]!.n;
  if (opts.fresh?.labels.length) {
    people += await count(`SELECT count(*)::int AS n FROM unnest($1::text[]) AS l(label)
      WHERE NOT EXISTS (SELECT 1 FROM ${table} t WHERE t.label = l.label AND t.id <> ALL($2::bigint[]))`, [textArray(opts.fresh.labels), `{${opts.fresh.ids.join(',')}}`]);
  }
  if (opts.emptied?.length) {
    people -= await count(`SELECT count(*)::int AS n FROM unnest($1::text[]) AS l(label) WHERE NOT EXISTS (SELECT 1 FROM ${table} t WHERE t.label = l.label)`, [textArray(opts.emptied)]);
  }
  await tx.query(`UPDATE ${CATALOGUE} SET updated = now(), faces = faces + $2, people = people + $3 WHERE name = $1`, [name, faces, people]);
}
