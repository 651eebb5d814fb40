/**
 * A TFLite model file from an npm package, read once per process: its graph (PReLU patterns
 * fused) and, on first request, the same graph as ONNX bytes for onnxruntime. Converting
 * MobileFaceNet takes about 0.1 s, so the bytes are kept in memory only, never on disk.
 */
import { readFileSync } from 'node:fs';
import { FacekitError, fsError } from '../../core/errors.js';
import { modelPath } from '../runtime.js';
import { fusePrelu } from './fuse.js';
import { readTflite, type TfliteGraph } from './tflite.js';
import { tfliteToOnnx, type OnnxConversion } from './to-onnx.js';

export interface TfliteModel {
  /** The file on disk. */
  path: string;
  graph: TfliteGraph;
  /** The graph as an ONNX model (converted on the first call, then kept). */
  onnx(): OnnxConversion;
}

const models = new Map<string, TfliteModel>();

/** Read (once per process) `file` of the installed package `pkg`. */
export function loadTfliteModel(pkg: string, file: string): TfliteModel {
  const key = `${pkg}/${file}`;
  let m = models.get(key);
  if (!m) {
    let path: string;
    try {
      path = modelPath(pkg, file);
    } catch {
      throw new FacekitError('not_found', `package ${pkg} is not installed (run npm ci)`, key);
    }
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw fsError(e as NodeJS.ErrnoException, path);
    }
    const graph = fusePrelu(readTflite(bytes, path));
    let onnx: OnnxConversion | undefined;
    m = { path, graph, onnx: () => (onnx ??= tfliteToOnnx(graph, file)) };
    models.set(key, m);
  }
  return m;
}
