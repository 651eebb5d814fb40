/** The options the commands share, each group declared once, with clear errors for bad values. */
import { Option, type Command } from 'commander';
import { FacekitError } from '../core/errors.js';
import { DEFAULT_MAX_PIXELS } from '../core/image.js';
import {
  BACKENDS, DEFAULT_DETECTOR, DEFAULT_GALLERY_PATH, DETECTORS, EF_SEARCH_DEFAULT, EF_SEARCH_MAX, Facekit, INDEX_POLICIES, METRICS, RECOGNIZERS, SUBJECTS, defaultWorkers, isDetectorId,
  isIndexPolicy, isMetric, isSubject, recognizerIdOf, subjectOf, type BackendChoice, type DetectorId, type IndexPolicy, type Metric, type RecognizerId, type Subject,
} from '../index.js';

/* ---------------------------------------------------------------- option parsing */

export function parseNumber(name: string, opts: { min?: number; max?: number; integer?: boolean } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n))) {
      // "1e309" is a number to a reader, but past float64's range: say what it became
      const why = n === Infinity || n === -Infinity ? ` (${value} is ${n > 0 ? '' : '-'}Infinity, past the largest number)` : '';
      throw new FacekitError('usage', `${name} must be ${opts.integer ? 'an integer' : 'a number'}, got "${value}"${why}`);
    }
    if (opts.min !== undefined && n < opts.min) throw new FacekitError('usage', `${name} must be at least ${opts.min}, got ${value}`);
    if (opts.max !== undefined && n > opts.max) throw new FacekitError('usage', `${name} must be at most ${opts.max}, got ${value}`);
    return n;
  };
}

/** A value that must be one of `all`'s keys (or items), named by its flag in the error. */
export function choice<T extends string>(flag: string, ok: (s: string) => s is T, all: object | readonly string[]) {
  const names = Array.isArray(all) ? all : Object.keys(all);
  return (value: string): T => {
    if (!ok(value)) throw new FacekitError('usage', `${flag} must be one of ${names.join(', ')}; got "${value}"`);
    return value;
  };
}

export const parseDetector = choice<DetectorId>('--detector', isDetectorId, DETECTORS);
/** A recognizer id, or another name of one (MobileNetV2 for mobilenetv2). */
export function parseModel(value: string): RecognizerId {
  const id = recognizerIdOf(value);
  if (!id) throw new FacekitError('usage', `--model must be one of ${Object.keys(RECOGNIZERS).join(', ')}; got "${value}"`);
  return id;
}
export const parseSubject = choice<Subject>('--subject', isSubject, SUBJECTS);
export const parseIndexPolicy = choice<IndexPolicy>('--index', isIndexPolicy, INDEX_POLICIES);
export const parseMetric = choice<Metric>('--metric', isMetric, METRICS);

/** The recognition models, as help texts list them. */
export const MODEL_CHOICES = Object.keys(RECOGNIZERS).join(' | ');
const DETECTOR_CHOICES = Object.keys(DETECTORS).join(' | ');

/** The gallery when no --db is given: $FACEKIT_DB (a file or a database URL), else db/gallery.json. */
export function defaultDb(): string {
  return process.env.FACEKIT_DB || DEFAULT_GALLERY_PATH;
}

/* ---------------------------------------------------------------- option groups */

export interface FormatOptions {
  json: boolean;
  table: boolean;
}

/**
 * --json and --table: how a command prints its answer. On a terminal a table for people; off one
 * (a pipe, a file) records a program can read, unless --table asks for the table.
 */
export function addFormatOptions(cmd: Command, what = 'JSON'): Command {
  return cmd
    .option('--json', `print ${what} (the default when stdout is not a terminal)`, false)
    .option('--table', 'print a table for people (the default on a terminal)', false);
}

/** Whether to print a table, from --json / --table and whether stdout is a terminal. */
export function wantsTable(o: FormatOptions): boolean {
  if (o.json && o.table) throw new FacekitError('usage', '--json and --table ask for two formats: give one');
  return o.table || (!o.json && Boolean(process.stdout.isTTY));
}

export interface CommonOptions {
  backend: BackendChoice;
  debug: boolean;
  maxPixels: number;
  workers: number;
}

export interface DetectChoice {
  subject?: Subject;
  /** undefined: the subject's own (--subject image has no detector) */
  detector?: DetectorId;
  minScore: number;
  maxFaces?: number;
}

/**
 * 10000 -> "10,000" without toLocaleString, whose first call loads ICU's locale data (about 60 ms
 * of every start when a command's help text used it).
 */
