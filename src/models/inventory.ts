/** What `facekit models` and the server's /models list: each model, its source package and its size on disk. */
import { statSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, DETECTORS, RECOGNIZERS, type ModelInfo } from './catalogue.js';
import { modelPath } from './runtime.js';

/** Model files that are one self-contained binary (weights inside), not a tfjs JSON manifest. */
const SINGLE_FILE = /\.(tflite|onnx)$/i;

/** Bytes of a model's description and weight files on disk. */
export function modelBytes(m: ModelInfo): number {
  let total = 0;
  for (const f of m.files) {
    const path = modelPath(f.pkg, f.file);
    total += statSync(path).size;
    if (SINGLE_FILE.test(path)) continue;
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
