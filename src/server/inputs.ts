/**
 * Reading a request: images arrive as multipart uploads, as base64 / data: URLs in JSON or in
 * form fields, or as the raw body (Content-Type image/*); options come from the body or the query
 * string. Each endpoint declares the fields it takes, so that a misspelt field is a 400 that
 * names the right ones instead of a silent default.
 */
import type { FastifyRequest } from 'fastify';
import type { MultipartFile, MultipartValue } from '@fastify/multipart';
import { isDetectorId, isMetric, isRecognizerId, DETECTORS, METRICS, RECOGNIZERS } from '../index.js';
import { decodeBase64Image, looksLikeImageBytes } from '../core/image.js';
import { badRequest, HttpError, tooManyImages } from './http-errors.js';

export type OptionKind = 'number' | 'int' | 'string' | 'boolean' | 'metric' | 'model' | 'detector';

export interface OptionSpec {
  kind: OptionKind;
  min?: number;
  max?: number;
}

export interface BodySpec {
  /** image fields, each with the most images it may hold */
  images: Record<string, number>;
  /** other names for image fields, e.g. image1_base64 -> image1 */
  aliases?: Record<string, string>;
  options: Record<string, OptionSpec>;
  /** options that must be given */
  required?: string[];
  /**
   * false: the images' bytes are not checked here (empty, not an image): the route checks each
   * itself, for a batch where a bad image is one failed result rather than a failed request
   */
  checkBytes?: boolean;
}

export interface Upload {
  field: string;
  /** a name for messages and answers: the uploaded file's name, or the field's */
  name: string;
  bytes: Buffer;
}

export type OptionValue = string | number | boolean;

export interface ParsedBody {
  uploads: Upload[];
  options: Record<string, OptionValue>;
}

/** topK -> top_k: both spellings are accepted, the documented one is snake_case. */
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function accepted(spec: BodySpec): string {
  return [...Object.keys(spec.images), ...Object.keys(spec.aliases ?? {}), ...Object.keys(spec.options)].join(', ');
}

function fieldName(spec: BodySpec, raw: string): { kind: 'image' | 'option'; name: string } {
  const k = snake(raw);
  const name = spec.aliases?.[k] ?? k;
  if (name in spec.images) return { kind: 'image', name };
  if (name in spec.options) return { kind: 'option', name };
  throw new HttpError(400, 'unknown_field', `unknown field "${raw}"; this endpoint takes: ${accepted(spec)}`);
}

function safeName(filename: string | undefined, fallback: string): string {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[^\w .()+-]+/g, '_').trim().slice(0, 100);
  return clean || fallback;
}

/** An image given as text: a data: URL or bare base64. Paths and URLs are never fetched. */
function imageFromText(text: string, field: string): Buffer {
  const bytes = decodeBase64Image(text);
  if (!bytes || bytes.length === 0) {
    const hint = /^(https?:|file:|\/|\.{1,2}\/|[A-Za-z]:\\)/.test(text.trim())
      ? ' (paths and URLs are not fetched: upload the file, or send its bytes as base64)' : '';
    throw badRequest(`field "${field}" is not an image as base64 or a data: URL${hint}`);
  }
  return bytes;
}

