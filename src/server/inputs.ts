/**
 * Reading a request: images arrive as multipart uploads, as base64 / data: URLs in JSON or in
 * form fields, or as the raw body (Content-Type image/*); options come from the body or the query
 * string. Each endpoint declares the fields it takes, so that a misspelt field is a 400 that
 * names the right ones instead of a silent default.
 */
import type { FastifyRequest } from 'fastify';
import type { MultipartFile, MultipartValue } from '@fastify/multipart';
import { isDetectorId, isMetric, recognizerIdOf, DETECTORS, METRICS, RECOGNIZERS } from '../index.js';
import { decodeBase64Image, looksLikeImageBytes } from '../core/image.js';
import { badRequest, HttpError, tooManyImages } from './http-errors.js';

export type OptionKind = 'number' | 'int' | 'string' | 'boolean' | 'metric' | 'model' | 'detector' | 'custom';

export interface OptionSpec {
  kind: OptionKind;
  min?: number;
  max?: number;
  /** kind 'custom': checks the value as sent (a string in a form, any JSON value in JSON), or throws a 400 */
  parse?: (value: unknown, name: string) => OptionValue;
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

/** What `raw` names in `spec` (an image field or an option, after aliases), or undefined. */
function fieldOf(spec: BodySpec, raw: string): { kind: 'image' | 'option'; name: string } | undefined {
  const k = snake(raw);
  const name = Object.hasOwn(spec.aliases ?? {}, k) ? spec.aliases![k]! : k;
  if (Object.hasOwn(spec.images, name)) return { kind: 'image', name };
  if (Object.hasOwn(spec.options, name)) return { kind: 'option', name };
  return undefined;
}

function fieldName(spec: BodySpec, raw: string): { kind: 'image' | 'option'; name: string } {
  const f = fieldOf(spec, raw);
  if (f) return f;
  throw new HttpError(400, 'unknown_field', `unknown field "${raw}"; this endpoint takes: ${accepted(spec)}`);
}

function safeName(filename: string | undefined, fallback: string): string {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[^\w .()+-]+/g, '_').trim().slice(0, 100);
  return clean || fallback;
}

/**
 * Text that names an image instead of holding it: a URL, an absolute or relative path, or a bare
 * file name ("img.jpg", "dataset/img1.jpg"; deepface's clients send these).
 */
export function looksLikeLocation(text: string): boolean {
  const t = text.trim();
  if (/^([a-z][a-z0-9+.-]*:\/\/|file:|\/|~|\.{1,2}[\\/]|[A-Za-z]:[\\/])/i.test(t)) return true;
  return t.length < 4096 && !/\s/.test(t) && /[\\/]|\.[A-Za-z][A-Za-z0-9]{1,4}(\?.*)?$/.test(t);
}

/** An image given as text: a data: URL or bare base64. Paths and URLs are never read nor fetched. */
function imageFromText(text: string, field: string): Buffer {
  const bytes = decodeBase64Image(text);
  if (!bytes || bytes.length === 0) {
    const hint = looksLikeLocation(text)
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
    case 'model': {
      // the id, or another name of it (the signature API's "MobileNetV2")
      const id = typeof value === 'string' ? recognizerIdOf(value) : undefined;
      if (id === undefined) throw bad(`one of ${Object.keys(RECOGNIZERS).join(', ')}`);
      return id;
    }
    case 'detector':
      if (typeof value !== 'string' || !isDetectorId(value)) throw bad(`one of ${Object.keys(DETECTORS).join(', ')}`);
      return value;
    case 'custom':
      return spec.parse!(value, name);
  }
}

/** What reading a body feeds: the fields as they come, in order. */
interface Sink {
  /** bytes read so far count against the body limit */
  count(bytes: number): void;
  /** a text field, a JSON member or a query parameter */
  option(raw: string, value: unknown): void;
  /** the image field a file part goes to, checked before its bytes are read */
  file(raw: string): string;
  image(field: string, name: string, bytes: Buffer): void;
  /** the raw body (Content-Type image/*): the endpoint's first image field */
  raw(bytes: Buffer): void;
  done(): { body: ParsedBody; spec: BodySpec };
}

class Collector implements Sink {
  readonly uploads: Upload[] = [];
  readonly options: Record<string, OptionValue> = {};
  private total = 0;

  constructor(readonly spec: BodySpec, private readonly bodyLimit: number) {}

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

  file(raw: string): string {
    const f = fieldName(this.spec, raw);
    if (f.kind !== 'image') throw badRequest(`"${raw}" is an option, not a file`);
    return f.name;
  }

  raw(bytes: Buffer): void {
    this.image(Object.keys(this.spec.images)[0]!, 'upload', bytes);
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
    if (Object.hasOwn(this.options, f.name)) throw badRequest(`"${raw}" is given twice`);
    this.options[f.name] = parseOption(f.name, this.spec.options[f.name]!, value);
  }

