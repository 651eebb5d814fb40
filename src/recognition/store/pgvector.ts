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
