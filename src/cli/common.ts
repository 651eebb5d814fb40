/**
 * What every command shares: option parsing with clear errors, reading inputs (images, folders,
 * record files, stdin), writing NDJSON, progress on stderr, and exit codes.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, relative, sep } from 'node:path';
import { Option, type Command } from 'commander';
import { FacekitError, fsError } from '../core/errors.js';
import { decodeBase64Image, listImages, looksLikeImageBytes, DEFAULT_MAX_PIXELS } from '../core/image.js';
import { parseRecord, type FaceRecord } from '../core/records.js';
import { BACKENDS, chooseBackend, initBackend, type BackendChoice } from '../models/runtime.js';
import { defaultWorkers } from '../pipeline/pool.js';
import { writeFileAtomic } from '../pipeline/run.js';
import { DETECTORS, RECOGNIZERS, isDetectorId, isRecognizerId, type DetectorId, type RecognizerId } from '../models/catalogue.js';

/* ---------------------------------------------------------------- option parsing */

export function parseNumber(name: string, opts: { min?: number; max?: number; integer?: boolean } = {}) {
  return (value: string): number => {
    const n = Number(value);
    const what = opts.integer ? 'an integer' : 'a number';
    if (value.trim() === '' || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n))) {
      throw new FacekitError('usage', `${name} must be ${what}, got "${value}"`);
    }
    if (opts.min !== undefined && n < opts.min) throw new FacekitError('usage', `${name} must be at least ${opts.min}, got ${value}`);
    if (opts.max !== undefined && n > opts.max) throw new FacekitError('usage', `${name} must be at most ${opts.max}, got ${value}`);
    return n;
  };
}

export function parseDetector(value: string): DetectorId {
  if (!isDetectorId(value)) {
    throw new FacekitError('usage', `--detector must be one of ${Object.keys(DETECTORS).join(', ')}; got "${value}"`);
  }
  return value;
}

export function parseModel(value: string): RecognizerId {
  if (!isRecognizerId(value)) {
    throw new FacekitError('usage', `--model must be one of ${Object.keys(RECOGNIZERS).join(', ')}; got "${value}"`);
  }
  return value;
}

export interface CommonOptions {
  backend: BackendChoice;
  debug: boolean;
  maxPixels: number;
}

export interface BatchOptions extends CommonOptions {
  workers: number;
}

/** --backend, --max-pixels, --debug: on every command that runs a model. */
export function addCommonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'tfjs backend').choices([...BACKENDS]).default('auto'))
    .option('--max-pixels <n>', 'refuse images larger than this many pixels', parseNumber('--max-pixels', { min: 1, integer: true }), DEFAULT_MAX_PIXELS)
    .option('--debug', 'print stack traces of errors', false);
}

export function addWorkersOption(cmd: Command): Command {
  return cmd.addOption(new Option('--workers <n>', 'worker threads for folders')
    .argParser(parseNumber('--workers', { min: 1, integer: true }))
    .default(defaultWorkers(), 'one per core'));
}

/** Take the --backend choice; the backend starts where the models first run (see chooseBackend). */
export function useBackend(opts: CommonOptions): void {
  chooseBackend(opts.backend);
}

/** Start the backend now, in this thread (the server, to report it before any request). */
export async function startBackend(opts: CommonOptions): Promise<string> {
  try {
    return await initBackend(opts.backend);
  } catch (err) {
    if (err instanceof FacekitError) throw err;
    throw new FacekitError('backend', `cannot start the ${opts.backend} backend: ${err instanceof Error ? err.message : String(err)}`);
  }
}

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
      if (buf.length === 0) throw new FacekitError('usage', 'nothing arrived on stdin', 'stdin');
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
        text = await readFile(arg, 'utf8');
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

/* ---------------------------------------------------------------- output */

/**
 * NDJSON out: to stdout as records are made (so that pipelines stream), or to --out FILE, written
 * atomically when the command ends.
 */
export class RecordWriter {
  private lines: string[] = [];
  count = 0;
  failures = 0;

  constructor(private readonly toFile?: string) {}

  write(r: FaceRecord): void {
    this.count++;
    if (r.error) this.failures++;
    const line = JSON.stringify(r);
    if (this.toFile) this.lines.push(line);
    else process.stdout.write(line + '\n');
  }

  async close(): Promise<void> {
    if (this.toFile) {
      await mkdir(dirname(this.toFile), { recursive: true }).catch(() => undefined);
      await writeFileAtomic(this.toFile, this.lines.length ? this.lines.join('\n') + '\n' : '');
    }
  }
}


/* ---------------------------------------------------------------- talk on stderr */

export function warn(msg: string): void {
  process.stderr.write(`facekit: ${msg}\n`);
}

/** A one-line progress bar on stderr, only when stderr is a terminal. */
export class Progress {
  private readonly start = Date.now();
  private readonly enabled: boolean;
  private done = 0;
  private lastDraw = 0;

  constructor(private readonly total: number, private readonly what = 'images') {
    this.enabled = Boolean(process.stderr.isTTY) && total > 1;
  }

  tick(): void {
    this.done++;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && this.done < this.total) return;
    this.lastDraw = now;
    const secs = (now - this.start) / 1000;
    const rate = this.done / Math.max(secs, 1e-3);
    const left = rate > 0 ? (this.total - this.done) / rate : 0;
    const width = 24;
    const filled = Math.round((this.done / this.total) * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    process.stderr.write(`\r[${bar}] ${this.done}/${this.total} ${this.what}  ${rate.toFixed(1)}/s  ${Math.ceil(left)}s left `);
  }

  end(): void {
    if (this.enabled) process.stderr.write('\n');
  }
}

/* ---------------------------------------------------------------- errors and exit codes */

let debugMode = false;
export function setDebug(on: boolean): void {
  debugMode = on || debugMode;
}

/** Print an error the user can act on: one line, with a stack trace only in --debug. */
export function reportError(err: unknown): number {
  if (err instanceof FacekitError) {
    warn(err.line());
    if (debugMode && err.stack) process.stderr.write(err.stack + '\n');
    return err.exitCode;
  }
  const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
  warn(`internal error: ${msg}${debugMode ? '' : ' (run with --debug for details)'}`);
  if (debugMode && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  return 2;
}

/**
 * Wrap a command's action: options are checked, the action's returned exit code is used, and any
 * error becomes one line on stderr with exit code 2.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.opts() as { debug?: boolean };
    setDebug(Boolean(opts.debug));
    try {
      const code = await fn(...args);
      process.exitCode = code ?? 0;
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}
