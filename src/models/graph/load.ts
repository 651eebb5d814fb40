/**
 * A TFLite model file from an npm package, read once per process: its graph (PReLU patterns
 * fused) and, on first request, the same graph as ONNX bytes for onnxruntime. Converting
 * MobileFaceNet takes about 0.1 s of every cold start, so the ONNX bytes are also kept in the cache
 * folder (models/), keyed by the source file's sha256 and facekit's version: always safe to delete.
 * The reader and the converter are loaded only when a graph is parsed or converted: a start whose
 * conversions are all cached never loads them.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCacheDir } from '../../core/cache-dir.js';
import { ensureDir, sha256, writeFileAtomic } from '../../core/files.js';
import { VERSION } from '../../core/version.js';
import { FacekitError, fsError } from '../../core/errors.js';
import { modelPath } from '../runtime.js';
import { vendoredSha256 } from '../model-files.js';
import type { TfliteGraph } from './tflite.js';
import type { OnnxConversion } from './to-onnx.js';

export interface TfliteModel {
  /** The file on disk. */
  path: string;
  /** The graph, PReLU patterns fused (parsed on the first call). */
  graph(): Promise<TfliteGraph>;
  /** The graph as an ONNX model (converted on the first call, or read from the cache folder, then kept). */
  onnx(): Promise<OnnxConversion>;
}

const models = new Map<string, TfliteModel>();

/**
 * Read (once per process) `file` of the installed package `pkg`; with `outputs` (tensor names),
 * the graph that ends at those tensors (see readTflite).
 */
export function loadTfliteModel(pkg: string, file: string, outputs?: readonly string[]): TfliteModel {
  const variant = outputs ? `#${outputs.join(',')}` : '';
  const key = `${pkg}/${file}${variant}`;
  let m = models.get(key);
  if (!m) {
    let path: string;
    try {
      path = modelPath(pkg, file);
    } catch (e) {
      if (e instanceof FacekitError) throw e;
      throw new FacekitError('not_found', `package ${pkg} is not installed (run npm ci)`, key);
    }
    let buf: Buffer | undefined;
    const bytes = (): Buffer => {
      try {
        return (buf ??= readFileSync(path));
      } catch (e) {
        throw fsError(e as NodeJS.ErrnoException, path);
      }
    };
    if (!existsSync(path)) bytes(); // a missing file fails here, at load
    // Read and parsed only when needed (the tfjs fallback, or a conversion not in the cache yet): a
    // cold start with the conversion cached reads the ONNX bytes only, named by the manifest's sha256.
    let graph: Promise<TfliteGraph> | undefined;
    const parsed = (): Promise<TfliteGraph> => (graph ??= (async () => {
      const [{ readTflite }, { fusePrelu }] = await Promise.all([import('./tflite.js'), import('./fuse.js')]);
      return fusePrelu(readTflite(bytes(), path, outputs));
    })());
    const source = (): Uint8Array | { sha256: string } => {
      // modelPath read the copy exactly when the manifest's entry matches it
      const sha = vendoredSha256(pkg, file);
      return sha ? { sha256: sha } : bytes();
    };
    let onnx: Promise<OnnxConversion> | undefined;
    const dir = join(defaultCacheDir(), 'models');
    m = {
      path,
      graph: parsed,
      onnx: () => (onnx ??= cachedConversion(dir, source(), file, async () => (await import('./to-onnx.js')).tfliteToOnnx(await parsed(), file), variant)),
    };
    models.set(key, m);
  }
  return m;
}

const tfjsConversions = new Map<string, Promise<OnnxConversion>>();

/**
 * A tfjs graph model (model.json + shards) of the installed package `pkg`, as ONNX for onnxruntime
 * (./tfjs-graph.ts), once per process and kept in the cache folder as the TFLite conversions are
 * (converting FaceMesh takes about 0.5 s).
 */
export function loadTfjsGraphAsOnnx(pkg: string, file: string, inputShape: [number, number, number], outputs: readonly string[]): Promise<OnnxConversion> {
  const key = `${pkg}/${file}#${outputs.join(',')}`;
  let p = tfjsConversions.get(key);
  if (!p) {
    const path = modelPath(pkg, file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw fsError(e as NodeJS.ErrnoException, path);
    }
    const convert = async (): Promise<OnnxConversion> => {
      const [{ readTfjsGraph }, { tfliteToOnnx }] = await Promise.all([import('./tfjs-graph.js'), import('./to-onnx.js')]);
      return tfliteToOnnx(readTfjsGraph(path, inputShape, outputs), file);
    };
    // keyed by model.json's bytes: its weights manifest names the shards and their sizes
    p = cachedConversion(join(defaultCacheDir(), 'models'), bytes, file, convert, `${inputShape.join('x')}#${outputs.join(',')}`);
    tfjsConversions.set(key, p);
    p.catch(() => tfjsConversions.delete(key));
  }
  return p;
}

interface CachedMeta { size: number; inputName: string; outputName: string; outputNames?: string[]; nodeCounts: Record<string, number> }

/**
 * The ONNX conversion of `source` (its bytes, or their sha256 when known), from the cache folder when it holds one of the right size, else
 * converted and written there (atomically; a folder that cannot be written is no error).
 */
export async function cachedConversion(dir: string, source: Uint8Array | { sha256: string }, file: string, convert: () => OnnxConversion | Promise<OnnxConversion>, variant = ''): Promise<OnnxConversion> {
  const suffix = variant ? `-${sha256(variant).slice(0, 8)}` : '';
  const hash = source instanceof Uint8Array ? sha256(source) : source.sha256;
  const stem = `${file.split('/').pop()!.replace(/\.[^.]+$/, '')}-${hash.slice(0, 16)}${suffix}-${VERSION}`;
  const onnxPath = join(dir, `${stem}.onnx`), metaPath = join(dir, `${stem}.json`);
  try {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as CachedMeta;
    if (statSync(onnxPath).size === meta.size) {
      const outputNames = meta.outputNames ?? [meta.outputName];
      // read when first asked for: a session started from onnxruntime's own cached graph never needs them
      let bytes: Uint8Array | undefined;
      return {
        get bytes() {
          return (bytes ??= readFileSync(onnxPath));
        },
        inputName: meta.inputName, outputName: meta.outputName, outputNames, nodeCounts: new Map(Object.entries(meta.nodeCounts)), key: stem,
      };
    }
  } catch {
    // not cached yet (or unreadable): convert
  }
  const conv = { ...(await convert()), key: stem };
  try {
    await ensureDir(dir);
    await writeFileAtomic(onnxPath, conv.bytes);
    const meta: CachedMeta = { size: conv.bytes.length, inputName: conv.inputName, outputName: conv.outputName, outputNames: conv.outputNames, nodeCounts: Object.fromEntries(conv.nodeCounts) };
    await writeFileAtomic(metaPath, JSON.stringify(meta));
  } catch {
    // a read-only home: convert again next time
  }
  return conv;
}
