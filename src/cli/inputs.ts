/**
 * Command-line arguments as inputs: image files, folders (their images, recursively), record
 * files, and `-` for stdin (records, or an image as bytes, a data: URL or base64).
 */
import { createReadStream, fstatSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { FacekitError, fsError } from '../core/errors.js';
import { decodeBase64Image, listImages, looksLikeImageBytes, MAX_IMAGE_BYTES, tooManyBytes } from '../core/image.js';
import { personOf } from '../core/people.js';
import { errorRecord } from '../core/records.js';
import { recordLines, type RecordLine } from '../core/record-stream.js';
import type { StreamItem } from '../index.js';
import { warn } from './output.js';

/* ---------------------------------------------------------------- inputs */

/** An image to run the stages on; `bytes` when it came on stdin. */
export interface ImageInput {
  kind: 'image';
  path: string;
  /** the folder argument it was found in, for labels and output names */
  root?: string;
  bytes?: Uint8Array;
}

/**
 * Records made by an earlier stage, read as they arrive (a stream: line by line, in bounded
 * memory), each with where it came from for error messages.
 */
export interface RecordsInput {
  kind: 'records';
  /** `stdin` or the file's path */
  source: string;
  lines: AsyncIterable<RecordLine>;
}

export type Input = ImageInput | RecordsInput;

const RECORD_EXTENSIONS = new Set(['.ndjson', '.jsonl', '.json']);

/**
 * What came on stdin, decided from its first bytes: an image (bytes, a data: URL or base64; read
 * whole) or records (streamed, never held whole). Empty stdin is `empty`.
 */
type Stdin = { kind: 'empty' } | { kind: 'image'; bytes: Uint8Array } | { kind: 'records'; chunks: AsyncIterable<Uint8Array> } | { kind: 'other' };

let stdinTaken = false;
async function openStdin(): Promise<Stdin> {
  if (stdinTaken) throw new FacekitError('usage', 'stdin (-) can be given only once');
  stdinTaken = true;
  const it = (process.stdin as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let size = 0;
  let done = false;
  // Enough bytes to tell an image's signature or the first character of a record.
  while (!done && (size < 16 || Buffer.concat(head).toString('utf8').trim() === '')) {
    const r = await it.next();
    if (r.done) done = true;
    else {
      head.push(r.value);
      size += r.value.length;
    }
  }
  const first = Buffer.concat(head);
  if (first.length === 0) return { kind: 'empty' };
  const c = first.toString('utf8').trimStart()[0];
  if (!looksLikeImageBytes(first) && (c === '{' || c === '[')) {
    async function* chunks(): AsyncGenerator<Uint8Array> {
      try {
        yield first;
        if (done) return;
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      } finally {
        // a reader that stops early (Ctrl-C, an error) lets stdin go: the process can then end
        if (!done) process.stdin.destroy();
      }
    }
    return { kind: 'records', chunks: chunks() };
  }
  // An image: read it whole, up to the most an image may have (`< /dev/zero` never ends).
  const rest: Buffer[] = [first];
  let total = first.length;
  // base64 text is 4/3 of its bytes
  const limit = Math.ceil(MAX_IMAGE_BYTES * 4 / 3) + 1024;
  if (!done) {
    for (let r = await it.next(); !r.done; r = await it.next()) {
      total += r.value.length;
      if (total > limit) {
        process.stdin.destroy();
        throw tooManyBytes(undefined, 'stdin');
      }
      rest.push(r.value);
    }
  }
  const all = Buffer.concat(rest);
  if (looksLikeImageBytes(all) && all.length > MAX_IMAGE_BYTES) throw tooManyBytes(all.length, 'stdin');
  if (looksLikeImageBytes(all)) return { kind: 'image', bytes: all };
  const img = decodeBase64Image(all.toString('utf8'));
  return img ? { kind: 'image', bytes: img } : { kind: 'other' };
}

/**
 * Turn command-line arguments into inputs: image files, folders (their images, recursively),
 * record files (.ndjson/.jsonl/.json), and `-` for stdin (records, an image's bytes, or an image
 * as a data: URL or base64).
 */
/** `recordsOnly`: a file is records whatever its name (`db import`). */
export async function readInputs(args: string[], opts: { recordsOnly?: boolean } = {}): Promise<Input[]> {
  if (args.length === 0) throw new FacekitError('usage', 'no input given (an image, a folder, a records file, or - for stdin)');
  const out: Input[] = [];
  for (const arg of args) {
    if (arg === '-') {
      const input = await openStdin();
      if (input.kind === 'empty') {
        // An empty pipe almost always means the command before this one failed and said why
        // already: every later stage repeating "nothing arrived" would only bury that line.
        throw new FacekitError('usage', 'nothing arrived on stdin', 'stdin', 2, stdinIsPipe());
      }
      if (input.kind === 'image') out.push({ kind: 'image', path: 'stdin', bytes: input.bytes });
      else if (input.kind === 'records') out.push({ kind: 'records', source: 'stdin', lines: recordLines(input.chunks, 'stdin') });
      else throw new FacekitError('bad_record', 'neither facekit records (NDJSON) nor an image (bytes, data: URL or base64)', 'stdin');
      continue;
    }
    let st;
    try {
      st = await stat(arg);
    } catch (err) {
      throw fsError(err, arg);
    }
    if (st.isDirectory()) {
      const images = await listImages(arg);
      if (images.length === 0) throw new FacekitError('no_images', 'folder holds no images (.jpg, .png, .webp, .tif, .gif, .avif)', arg);
      for (const p of images) out.push({ kind: 'image', path: p, root: arg });
    } else if (opts.recordsOnly || RECORD_EXTENSIONS.has(extname(arg).toLowerCase())) {
      if (!st.isFile()) throw new FacekitError('unreadable', 'not a regular file (a FIFO, device or socket); give a file, or - for stdin', arg);
      out.push({ kind: 'records', source: arg, lines: recordLines(createReadStream(arg, { highWaterMark: 1 << 20 }), arg) });
    } else {
      out.push({ kind: 'image', path: arg });
    }
  }
  return out;
}

/** The person's name for an image found in DIR/<person>/...: the first folder below DIR. */
export function labelFor(input: ImageInput): string | undefined {
  return input.root ? personOf(input.root, input.path) : undefined;
}

/**
 * Inputs as a verb's stream: images (with their person, under a folder of people, and their
 * bytes when they came on stdin) and records as they arrive. A bad record line is said on stderr
 * at once and becomes an error record in its place (its error is in `told`, so that it is not
 * said twice); an input that holds no records is said too, and counted.
 */
export class InputStream {
  /** errors already said on stderr */
  readonly told = new WeakSet<object>();
  /** record inputs that held no records */
  empty = 0;

  constructor(private readonly inputs: Input[], private readonly extra: (img: ImageInput) => { annotate?: string } = () => ({})) {}

  /**
   * The items: an array when the inputs are all images (the verb then knows how many: one image
   * runs in this thread, with no worker start-up), else a stream.
   */
  items(): StreamItem[] | AsyncIterable<StreamItem> {
    if (this.inputs.every((i) => i.kind === 'image')) return this.inputs.map((i) => this.image(i as ImageInput));
    return this.all();
  }

  private image(input: ImageInput): StreamItem {
    const label = labelFor(input);
    return { image: input.bytes ?? input.path, name: input.path, ...(label !== undefined ? { label } : {}), ...this.extra(input) };
  }

  private async *all(): AsyncGenerator<StreamItem> {
    for (const input of this.inputs) {
      if (input.kind === 'image') {
        yield this.image(input);
        continue;
      }
      let seen = 0;
      for await (const line of input.lines) {
        seen++;
        if (line.ok) {
          yield line.record;
          continue;
        }
        warn(line.error.line());
        const error = { code: line.error.code, message: `line ${line.line}: ${line.error.message}` };
        this.told.add(error);
        yield errorRecord(input.source, error);
      }
      if (seen === 0) {
        warn(`${input.source}: holds no records`);
        this.empty++;
      }
    }
  }
}

function stdinIsPipe(): boolean {
  try {
    return fstatSync(0).isFIFO();
  } catch {
    return false;
  }
}