function parseOption(name: string, spec: OptionSpec, value: unknown): OptionValue {
  // JSON's 1e309 parses to Infinity, which JSON.stringify would show as null
  const shown = typeof value === 'number' && !Number.isFinite(value) ? String(value) : JSON.stringify(value);
  const bad = (what: string) => badRequest(`"${name}" must be ${what}, got ${shown}`);
  switch (spec.kind) {
    case 'number':
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) throw bad(spec.kind === 'int' ? 'an integer' : 'a number');
      if (spec.min !== undefined && n < spec.min) throw bad(`at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw bad(`at most ${spec.max}`);
      return n;
    }
    case 'string':
      if (typeof value !== 'string') throw bad('a string');
      return value;
    case 'boolean':
      // a form field or the query string can only say it as text
      if (value === true || value === 'true' || value === '1') return true;
      if (value === false || value === 'false' || value === '0') return false;
      throw bad('true or false');
    case 'metric':
      if (typeof value !== 'string' || !isMetric(value)) throw bad(`one of ${METRICS.join(', ')}`);
      return value;
    case 'model':
      if (typeof value !== 'string' || !isRecognizerId(value)) throw bad(`one of ${Object.keys(RECOGNIZERS).join(', ')}`);
      return value;
    case 'detector':
      if (typeof value !== 'string' || !isDetectorId(value)) throw bad(`one of ${Object.keys(DETECTORS).join(', ')}`);
      return value;
  }
}

class Collector {
  readonly uploads: Upload[] = [];
  readonly options: Record<string, OptionValue> = {};
  private total = 0;

  constructor(private readonly spec: BodySpec, private readonly bodyLimit: number) {}

  count(bytes: number): void {
    this.total += bytes;
    if (this.total > this.bodyLimit) throw tooLarge(this.bodyLimit);
  }

  image(field: string, name: string, bytes: Buffer): void {
    const max = this.spec.images[field]!;
    if (this.uploads.filter((u) => u.field === field).length >= max) {
      // one image too many for a one-image field is a malformed request; past the batch size, a limit
      if (max === 1) throw badRequest(`"${field}" takes one image`);
      throw tooManyImages(`"${field}" takes at most ${max} images per request (serve --max-batch)`);
    }
    this.uploads.push({ field, name, bytes });
  }

  option(raw: string, value: unknown): void {
    const f = fieldName(this.spec, raw);
    if (f.kind === 'image') {
      if (typeof value === 'string') this.image(f.name, f.name, imageFromText(value, raw));
      else if (Array.isArray(value) && this.spec.images[f.name]! > 1) {
        value.forEach((v, i) => {
          if (typeof v !== 'string') throw badRequest(`"${raw}" must be a list of base64 images or data: URLs`);
          this.image(f.name, `${f.name}[${i}]`, imageFromText(v, `${raw}[${i}]`));
        });
      } else throw badRequest(`"${raw}" must be an image as base64 or a data: URL${this.spec.images[f.name]! > 1 ? ' (or a list of them)' : ''}`);
      return;
    }
    if (f.name in this.options) throw badRequest(`"${raw}" is given twice`);
    this.options[f.name] = parseOption(f.name, this.spec.options[f.name]!, value);
  }

  done(): ParsedBody {
    for (const r of this.spec.required ?? []) {
      if (!(r in this.options)) throw badRequest(`"${r}" is required`);
    }
    return { uploads: this.uploads, options: this.options };
  }
}

export function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'too_large', `request body is over the limit of ${formatBytes(limit)} (serve --body-limit)`);
}

export function formatBytes(n: number): string {
  return n >= 1e6 ? `${+(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)} kB` : `${n} bytes`;
}

/**
 * Read the images and options of a request against `spec`. Checks what can be checked without a
 * model: field names, option values, sizes, and that each image's bytes look like an image.
 */
export async function readBody(request: FastifyRequest, spec: BodySpec, bodyLimit: number): Promise<ParsedBody> {
  const c = new Collector(spec, bodyLimit);
  for (const [k, v] of Object.entries((request.query ?? {}) as Record<string, unknown>)) c.option(k, v);

  if (request.isMultipart()) {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const file = part as MultipartFile;
        const f = fieldName(spec, file.fieldname);
        if (f.kind !== 'image') throw badRequest(`"${file.fieldname}" is an option, not a file`);
        const bytes = await file.toBuffer();
        c.count(bytes.length);
        c.image(f.name, safeName(file.filename, f.name), bytes);
      } else {
        const field = part as MultipartValue<unknown>;
        if (field.valueTruncated) throw tooLarge(bodyLimit);
        const value = typeof field.value === 'string' ? field.value : String(field.value);
        c.count(value.length);
        c.option(field.fieldname, value);
      }
    }
  } else if (Buffer.isBuffer(request.body)) {
    // the raw body is the image: it goes to the endpoint's first image field
    const first = Object.keys(spec.images)[0]!;
    c.image(first, 'upload', request.body);
  } else if (request.body !== undefined && request.body !== null) {
    const body = request.body;
    if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'bad_json', 'the JSON body must be an object of fields');
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) c.option(k, v);
  }

  const parsed = c.done();
  if (spec.checkBytes === false) return parsed;
  for (const u of parsed.uploads) {
    const bad = badBytes(u);
    if (bad) throw bad;
  }
  return parsed;
}

/** Why an upload's bytes cannot be an image (empty, or not a format sharp reads), or undefined. */
export function badBytes(u: Upload): HttpError | undefined {
  if (u.bytes.length === 0) return new HttpError(422, 'empty_file', `${u.name}: ${EMPTY}`);
  if (!looksLikeImageBytes(u.bytes)) return new HttpError(415, 'not_an_image', `${u.name}: ${NOT_AN_IMAGE}`);
  return undefined;
}

/** The same as badBytes, without the upload's name: for an answer that names it already. */
export function bytesProblem(bytes: Buffer): string | undefined {
  return bytes.length === 0 ? EMPTY : looksLikeImageBytes(bytes) ? undefined : NOT_AN_IMAGE;
}

const EMPTY = 'image is empty (0 bytes)';
const NOT_AN_IMAGE = 'not an image (expected JPEG, PNG, WebP, GIF, TIFF or AVIF bytes)';

/** The uploads of one field (after aliases). */
export function uploadsOf(body: ParsedBody, ...fields: string[]): Upload[] {
  return body.uploads.filter((u) => fields.includes(u.field));
}
