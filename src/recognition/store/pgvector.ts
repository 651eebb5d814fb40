/**
 * pgvector and PostgreSQL literals: text arrays and vectors as both drivers pass them, pgvector's
 * text output parsed back, its version's features, and its set-up in a database.
 */
import { FacekitError } from '../../core/errors.js';
import { dbError, PGVECTOR_HINT, sqlState, type SqlClient } from './sql-client.js';

/** A Postgres array literal of text elements (`{"a","b\"c",NULL}`): both drivers pass it as is. */
export function textArray(items: readonly (string | null | undefined)[]): string {
  return `{${items.map((s) => (s == null ? 'NULL' : `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`)).join(',')}}`;
}

/** A vector as pgvector's text input: 9 significant digits give back the float32 exactly. */
export function vectorLiteral(v: ArrayLike<number>): string {
  let s = '[';
  for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + Math.fround(v[i]!).toPrecision(9);
  return s + ']';
}

/** pgvector's text output ('[1,2.5,-3e-05]', as both drivers return it) into `out` at `offset`. */
export function parseVector(text: string, out: Float32Array, offset: number, dim: number): void {
  const parts = text.slice(1, -1).split(',');
  if (parts.length !== dim) throw new FacekitError('bad_gallery', `a stored vector has ${parts.length} values, not ${dim}`);
  for (let k = 0; k < dim; k++) out[offset + k] = +parts[k]!;
}

/** pgvector ≥ 0.8 (hnsw.iterative_scan), from its extversion. */
export function iterativeScan(version: string | null | undefined): boolean {
  const [maj, min] = (version ?? '0.0').split('.').map(Number);
  return maj! > 0 || min! >= 8;
}

/** `CREATE EXTENSION vector` unless it is there, with a clear message when it cannot be. */
export async function ensurePgvector(tx: SqlClient): Promise<void> {
  const r = await tx.query<{ installed: string | null; available: boolean; db: string; usr: string; ver: string }>(
    `SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed,
            EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available,
            current_database() AS db, current_user AS usr, current_setting('server_version_num') AS ver`);
  const s = r.rows[0]!;
  if (s.installed) return;
  if (!s.available) {
    const major = Math.floor(Number(s.ver) / 10000);
    throw dbError('db_no_pgvector', `this PostgreSQL server has no pgvector: ${PGVECTOR_HINT.replace('postgresql-17-pgvector', `postgresql-${major}-pgvector`)}`, tx.where);
  }
  try {
    await tx.query('CREATE EXTENSION IF NOT EXISTS vector');
  } catch (e) {
    if (sqlState(e) === '42501') {
      throw dbError('db_no_pgvector',
        `pgvector is installed on the server but not enabled in database "${s.db}", and user "${s.usr}" may not enable it: ask a superuser to run CREATE EXTENSION vector in it`, tx.where);
    }
    throw e;
  }
}

/**
 * How faces enter the HNSW index of a gallery of angles (cosine, euclidean_l2): made unit length,
 * less the gallery's mean direction, in half precision. Face embeddings share a common direction,
 * so the graph of their raw angles needs a long candidate list to find a face's neighbours: over
 * 200 000 synthetic faces (issue 25's scratch experiment, 200 fresh faces of known people, 64
 * candidates re-ranked exactly), the raw index named the exact search's person for 186/200 at
 * ef_search 40 and needed 200 (p50 7.2 ms); framed, 199/200 at 40 and 200/200 at 100 (p50 3.6 ms).
 * The mean is fixed when the index is built; `facekit db reindex` takes it anew.
 */
export interface PgFrame {
  /** the mean direction as pgvector's text, exactly as the index expression holds it */
  literal: string;
  center: Float64Array;
}

/** A frame from the catalogue's text (null: the gallery's index is of raw vectors). */
export function parseFrame(text: string | null | undefined, dim: number): PgFrame | undefined {
  if (text == null) return undefined;
  const center = Float64Array.from(text.slice(1, -1).split(','), Number);
  if (center.length !== dim || !center.every(Number.isFinite)) throw new FacekitError('bad_gallery', `the gallery's index frame has ${center.length} values, not ${dim} numbers: rebuild it with \`facekit db reindex\``);
  return { literal: text, center };
}

/** The indexed expression; a query's ORDER BY must spell it the same for PostgreSQL to use the index. */
export function framedExpression(frame: PgFrame, dim: number): string {
  return `((l2_normalize(embedding) - '${frame.literal}'::vector)::halfvec(${dim}))`;
}

/** A query as the framed index compares it: unit length, less the frame's centre. */
export function framedQuery(frame: PgFrame, query: ArrayLike<number>): string {
  let n = 0;
  for (let k = 0; k < query.length; k++) n += query[k]! * query[k]!;
  n = Math.sqrt(n) || 1;
  return vectorLiteral(Array.from(query, (x, k) => x / n - frame.center[k]!));
}
