/**
 * The one SQL interface the PostgreSQL gallery store needs, with two implementations: a `pg` pool
 * for a PostgreSQL server, and PGlite (PostgreSQL in WebAssembly, in-process) with its pgvector
 * build, for tests and embedded use. Both drivers are imported only when a database is opened:
 * the CLI does not pay for them at start-up.
 *
 * A gallery on PostgreSQL is named by a URL: `postgres://user@host:port/dbname?gallery=NAME`
 * (`postgresql://` too), or `pglite:` (in memory) / `pglite:/some/dir?gallery=NAME`.
 *
 * Also here: pgvector's text format, its set-up, and the distances as InMemoryGallery computes them.
 *
 * Every driver error that a user can cause (server down, wrong password, no such database, no
 * pgvector) becomes a one-line FacekitError whose `where` is the URL without its password.
 */
import type { PGliteInterface } from '@electric-sql/pglite';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { FacekitError, type ErrorCode } from '../../core/errors.js';
import { acquireLockWaiting } from '../gallery-lock.js';

export interface SqlResult<T> {
  rows: T[];
}

export interface SqlClient {
  /** the database, for messages: the URL without its password */
  readonly where: string;
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<SqlResult<T>>;
  /** Run `fn` in one transaction (BEGIN/COMMIT, ROLLBACK when it throws); inside one, just runs it. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Database failures a user can cause. */
export type DbErrorCode = Extract<ErrorCode, `db_${string}`>;

export function dbError(code: DbErrorCode, message: string, where?: string): FacekitError {
  return new FacekitError(code, message, where);
}

/** The SQLSTATE of a driver error, or of the error a FacekitError made by mapDbError wraps. */
export function sqlState(err: unknown): string | undefined {
  const e = err instanceof FacekitError ? err.cause : err;
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export const GALLERY_NAME = /^[a-z][a-z0-9_]{0,40}$/;
export const DEFAULT_GALLERY_NAME = 'gallery';

/** pgvector's ceiling for hnsw.ef_search (an HNSW scan returns at most this many rows). */
export const EF_SEARCH_MAX = 1000;

/**
 * pgvector's hnsw.ef_search for searches, at least (PgGallery.search raises it to the number of
 * faces it asks for: 64 for one person). Measured on a million synthetic faces spread as LFW's (issue 25, 200 fresh faces of known people,
 * PostgreSQL 17 + pgvector 0.8 on this 2-core machine): the framed index (pgvector.ts PgFrame)
 * named the exact search's person for 195 of 200 queries at 64 (p50 10.5 ms), 200 at 100 (p50
 * 11.6 ms), 150 (15.8 ms) and 400 (35.6 ms). The raw index had needed 600 for 199 (p50 54 ms).
 */
export const EF_SEARCH_DEFAULT = 100;

interface TargetCommon {
  gallery: string;
  where: string;
  /** `?ef_search=N`: pgvector's HNSW candidate list for searches (more: closer to exact, slower) */
  efSearch?: number;
}

export type DbTarget =
  | ({ kind: 'postgres'; /** for pg: without facekit's parameters */ url: string } & TargetCommon)
  | ({ kind: 'pglite'; /** undefined: in memory */ dataDir: string | undefined } & TargetCommon);

/** `ef_search=N` of a database URL: an integer from 1 to EF_SEARCH_MAX, or absent. */
function efSearchOf(params: URLSearchParams, where: string): { efSearch?: number } {
  const raw = params.get('ef_search');
  if (raw === null) return {};
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > EF_SEARCH_MAX) {
    throw new FacekitError('usage', `ef_search must be an integer from 1 to ${EF_SEARCH_MAX}, got "${raw}"`, where);
  }
  return { efSearch: n };
}

/** Whether a --db value names a database rather than a gallery file. */
export function isDbUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec) || /^pglite:/i.test(spec);
}

export function checkGalleryName(name: string, where?: string): string {
  if (!GALLERY_NAME.test(name)) {
    throw new FacekitError('usage', `gallery name "${name}" must be a lower-case letter then up to 40 lower-case letters, digits or _`, where);
  }
  return name;
}

