/** Options shared by the commands, declared once, with clear errors for bad values. */
import { Option, type Command } from 'commander';
import { FacekitError } from '../core/errors.js';
import { DEFAULT_MAX_PIXELS } from '../core/image.js';
import { Facekit } from '../api/engine.js';
import { BACKENDS, type BackendChoice, DETECTORS, METRICS, RECOGNIZERS, isDetectorId, isMetric, isRecognizerId, type DetectorId, type Metric, type RecognizerId } from '../api/models.js';
import { defaultWorkers } from '../api/pipeline.js';
import { DEFAULT_GALLERY_PATH, INDEX_POLICIES, isIndexPolicy, type IndexPolicy } from '../api/recognition.js';

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

/** The gallery when no --db is given: $FACEKIT_DB (a file or a postgres:// URL), else db/gallery.json. */
export function defaultDb(): string {
  return process.env.FACEKIT_DB || DEFAULT_GALLERY_PATH;
}

export function parseIndexPolicy(value: string): IndexPolicy {
  if (!isIndexPolicy(value)) throw new FacekitError('usage', `--index must be one of ${INDEX_POLICIES.join(', ')}; got "${value}"`);
  return value;
}

/** The recognition models, as help texts list them. */
export const MODEL_CHOICES = Object.keys(RECOGNIZERS).join(' | ');

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
export function addCommonOptions(cmd: Command, maxPixels = DEFAULT_MAX_PIXELS): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'tfjs backend').choices([...BACKENDS]).default('auto'))
    .option('--max-pixels <n>', 'refuse images larger than this many pixels', parseNumber('--max-pixels', { min: 1, integer: true }), maxPixels)
    .option('--debug', 'print stack traces of errors', false);
}

export function addWorkersOption(cmd: Command): Command {
  return cmd.addOption(new Option('--workers <n>', 'worker threads for folders')
    .argParser(parseNumber('--workers', { min: 1, integer: true }))
    .default(workersFromEnv() ?? defaultWorkers(), 'one per core, or $FACEKIT_WORKERS'));
}

/**
 * The engine a command runs on, from its --backend, --workers and --max-pixels. A native backend
 * asked for by name that is not installed fails here, before any work.
 */
export function engineFor(opts: CommonOptions & { workers?: number }): Facekit {
  return new Facekit({ backend: opts.backend, workers: opts.workers ?? 1, maxPixels: opts.maxPixels });
}

/** --metric, checked with the CLI's wording (the API's parseMetric names no flag). */
export function parseMetricOption(value: string | undefined, fallback?: Metric): Metric | undefined {
  if (value === undefined) return fallback;
  if (!isMetric(value)) throw new FacekitError('usage', `--metric must be one of ${METRICS.join(', ')}; got "${value}"`);
  return value;
}

/** FACEKIT_WORKERS: the default of --workers (a busy machine, a test suite that runs files in parallel). */
function workersFromEnv(): number | undefined {
  const n = Number(process.env.FACEKIT_WORKERS);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}