  done(): { body: ParsedBody; spec: BodySpec } {
    for (const r of this.spec.required ?? []) {
      if (!Object.hasOwn(this.options, r)) throw badRequest(`"${r}" is required`);
    }
    return { body: { uploads: this.uploads, options: this.options }, spec: this.spec };
  }
}

/**
 * One endpoint's fields as two APIs name them (serve --compat: deepface's /verify, /represent and
 * /analyze share facekit's paths). The fields of a request choose the API as they are read: the
 * first field only one of them takes decides, and fields both take wait until then. A request
 * that names neither is the first family's (the endpoint's own). A field of the other API after
 * the choice is a 400, as is a field neither takes (which names both lists).
 */
export interface BodyFamily {
  /** how messages name the API, e.g. "deepface" */
  name: string;
  spec: BodySpec;
}

class Chooser implements Sink {
  private chosen: Collector | undefined;
  private chosenName = '';
  private readonly held: [string, unknown][] = [];
  private total = 0;

  constructor(private readonly families: BodyFamily[], private readonly bodyLimit: number, private readonly onChoose: (name: string) => void) {}

  count(bytes: number): void {
    this.total += bytes;
    if (this.total > this.bodyLimit) throw tooLarge(this.bodyLimit);
  }

  /** The collector for `raw`, choosing the family if the field decides it; undefined: a field both take, held until then. */
  private route(raw: string): Collector | undefined {
    const takers = this.families.filter((f) => fieldOf(f.spec, raw) !== undefined);
    if (this.chosen) {
      if (takers.length === 0) throw this.unknown(raw);
      if (!takers.some((f) => f.name === this.chosenName)) {
        throw badRequest(`"${raw}" is a field of ${takers[0]!.name}'s API, but this request sends ${this.chosenName}'s fields; send one API's fields (${this.chosenName}'s: ${accepted(this.chosen.spec)})`);
      }
      return this.chosen;
    }
    if (takers.length === 0) throw this.unknown(raw);
    if (takers.length > 1) return undefined;
    return this.choose(takers[0]!);
  }

  private choose(f: BodyFamily): Collector {
    this.chosen = new Collector(f.spec, Number.POSITIVE_INFINITY);
    this.chosenName = f.name;
    this.onChoose(f.name);
    for (const [raw, value] of this.held.splice(0)) this.chosen.option(raw, value);
    return this.chosen;
  }

  private unknown(raw: string): HttpError {
    const [own, ...others] = this.families;
    if (this.chosen && this.chosenName !== own!.name) {
      return new HttpError(400, 'unknown_field', `unknown field "${raw}"; this endpoint takes (as ${this.chosenName}'s API): ${accepted(this.chosen.spec)}`);
    }
    const more = this.chosen ? '' : others.map((f) => ` (or, as ${f.name}'s API: ${accepted(f.spec)})`).join('');
    return new HttpError(400, 'unknown_field', `unknown field "${raw}"; this endpoint takes: ${accepted(own!.spec)}${more}`);
  }

  option(raw: string, value: unknown): void {
    const c = this.route(raw);
    if (c) c.option(raw, value);
    else this.held.push([raw, value]);
  }

  file(raw: string): string {
    // an image field is never one both APIs take
    const c = this.route(raw) ?? this.choose(this.families[0]!);
    return c.file(raw);
  }

  image(field: string, name: string, bytes: Buffer): void {
    this.chosen!.image(field, name, bytes);
  }

  raw(bytes: Buffer): void {
    (this.chosen ?? this.choose(this.families[0]!)).raw(bytes);
  }

  done(): { body: ParsedBody; spec: BodySpec } {
    return (this.chosen ?? this.choose(this.families[0]!)).done();
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
  return readInto(request, new Collector(spec, bodyLimit), bodyLimit);
}

/**
 * Read a request whose fields may be those of any of `families` (see BodyFamily): the body is
 * read once, and `onChoose` hears the family as soon as the fields decide it, before the rest is
 * read (an error from then on is that API's).
 */
export async function readBodyOf(
  request: FastifyRequest, families: BodyFamily[], bodyLimit: number, onChoose: (name: string) => void = () => undefined,
): Promise<{ family: string; body: ParsedBody }> {
  let family = families[0]!.name;
  const body = await readInto(request, new Chooser(families, bodyLimit, (name) => {
    family = name;
    onChoose(name);
  }), bodyLimit);
  return { family, body };
}

async function readInto(request: FastifyRequest, c: Sink, bodyLimit: number): Promise<ParsedBody> {
  for (const [k, v] of Object.entries((request.query ?? {}) as Record<string, unknown>)) c.option(k, v);

  if (request.isMultipart()) {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const file = part as MultipartFile;
        const field = c.file(file.fieldname);
        const bytes = await file.toBuffer();
        c.count(bytes.length);
        c.image(field, safeName(file.filename, field), bytes);
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
    c.raw(request.body);
  } else if (request.body !== undefined && request.body !== null) {
    const body = request.body;
    if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'bad_json', 'the JSON body must be an object of fields');
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) c.option(k, v);
  }

  const { body: parsed, spec } = c.done();
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