/** The URL without its password (nor a `password` parameter): safe to print. */
export function redactUrl(spec: string): string {
  try {
    const u = new URL(spec);
    if (u.password) u.password = '';
    u.searchParams.delete('password');
    return u.toString();
  } catch {
    return spec.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1@');
  }
}

export function parseDbUrl(spec: string): DbTarget {
  if (/^pglite:/i.test(spec)) {
    const rest = spec.slice('pglite:'.length);
    const q = rest.indexOf('?');
    const path = q < 0 ? rest : rest.slice(0, q);
    const params = new URLSearchParams(q < 0 ? '' : rest.slice(q + 1));
    const gallery = checkGalleryName(params.get('gallery') ?? DEFAULT_GALLERY_NAME, spec);
    const dataDir = path === '' || path === 'memory' || path === '//memory' ? undefined : path;
    return { kind: 'pglite', dataDir, gallery, where: spec, ...efSearchOf(params, spec) };
  }
  if (!/^postgres(ql)?:\/\//i.test(spec)) {
    throw new FacekitError('usage', 'a database URL starts with postgres://, postgresql:// or pglite:', spec);
  }
  const where = redactUrl(spec);
  let u: URL;
  try {
    u = new URL(spec);
  } catch {
    throw new FacekitError('usage', 'not a valid URL (postgres://user@host:port/dbname?gallery=NAME)', where);
  }
  const gallery = checkGalleryName(u.searchParams.get('gallery') ?? DEFAULT_GALLERY_NAME, where);
  const ef = efSearchOf(u.searchParams, where);
  // facekit's parameters are not the driver's
  u.searchParams.delete('gallery');
  u.searchParams.delete('ef_search');
  return { kind: 'postgres', url: u.toString(), gallery, where, ...ef };
}

/**
 * Open the client a parsed URL names. `create`: a PGlite folder that is not there yet may be made
 * (a write); a read never creates one.
 */
export function openDb(target: DbTarget, opts: { create?: boolean } = {}): Promise<SqlClient> {
  return target.kind === 'postgres' ? connectPostgres(target.url, target.where) : openPglite(target.dataDir, opts);
}

/** Connection failures, by Node's error code. */
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused: is the PostgreSQL server running, on this host and port?',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved (DNS)',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'the server closed the connection',
  EPIPE: 'the server closed the connection',
};

