/**
 * The small vocabulary the OpenAPI document of `facekit serve` is written in (openapi.ts for
 * facekit's own API, openapi-compat.ts for the APIs it replaces): JSON Schema shorthands and the
 * answers many operations share.
 */
export type Schema = Record<string, unknown>;

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const num: Schema = { type: 'number' };
export const int: Schema = { type: 'integer' };
export const str: Schema = { type: 'string' };
export const bool: Schema = { type: 'boolean' };
export const arr = (items: Schema): Schema => ({ type: 'array', items });
export const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({
  type: 'object', properties, required,
});
export const nullable = (s: Schema): Schema => ({ ...s, type: [s.type as string, 'null'] });
export const binary: Schema = { type: 'string', format: 'binary' };

export const errorResponse = (description: string): Schema => ({ description, content: { 'application/json': { schema: ref('Error') } } });
export const busy: Schema = {
  description: 'overloaded (the queue for model work is full), over the time limit (serve --timeout), or shutting down: try again after Retry-After seconds',
  headers: { 'Retry-After': { schema: int, description: 'seconds' } },
  content: { 'application/json': { schema: ref('Error') } },
};
export const ok = (description: string, schema: Schema): Schema => ({ description, content: { 'application/json': { schema } } });

/** Errors every image endpoint may answer. */
export const imageErrors: Record<string, Schema> = {
  400: errorResponse('malformed request: bad JSON (bad_json), a field this endpoint does not take (unknown_field), a missing or bad value, a multipart body that ended early (bad_request), a threshold outside its metric\'s range (usage)'),
  413: errorResponse('too large: the body is over serve --body-limit, more images than serve --max-batch, or the image over --max-pixels (too_large)'),
  415: errorResponse('not an image (not_an_image), or a Content-Type other than JSON, multipart or image/* (unsupported_media_type)'),
  422: errorResponse('an image that cannot be used: no face found (no_face), damaged or truncated (corrupt_image), empty (empty_file)'),
  503: busy,
};
