/**
 * One error type for everything a user can cause: bad paths, bad images, bad records, bad options.
 * The command layer prints `facekit: <where>: <message>` on one line and exits with `exitCode`;
 * anything that is not a FacekitError is a bug and gets a stack trace only with --debug.
 */

/** Stable, machine-readable reasons, also used in `error` records. */
export type ErrorCode =
  | 'usage'
  | 'not_found'
  | 'unreadable'
  | 'empty_file'
  | 'not_an_image'
  | 'corrupt_image'
  | 'too_large'
  | 'no_images'
  | 'no_face'
  | 'bad_record'
  | 'schema_version'
  | 'missing_key'
  | 'bad_tensor'
  | 'model_mismatch'
  | 'bad_gallery'
  | 'gallery_locked'
  // anti-spoofing (--anti-spoof) judged a face a photo of a photo or of a screen
  | 'spoof'
  // a gallery in PostgreSQL: the server, the login, the database, the pgvector extension
  | 'db_unreachable'
  | 'db_auth'
  | 'db_missing'
  | 'db_no_pgvector'
  | 'db_permission'
  | 'db_error'
  | 'backend'
  // a warm engine's queue is full (a server under load): try again shortly
  | 'overloaded'
  // a model file that is there but cannot be read as the model it should be
  | 'bad_model'
  // a trained head (facekit train): missing, damaged, or for another recognizer
  | 'bad_head'
  // a long run stopped by its signal (Ctrl-C): what it finished is kept (a training checkpoint)
  | 'aborted'
  | 'internal';

export class FacekitError extends Error {
  readonly code: ErrorCode;
  /** What the error is about: a path, `stdin line 3`, an option name. */
  readonly where: string | undefined;
  /** 2 for bad usage or input (the CLI convention); 1 is reserved for clean negative answers. */
  readonly exitCode: number;

  /** A failure whose cause was already reported elsewhere (the CLI prints it only with --debug). */
  readonly quiet: boolean;

  constructor(code: ErrorCode, message: string, where?: string, exitCode = 2, quiet = false) {
    super(message);
    this.quiet = quiet;
    this.name = 'FacekitError';
    this.code = code;
    this.where = where;
    this.exitCode = exitCode;
  }

  /** The one line a user sees. */
  line(): string {
    return this.where ? `${this.where}: ${this.message}` : this.message;
  }
}

/** The `error` key of a record: what went wrong with one input, so that batch work can go on. */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
}

/**
 * The `error` of a record. A record already names its image and face, so a location is only
 * added to the message when it names something else (a tensor file, an aligned crop).
 */
export function toErrorInfo(err: unknown, recordWhere?: string): ErrorInfo {
  if (err instanceof FacekitError) {
    const elsewhere = err.where !== undefined && recordWhere !== undefined && err.where !== recordWhere && !recordWhere.startsWith(err.where);
    return { code: err.code, message: elsewhere ? `${err.where}: ${err.message}` : err.message };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message };
}

/** Turn a failed fs call into a FacekitError that names the path. */
export function fsError(err: unknown, path: string): FacekitError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new FacekitError('not_found', 'no such file or directory', path);
  if (code === 'EACCES' || code === 'EPERM') return new FacekitError('unreadable', 'permission denied', path);
  if (code === 'EISDIR') return new FacekitError('unreadable', 'is a directory, expected a file', path);
  const msg = err instanceof Error ? err.message : String(err);
  return new FacekitError('unreadable', msg, path);
}
