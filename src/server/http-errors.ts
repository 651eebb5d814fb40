/**
 * Errors over HTTP: every failure is answered with `{error: {code, message}}` and a status that
 * says whose fault it is. The codes are the CLI's (FacekitError) plus a few that only a server has.
 */
import { FacekitError, type ErrorInfo } from '../core/errors.js';

export type ServerErrorCode =
  | ErrorInfo['code']
  | 'bad_request'
  | 'bad_json'
  | 'unknown_field'
  | 'unsupported_media_type'
  | 'empty_gallery'
  | 'overloaded'
  | 'timeout'
  | 'stopping'
  | 'unauthorized'
  | 'worker_lost';

export interface ErrorBody {
  error: { code: string; message: string };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ServerErrorCode,
    message: string,
    /** seconds, for 503: when trying again is likely to work */
    readonly retryAfter?: number,
    /** more headers for the answer, e.g. WWW-Authenticate */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

/** The HTTP status for each error code a stage or the gallery can raise. */
const STATUS: Partial<Record<ServerErrorCode, number>> = {
  usage: 400,
  bad_request: 400,
  bad_json: 400,
  unauthorized: 401,
  unknown_field: 400,
  bad_record: 400,
  missing_key: 400,
  not_found: 404,
  unsupported_media_type: 415,
  not_an_image: 415,
  empty_file: 422,
  corrupt_image: 422,
  no_face: 422,
  spoof: 422,
  bad_tensor: 422,
  too_large: 413,
  model_mismatch: 409,
  gallery_locked: 409,
  empty_gallery: 409,
  // the served gallery is empty or damaged: the request is fine, the gallery cannot answer it
  bad_gallery: 409,
  overloaded: 503,
  timeout: 503,
  stopping: 503,
  worker_lost: 503,
};

export function statusFor(code: string): number {
  return STATUS[code as ServerErrorCode] ?? 500;
}

/** A stage's error (a FacekitError or an error record's {code, message}) as an HttpError. */
export function fromFacekit(err: FacekitError | ErrorInfo, where?: string): HttpError {
  const message = err instanceof FacekitError ? err.message : err.message;
  const prefix = where ? `${where}: ` : '';
  return new HttpError(statusFor(err.code), err.code, prefix + message);
}

export const badRequest = (message: string) => new HttpError(400, 'bad_request', message);

/** More images in one request than the server takes (serve --max-batch): a size limit, like the body's. */
export const tooManyImages = (message: string) => new HttpError(413, 'too_large', message);
