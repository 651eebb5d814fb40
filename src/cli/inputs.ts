/**
 * Command-line arguments as inputs: image files, folders (their images, recursively), record
 * files, and `-` for stdin (records, or an image as bytes, a data: URL or base64).
 */
import { readRegularFile } from '../core/files.js';
import { fstatSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, relative, sep } from 'node:path';
import { FacekitError, fsError } from '../core/errors.js';
import { decodeBase64Image, listImages, looksLikeImageBytes } from '../core/image.js';
import { parseRecord, type FaceRecord } from '../core/records.js';

/* ---------------------------------------------------------------- inputs */

/** An image to run the stages on; `bytes` when it came on stdin. */
export interface ImageInput {
  kind: 'image';
  path: string;
  /** the folder argument it was found in, for labels and output names */
  root?: string;
  bytes?: Uint8Array;
}

/** Records made by an earlier stage, with where each came from for error messages. */
export interface RecordsInput {
  kind: 'records';
  records: { record: FaceRecord; where: string }[];
}

export type Input = ImageInput | RecordsInput;

const RECORD_EXTENSIONS = new Set(['.ndjson', '.jsonl', '.json']);

let stdinCache: Promise<Buffer> | undefined;
export function readStdin(): Promise<Buffer> {
  if (!stdinCache) {
    stdinCache = new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      process.stdin.on('data', (c: Buffer) => chunks.push(c));
      process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
      process.stdin.on('error', reject);
    });
  }
  return stdinCache;
}

export function parseRecordsText(text: string, source: string): RecordsInput {
  const records: RecordsInput['records'] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${source} line ${i + 1}`;
    records.push({ record: parseRecord(line, where), where });
  });
  return { kind: 'records', records };
}

/**
 * Turn command-line arguments into inputs: image files, folders (their images, recursively),
 * record files (.ndjson/.jsonl/.json), and `-` for stdin (records, an image's bytes, or an image
 * as a data: URL or base64).
 */
export async function readInputs(args: string[]): Promise<Input[]> {
  if (args.length === 0) throw new FacekitError('usage', 'no input given (an image, a folder, a records file, or - for stdin)');
  const out: Input[] = [];
  for (const arg of args) {
    if (arg === '-') {
      const buf = await readStdin();
      if (buf.length === 0) {
        // An empty pipe almost always means the command before this one failed and said why
        // already: every later stage repeating "nothing arrived" would only bury that line.
        throw new FacekitError('usage', 'nothing arrived on stdin', 'stdin', 2, stdinIsPipe());
      }
      if (looksLikeImageBytes(buf)) {
        out.push({ kind: 'image', path: 'stdin', bytes: buf });
        continue;
      }
      const text = buf.toString('utf8');
      const first = text.trimStart()[0];
      if (first === '{' || first === '[') {
        out.push(parseRecordsText(text, 'stdin'));
        continue;
      }
      const img = decodeBase64Image(text);
      if (img) {
        out.push({ kind: 'image', path: 'stdin', bytes: img });
        continue;
      }
      throw new FacekitError('bad_record', 'neither facekit records (NDJSON) nor an image (bytes, data: URL or base64)', 'stdin');
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
    } else if (RECORD_EXTENSIONS.has(extname(arg).toLowerCase())) {
      let text: string;
      try {
        text = (await readRegularFile(arg)).toString('utf8');
      } catch (err) {
        throw fsError(err, arg);
      }
      out.push(parseRecordsText(text, arg));
    } else {
      out.push({ kind: 'image', path: arg });
    }
  }
  return out;
}

/** The person's name for an image found in DIR/<person>/...: the first folder below DIR. */
export function labelFor(input: ImageInput): string | undefined {
  if (!input.root) return undefined;
  const rel = relative(input.root, input.path).split(sep);
  return rel.length >= 2 ? rel[0] : undefined;
}

/** Whether a path is a folder (following links); false when it does not exist. */
export function isDirectorySync(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function stdinIsPipe(): boolean {
  try {
    return fstatSync(0).isFIFO();
  } catch {
    return false;
  }
}