/** A driver error as a one-line FacekitError (the original kept as `cause`); other errors as they are. */
export function mapDbError(err: unknown, where: string): unknown {
  if (err instanceof FacekitError || !(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  const msg = err.message.split('\n')[0]!;
  const make = (c: DbErrorCode, m: string) => {
    const e = dbError(c, m, where);
    (e as { cause?: unknown }).cause = err;
    return e;
  };
  if (typeof code === 'string' && UNREACHABLE[code]) return make('db_unreachable', `cannot reach the database server: ${UNREACHABLE[code]}`);
  if (/timeout expired|connection timeout|Connection terminated unexpectedly/i.test(msg)) {
    return make('db_unreachable', `cannot reach the database server: ${/timeout/i.test(msg) ? 'no answer within 5 s' : msg}`);
  }
  if (/SASL|client password must be a string/.test(msg)) return make('db_auth', 'the server asks for a password and none was given (put it in the URL, PGPASSWORD or ~/.pgpass)');
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return err;
  if (code.startsWith('08') || code === '57P01' || code === '57P03' || code === '53300') return make('db_unreachable', `the database server is not available: ${msg}`);
  if (code.startsWith('28')) return make('db_auth', `${msg} (check the user and password: URL, PGPASSWORD or ~/.pgpass)`);
  if (code === '3D000') {
    const name = /database "(.*)" does not exist/.exec(msg)?.[1] ?? 'NAME';
    return make('db_missing', `${msg}: create it first (createdb ${name}, or CREATE DATABASE ${name})`);
  }
  if (/extension "vector"|type "vector" does not exist/.test(msg)) return make('db_no_pgvector', `${msg}: ${PGVECTOR_HINT}`);
  if (code === '42501') return make('db_permission', msg);
  return make('db_error', `${msg} (SQLSTATE ${code})`);
}

export const PGVECTOR_HINT =
  'the pgvector package must be installed on the server (e.g. apt install postgresql-17-pgvector, or build it from github.com/pgvector/pgvector), then CREATE EXTENSION vector in the database';

/** `pg` keeps int8 and numeric as strings; our queries cast what they need. */
export async function connectPostgres(url: string, where = redactUrl(url), opts: { max?: number; connectTimeoutMs?: number } = {}): Promise<SqlClient> {
  const { default: pg } = await import('pg');
  const u = new URL(url);
  u.searchParams.delete('gallery');
  const pool = new pg.Pool({
    connectionString: u.toString(),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    max: opts.max ?? 4,
    application_name: 'facekit',
  });
  // An idle connection that the server drops must not crash the process: the next query reports it.
  pool.on('error', () => {});
  type Queryable = { query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }> };
  const wrap = (q: Queryable, inTx: boolean): SqlClient => {
    const self: SqlClient = {
      where,
      async query<T>(text: string, params?: unknown[]) {
        try {
          const r = await q.query(text, params);
          return { rows: r.rows as T[] };
        } catch (e) {
          throw mapDbError(e, where);
        }
      },
      async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
        if (inTx) return fn(self);
        let c: import('pg').PoolClient;
        try {
          c = await pool.connect();
        } catch (e) {
          throw mapDbError(e, where);
        }
        let broken: Error | undefined;
        try {
          await c.query('BEGIN');
          const r = await fn(wrap(c, true));
          await c.query('COMMIT');
          return r;
        } catch (e) {
          await c.query('ROLLBACK').catch((re: Error) => { broken = re; });
          throw mapDbError(e, where);
        } finally {
          c.release(broken);
        }
      },
      async close() {
        if (!inTx) await pool.end();
      },
    };
    return self;
  };
  const client = wrap(pool, false);
  try {
    await client.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => {});
    throw e;
  }
  return client;
}

/** An existing PGlite instance as a SqlClient (it must have the pgvector extension to hold galleries). */
export function pgliteClient(db: PGliteInterface, where: string, closeDb = true): SqlClient {
  type Q = Pick<PGliteInterface, 'query'>;
  const wrap = (q: Q, inTx: boolean): SqlClient => {
    const self: SqlClient = {
      where,
      async query<T>(text: string, params?: unknown[]) {
        try {
          const r = await q.query<T>(text, params);
          return { rows: r.rows };
        } catch (e) {
          throw pgliteFailure(e, where);
        }
      },
      async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
        if (inTx) return fn(self);
        try {
          return await db.transaction((tx) => fn(wrap(tx, true)));
        } catch (e) {
          throw pgliteFailure(e, where);
        }
      },
      async close() {
        if (!inTx && closeDb && !db.closed) await db.close();
      },
    };
    return self;
  };
  return wrap(db, false);
}

/**
 * PGlite with pgvector: in memory without `dataDir`, else kept in that directory. One process
 * only: two PGlite instances on one directory corrupt it. Queries on one instance run one at a
 * time, and a transaction holds the whole database until it ends.
 */
