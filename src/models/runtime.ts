/**
 * The runtime: which tfjs backend runs the models, and loading each model once per process, only
 * when a command needs it. Everything is read from installed npm packages or from facekit's own
 * models/ folder (./model-files.ts); nothing is downloaded.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { dirname, join, sep } from 'node:path';
import type * as TfCore from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { FacekitError } from '../core/errors.js';
import { modelPath, packageDir } from './model-files.js';
import { useOrtProvider } from './ort.js';

export type Tf = typeof TfCore;
/**
 * `--backend`: the tfjs backend (auto, wasm, cpu, tensorflow, gpu), or `cuda`: onnxruntime's CUDA
 * execution provider for the models that run on onnxruntime (tfjs then on auto). onnxruntime
 * runs on its CPU provider for every other choice.
 */
export type BackendChoice = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'gpu' | 'cuda';
export const BACKENDS: readonly BackendChoice[] = ['auto', 'wasm', 'cpu', 'tensorflow', 'gpu', 'cuda'];

const require = createRequire(import.meta.url);

export { modelPath, packageDir } from './model-files.js';

let tfModule: Tf | undefined;
let backendPromise: Promise<string> | undefined;

/** tfjs-core, shared by Human, face-api and our own model code (one engine, one backend). */
export function tf(): Tf {
  if (!tfModule) tfModule = require('@tensorflow/tfjs-core') as Tf;
  return tfModule;
}

function tryRequire(name: string): boolean {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
}

async function setBackend(choice: BackendChoice): Promise<string> {
  const t = tf();
  const useWasm = async (): Promise<string> => {
    // A plain folder path: in Node, the WASM loader then reads the binary from disk itself, so
    // nothing needs fetch (which cannot read local files) and the host's fetch is left alone.
    const wasm = require('@tensorflow/tfjs-backend-wasm') as { setWasmPaths: (p: string, usePlatformFetch?: boolean) => void };
    wasm.setWasmPaths(join(packageDir('@tensorflow/tfjs-backend-wasm'), 'dist') + sep);
    await t.setBackend('wasm');
    return 'wasm';
  };
  switch (choice) {
    case 'wasm':
      return useWasm();
    case 'cpu':
      require('@tensorflow/tfjs-backend-cpu');
      await t.setBackend('cpu');
      return 'cpu';
    case 'gpu':
    case 'tensorflow': {
      assertNativeAvailable(choice);
      await t.setBackend('tensorflow');
      return 'tensorflow';
    }
    case 'auto':
    default:
      // Native TensorFlow when the user has it, else the WASM backend shipped inside the npm package.
      if (tryRequire('@tensorflow/tfjs-node-gpu') || tryRequire('@tensorflow/tfjs-node')) {
        if (await t.setBackend('tensorflow')) return 'tensorflow';
      }
      return useWasm();
  }
}

/** A native backend asked for by name must be installed; say so plainly when it is not. */
function assertNativeAvailable(choice: 'tensorflow' | 'gpu'): void {
  const pkg = choice === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  if (!tryRequire(pkg) && !(choice === 'tensorflow' && tryRequire('@tensorflow/tfjs-node-gpu'))) {
    throw new FacekitError('backend', `--backend ${choice} needs ${pkg}, which is not installed here (try --backend wasm)`);
  }
}

let chosen: BackendChoice = 'auto';

/**
 * Record the backend a command asked for, without starting it: it starts when the first model
 * loads, in the thread that runs the models. A command whose models all run in worker threads
 * thus starts no backend of its own. A native backend that is missing fails here, at once.
 */
export function chooseBackend(choice: BackendChoice): void {
  if (choice === 'tensorflow' || choice === 'gpu') assertNativeAvailable(choice);
  useOrtProvider(choice === 'cuda' ? 'cuda' : 'cpu');
  chosen = choice;
}

/** Choose and start the backend, once per process. Later calls return the same backend. */
export async function initBackend(choice: BackendChoice = chosen): Promise<string> {
  if (!backendPromise) {
    backendPromise = (async () => {
      // The WASM module (emscripten) adds process-wide 'uncaughtException' and
      // 'unhandledRejection' handlers when it starts. They would change how the host program
      // handles its own errors: take them off again.
      const events = ['uncaughtException', 'unhandledRejection'];
      const emitter = process as unknown as NodeJS.EventEmitter;
      const before = events.map((e) => new Set(emitter.listeners(e)));
      const name = await setBackend(choice);
      await tf().ready();
      events.forEach((e, i) => {
        for (const l of emitter.listeners(e)) if (!before[i]!.has(l)) emitter.removeListener(e, l as (...args: unknown[]) => void);
      });
      // Keep tfjs quiet on stdout: data goes there, not library chatter.
      tf().env().set('PROD', true);
      return name;
    })();
  }
  return backendPromise;
}

/** The backend the command chose (chooseBackend), started on the first model load. */
async function backend(): Promise<Tf> {
  await initBackend();
  return tf();
}

/* ------------------------------------------------------------------ model loading */

const cache = new Map<string, Promise<unknown>>();