export const thousands = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** --backend, --max-pixels, --debug and --workers: on every command that runs a model. */
export function addEngineOptions(cmd: Command, maxPixels = DEFAULT_MAX_PIXELS, workersHelp = 'worker threads for folders'): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'tfjs backend, or cuda: onnxruntime on the GPU (untested here)').choices([...BACKENDS]).default('auto'))
    .option('--max-pixels <n>', 'refuse images larger than this many pixels', parseNumber('--max-pixels', { min: 1, integer: true }), maxPixels)
    .option('--debug', 'print stack traces of errors', false)
    .addOption(new Option('--workers <n>', workersHelp)
      .argParser(parseNumber('--workers', { min: 1, integer: true }))
      .default(workersFromEnv() ?? defaultWorkers(), 'one per core, or $FACEKIT_WORKERS'));
}

/**
 * --subject, --detector, --min-score (and --max-faces): what is looked at and how faces are found.
 * `--subject image` (or an image recognizer as --model) takes the whole picture: the face defaults
 * of --detector, --model and --flip are then dropped before the action runs, and the library picks
 * the image ones; a face detector or model given by hand is refused with one line.
 */
export function addDetectOptions(cmd: Command, o: { maxFaces?: boolean; detector?: string | false } = {}): Command {
  cmd
    .option('--subject <kind>', 'face (detect and align faces) | image (the whole image: any picture, e.g. signatures or products)', parseSubject)
    .option('--detector <name>', o.detector || DETECTOR_CHOICES, parseDetector, DEFAULT_DETECTOR)
    .option('--min-score <s>', 'lowest detector confidence kept', parseNumber('--min-score', { min: 0, max: 1 }), 0.5);
  if (o.maxFaces) cmd.option('--max-faces <n>', 'most faces per image', parseNumber('--max-faces', { min: 1, integer: true }), 20);
  cmd.hook('preAction', (_, action) => {
    // a detector or mirror averaging not given is the library's to choose: a gallery's own, else the subject's
    const cleared = ['detector', 'flip'];
    const model = action.getOptionValue('model') as RecognizerId | undefined;
    const image = action.getOptionValue('subject') === 'image' || (model !== undefined && action.getOptionValueSource('model') !== 'default' && subjectOf(model) === 'image');
    // a head (--head) was trained on one recognizer's embeddings: that is the model, unless given
    if (image || action.getOptionValue('head') !== undefined) cleared.push('model');
    for (const name of cleared) {
      if (action.getOptionValueSource(name) === 'default') action.setOptionValueWithSource(name, undefined, 'default');
    }
  });
  return cmd;
}

/** --model: the recognition model (no default: the gallery's, or the caller's). */
export function addModelOption(cmd: Command, help: string, fallback?: RecognizerId): Command {
  return fallback === undefined ? cmd.option('--model <name>', help, parseModel) : cmd.option('--model <name>', help, parseModel, fallback);
}

/** --db: the gallery (a file, or a database URL). */
export function addDbOption(cmd: Command, help = 'the gallery (a file, or postgres://…?gallery=NAME; default $FACEKIT_DB or db/gallery.json)', flags = '--db <file|url>'): Command {
  return cmd.option(flags, help, defaultDb());
}

/** --ef-search N: pgvector's HNSW candidate list for a database gallery (verify, similar, serve). */
export function addEfSearchOption(cmd: Command): Command {
  return cmd.option('--ef-search <n>', `a database gallery: pgvector's HNSW candidate list, 1..${EF_SEARCH_MAX} (default ${EF_SEARCH_DEFAULT}; more: closer to exact search, slower)`,
    parseNumber('--ef-search', { min: 1, max: EF_SEARCH_MAX, integer: true }));
}

/** --cache DIR / --no-cache: the embedding cache of eval and tsne. */
export function addCacheOptions(cmd: Command): Command {
  return cmd
    .option('--cache <dir>', 'embedding cache folder (default $XDG_CACHE_HOME/facekit or ~/.cache/facekit)')
    .option('--no-cache', 'neither read nor write the embedding cache');
}

/** --cache as commander gives it: a folder, false (--no-cache), or undefined (the default folder). */
export function cacheOf(option: string | boolean | undefined): string | null | undefined {
  if (option === false) return null;
  return typeof option === 'string' ? option : undefined;
}

/** The detection choice of a command's options. */
export function detectChoice(o: DetectChoice): DetectChoice {
  return { subject: o.subject, detector: o.detector, minScore: o.minScore, ...(o.maxFaces !== undefined ? { maxFaces: o.maxFaces } : {}) };
}

/**
 * The engine a command runs on, from its --backend, --workers and --max-pixels. A native backend
 * asked for by name that is not installed fails here, before any work.
 */
export function engineFor(opts: Pick<CommonOptions, 'backend' | 'maxPixels' | 'debug'> & { workers?: number }): Facekit {
  return new Facekit({
    backend: opts.backend, workers: opts.workers ?? 1, maxPixels: opts.maxPixels,
    onWorkerCrash: (image, stack) => { if (opts.debug) process.stderr.write(`${image}: ${stack}\n`); },
  });
}

/** FACEKIT_WORKERS: the default of --workers (a busy machine, a test suite that runs files in parallel). */
function workersFromEnv(): number | undefined {
  const n = Number(process.env.FACEKIT_WORKERS);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}