export async function openPglite(dataDir?: string, opts: { create?: boolean; waitMs?: number; openMs?: number } = {}): Promise<SqlClient> {
  const where = dataDir === undefined ? 'pglite:' : `pglite:${dataDir}`;
  if (dataDir === undefined) return pgliteClient(await startPglite(undefined, where, opts.openMs), where);
  // One instance per folder in this process, shared (PGlite queues its queries), closed with its last user.
  const key = resolve(dataDir);
  let shared = openFolders.get(key);
  if (!shared) {
    const opening = (async () => {
      // one process at a time: the folder's lock (beside it) is held while the database is open;
      // another facekit waits a little, then is told
      const release = await lockPglite(dataDir, where, opts);
      try {
        return { db: await startPglite(dataDir, where, opts.openMs), release };
      } catch (e) {
        release();
        throw e;
      }
    })();
    shared = { opening, users: 0 };
    openFolders.set(key, shared);
    opening.catch(() => openFolders.delete(key));
  }
  const entry = shared;
  const { db } = await entry.opening;
  entry.users++;
  const client = pgliteClient(db, where, false);
  let closed = false;
  return {
    ...client,
    close: async () => {
      if (closed) return;
      closed = true;
      if (--entry.users > 0) return;
      openFolders.delete(key);
      try {
        if (!db.closed) await db.close();
      } finally {
        (await entry.opening).release();
      }
    },
  };
}

/** PGlite folders open in this process, by absolute path. */
const openFolders = new Map<string, { opening: Promise<{ db: PGliteInterface; release: () => void }>; users: number }>();

/** PGlite with pgvector, within `openMs` (a damaged folder can keep it starting forever). */
async function startPglite(dataDir: string | undefined, where: string, openMs = 60_000): Promise<PGliteInterface> {
  const [{ PGlite }, { vector }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-pgvector')]);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(dbError('db_error', `the PGlite database did not open within ${openMs / 1000} s: its files may be damaged`, where)), openMs);
    timer.unref();
  });
  try {
    return await Promise.race([PGlite.create({ ...(dataDir === undefined ? {} : { dataDir }), extensions: { vector } }), late]);
  } catch (e) {
    if (e instanceof FacekitError) throw e;
    throw dbError('db_error', `cannot open the PGlite database (${pgliteMessage(e)}): its files may be damaged`, where);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Take a PGlite folder's lock, after checking that the folder is one: a read never makes a
 * database where there was none, and a folder that lost its PG_VERSION is damaged, not empty.
 */
async function lockPglite(dataDir: string, where: string, opts: { create?: boolean; waitMs?: number }): Promise<() => void> {
  const files = existsSync(dataDir) ? readdirSync(dataDir) : undefined;
  if (files === undefined || files.length === 0) {
    if (!opts.create) throw new FacekitError('not_found', 'no PGlite database here (build one with `facekit build-db DIR --db pglite:DIR`)', where);
    mkdirSync(dataDir, { recursive: true });
  } else if (!files.includes('PG_VERSION')) {
    throw dbError('db_error', 'this folder is not a PGlite database, or a damaged one (it has no PG_VERSION); nothing was changed', where);
  }
  try {
    return await acquireLockWaiting(dataDir.replace(/[\\/]+$/, ''), opts.waitMs ?? 5000);
  } catch (e) {
    if (e instanceof FacekitError && e.code === 'gallery_locked') {
      throw new FacekitError('gallery_locked', `${e.message.replace(/^gallery is being written by/, 'the PGlite database is open in')}; PGlite serves one process at a time (PostgreSQL serves many)`, where);
    }
    throw e;
  }
}

/**
 * A failure of a PGlite query as the user reads it: a driver error as mapDbError maps it; a WASM
 * abort ("Aborted(). Build with -sASSERTIONS...") or a thrown non-Error is a one-line db_error,
 * not an internal error; facekit's own errors (from a transaction's body) as they are.
 */
function pgliteFailure(e: unknown, where: string): unknown {
  if (e instanceof FacekitError) return e;
  if (e instanceof Error && !/^Aborted\(\)/.test(e.message)) return mapDbError(e, where);
  return dbError('db_error', `the PGlite database failed (${pgliteMessage(e)})`, where);
}

/** A PGlite failure in words: its WASM aborts and non-Error throws say little by themselves. */
function pgliteMessage(e: unknown): string {
  if (e instanceof Error) {
    const first = e.message.split('\n')[0]!;
    return /^Aborted\(\)/.test(first) ? 'PGlite stopped with an internal error' : first;
  }
  if (typeof e === 'object' && e !== null) return (e as { message?: string }).message ?? JSON.stringify(e).slice(0, 200);
  return String(e);
}