/** Load once per process; the key names the model. */
function once<T>(key: string, load: () => Promise<T>): Promise<T> {
  let p = cache.get(key) as Promise<T> | undefined;
  if (!p) {
    p = load();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

interface WeightsManifestGroup {
  paths: string[];
  weights: TfCore.io.WeightsManifestEntry[];
}

function readWeights(manifestPath: string, groups: WeightsManifestGroup[]): { specs: TfCore.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const dir = dirname(manifestPath);
  const specs: TfCore.io.WeightsManifestEntry[] = [];
  const parts: Buffer[] = [];
  for (const g of groups) {
    specs.push(...g.weights);
    for (const p of g.paths) parts.push(readFileSync(join(dir, p)));
  }
  const all = Buffer.concat(parts);
  return { specs, data: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer };
}

/** A tfjs graph model (model.json + shards) from a package folder, loaded from disk. */
export function loadGraphModel(pkg: string, file: string): Promise<GraphModel> {
  return once(`${pkg}/${file}`, async () => {
    const t = await backend();
    const converter = require('@tensorflow/tfjs-converter') as typeof import('@tensorflow/tfjs-converter');
    const path = modelPath(pkg, file);
    const json = JSON.parse(readFileSync(path, 'utf8')) as {
      modelTopology: object; weightsManifest: WeightsManifestGroup[]; format?: string; generatedBy?: string;
      convertedBy?: string; signature?: object; userDefinedMetadata?: Record<string, unknown>;
    };
    const { specs, data } = readWeights(path, json.weightsManifest);
    const artifacts: TfCore.io.ModelArtifacts = {
      modelTopology: json.modelTopology, weightSpecs: specs, weightData: data,
      format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy ?? null,
      signature: json.signature, userDefinedMetadata: json.userDefinedMetadata,
    } as TfCore.io.ModelArtifacts;
    return converter.loadGraphModel(t.io.fromMemory(artifacts));
  });
}

/**
 * A Keras model that a package ships as two UMD scripts (nsfwjs's form: one holds the topology and
 * the weights manifest, the other the weights in base64), cut at the layer `output`. The scripts
 * are run in an empty `vm` context (they only assign `module.exports`), and the topology is copied
 * through JSON: tfjs-layers cannot walk arrays made in another context.
 */
export function loadUmdLayersModel(pkg: string, topologyFile: string, weightsFile: string, output: string): Promise<LayersModel> {
  return once(`${pkg}/${topologyFile}#${output}`, async () => {
    const t = await backend();
    const layers = require('@tensorflow/tfjs-layers') as typeof import('@tensorflow/tfjs-layers');
    const run = (file: string): unknown => {
      const path = modelPath(pkg, file);
      const module = { exports: {} as unknown };
      try {
        runInNewContext(readFileSync(path, 'utf8'), { module, exports: module.exports }, { filename: path, timeout: 10_000 });
      } catch (e) {
        throw new FacekitError('bad_model', `cannot read model file: ${(e as Error).message}`, path);
      }
      return module.exports;
    };
    const topo = JSON.parse(JSON.stringify(run(topologyFile))) as { modelTopology?: object; weightsManifest?: WeightsManifestGroup[] };
    const b64 = run(weightsFile);
    if (!topo.modelTopology || !topo.weightsManifest || typeof b64 !== 'string') {
      throw new FacekitError('bad_model', 'not a Keras model in nsfwjs\'s form', modelPath(pkg, topologyFile));
    }
    const weights = Buffer.from(b64, 'base64');
    const model = await layers.loadLayersModel(t.io.fromMemory({
      modelTopology: topo.modelTopology,
      weightSpecs: topo.weightsManifest.flatMap((g) => g.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    }));
    return layers.model({ inputs: model.inputs, outputs: model.getLayer(output).output });
  });
}

/** Named weight tensors from a tfjs weights manifest (the format face-api ships). */
export function loadWeightMap(pkg: string, file: string): Promise<TfCore.NamedTensorMap> {
  return once(`${pkg}/${file}`, async () => {
    const t = await backend();
    const path = modelPath(pkg, file);
    const groups = JSON.parse(readFileSync(path, 'utf8')) as WeightsManifestGroup[];
    const { specs, data } = readWeights(path, groups);
    return t.io.decodeWeights(data, specs);
  });
}

/* ------------------------------------------------------------------ face-api (SSD, tiny, 68 landmarks) */

export type FaceApi = typeof import('@vladmandic/face-api');

/** face-api with the nets a detector (or an analyzer) needs, loaded from the package's model folder. */
export function loadFaceApi(nets: Array<'ssdMobilenetv1' | 'tinyFaceDetector' | 'faceLandmark68Net' | 'ageGenderNet' | 'faceExpressionNet'>): Promise<FaceApi> {
  return once(`face-api:${nets.join(',')}`, async () => {
    await backend();
    const faceapi = require(join(packageDir('@vladmandic/face-api'), 'dist', 'face-api.node-wasm.js')) as FaceApi;
    const dir = join(packageDir('@vladmandic/face-api'), 'model');
    for (const n of nets) {
      const net = faceapi.nets[n];
      if (!net.isLoaded) await net.loadFromDisk(dir);
    }
    return faceapi;
  });
}
