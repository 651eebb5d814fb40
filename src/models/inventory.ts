/** What `facekit models` and the server's /models list: each model, its source package and its size on disk. */
import { statSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, DETECTORS, RECOGNIZERS, type ModelInfo } from './catalogue.js';
import { modelPath } from './runtime.js';
import {
  AGE_GENDER_MODELS, DEFAULT_AGE_GENDER_MODEL, DEFAULT_EMOTION_MODEL, DEFAULT_SPOOF_MODEL, EMOTION_MODELS, SPOOF_MODELS, type AnalyzerInfo,
} from './analyzers/index.js';

/** Model files that are one self-contained binary (weights inside), not a tfjs JSON manifest. */
const SINGLE_FILE = /\.(tflite|onnx)$/i;
/** Files listed one by one (nsfwjs's UMD scripts: topology, then the weights), each counted as it is. */
const LISTED = /\.js$/i;

/** Bytes of a model's description and weight files on disk. */
export function modelBytes(m: Pick<ModelInfo, 'files'>): number {
  let total = 0;
  for (const f of m.files) {
    const path = modelPath(f.pkg, f.file);
    total += statSync(path).size;
    if (SINGLE_FILE.test(path) || LISTED.test(path)) continue;
    const json = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    const groups = (Array.isArray(json) ? json : (json as { weightsManifest: unknown[] }).weightsManifest) as { paths: string[] }[];
    for (const g of groups) for (const p of g.paths) total += statSync(join(dirname(path), p)).size;
  }
  return total;
}

export interface ModelRow {
  id: string;
  task: string;
  source: string;
  bytes: number;
  input: string;
  output: string;
  default: boolean;
  description: string;
}

export function modelRows(): ModelRow[] {
  const all: ModelInfo[] = [...Object.values(DETECTORS), ...Object.values(RECOGNIZERS)];
  return all.map((m) => ({
    id: m.id,
    task: m.task,
    source: [...new Set(m.files.map((f) => f.pkg))].join(', '),
    bytes: modelBytes(m),
    input: m.input,
    output: m.output,
    default: m.id === DEFAULT_DETECTOR || m.id === DEFAULT_RECOGNIZER,
    description: m.description,
  }));
}

/**
 * The analysis models (`facekit analyze`), task `analyze`: one row per model and what it estimates.
 * face-api has two rows (its age/gender net and its expression net), both under the id `faceapi`,
 * as `--age-gender-model` and `--emotion-model` name them.
 */
export function analysisModelRows(): ModelRow[] {
  const groups: { models: Record<string, AnalyzerInfo<string>>; fallback: string }[] = [
    { models: AGE_GENDER_MODELS, fallback: DEFAULT_AGE_GENDER_MODEL },
    { models: EMOTION_MODELS, fallback: DEFAULT_EMOTION_MODEL },
    { models: SPOOF_MODELS, fallback: DEFAULT_SPOOF_MODEL },
  ];
  return groups.flatMap(({ models, fallback }) => Object.values(models).map((m) => ({
    id: m.id,
    task: 'analyze',
    source: [...new Set(m.files.map((f) => f.pkg))].join(', '),
    bytes: modelBytes(m),
    input: m.input,
    output: m.output,
    default: m.id === fallback,
    description: m.description,
  })));
}
