/**
 * onnxruntime-node: the native engine for the models facekit has as ONNX graphs (shipped as .onnx
 * or built in memory from other formats). It is loaded lazily, the first time such a model runs,
 * and one thread per session: batch work gets its parallelism from worker threads, as with WASM.
 * Where the native library cannot load, `ortAvailable()` says so and callers fall back or explain.
 */
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { defaultCacheDir } from '../core/cache-dir.js';
import { FacekitError } from '../core/errors.js';

type Ort = typeof import('onnxruntime-node');

const require = createRequire(import.meta.url);
let ort: Ort | undefined;
let loadError: string | undefined;

function loadOrt(): Ort | undefined {
  if (ort || loadError) return ort;
  try {
    ort = require('onnxruntime-node') as Ort;
  } catch (e) {
    loadError = (e as Error).message.split('\n')[0];
  }
  return ort;
}

/** Whether onnxruntime-node loads on this machine (its native library is inside the package). */
export function ortAvailable(): boolean {
  return loadOrt() !== undefined;
}

/** Why onnxruntime-node could not load, when it could not. */
export function ortLoadError(): string | undefined {
  loadOrt();
  return loadError;
}

/** onnxruntime's execution providers facekit offers (`--backend cuda`; CPU otherwise). */
export type OrtProvider = 'cpu' | 'cuda';
let provider: OrtProvider = 'cpu';

/**
 * Why onnxruntime's CUDA provider cannot run here, or undefined when its library is installed.
 * onnxruntime-node ships its CPU library; the CUDA provider's libraries come only from its install
 * script on a Linux x64 machine with CUDA 12 (`npm install onnxruntime-node` without
 * `onnxruntime-node-install=skip`), and they need NVIDIA's CUDA and cuDNN libraries at run time.
 */
export function cudaUnavailable(): string | undefined {
  if (!loadOrt()) return `onnxruntime-node cannot load here (${loadError})`;
  let dir: string;
  try {
    dir = dirname(require.resolve(`onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`));
  } catch {
    dir = join(dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
  }
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    // no folder: no provider
  }
  if (!files.some((f) => f.includes('onnxruntime_providers_cuda'))) {
    return `the installed onnxruntime-node has no CUDA provider (no onnxruntime_providers_cuda library in ${dir}: it is installed by onnxruntime-node's install script on Linux x64 with CUDA 12, which this install skipped)`;
  }
  return undefined;
}

/** Run every later session on `p`; asking for CUDA where it is not installed is a `backend` error. */
export function useOrtProvider(p: OrtProvider): void {
  if (p === 'cuda') {
    const why = cudaUnavailable();
    if (why) throw new FacekitError('backend', `--backend cuda is not available: ${why}; use --backend auto (onnxruntime on the CPU)`);
  }
  provider = p;
}

/** The execution provider sessions are created on. */
export const ortProvider = (): OrtProvider => provider;

/** A float32 tensor as plain data: what goes into and comes out of a session. */
export interface FloatTensor {
  data: Float32Array;
  dims: number[];
}

export interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  /** Run with one float32 input per input name; returns every output. */
  run(inputs: Record<string, FloatTensor>): Promise<Record<string, FloatTensor>>;
}

export interface SessionOptions {
  /** Threads inside one forward pass (default 1: parallelism comes from worker threads). */
  threads?: number;
  /**
   * A name that changes whenever the model does (e.g. with its sha256): onnxruntime's optimized
   * graph is then kept in the cache folder and later sessions load it as it is, which skips most
   * of a session's start (about 0.1-0.2 s per model at every cold start).
   */
  cacheAs?: string;
}

/**
 * Where the optimized graph of `name` is kept. The fully optimized graph holds layouts chosen for
 * this CPU, so the file is keyed by the CPU model and onnxruntime's version too.
 */
let cpuTag: string | undefined;
function optimizedPath(o: Ort, name: string): string {
  const cpu = (cpuTag ??= createHash('sha256').update(`${process.arch} ${cpus()[0]?.model ?? ''}`).digest('hex').slice(0, 8));
  return join(defaultCacheDir(), 'models', `${name}-ort${o.env.versions.common ?? ''}-${cpu}.opt.onnx`);
}

/**
 * Terminating a worker thread while onnxruntime is inside a call aborts the whole process (its
 * native callback throws into the torn-down thread: "terminate called after throwing an instance
 * of 'Napi::Error'"). So in a worker every call passes a gate shared with the thread that may
 * terminate it: [0] calls in flight, [1] stopping. `stopOrtGate` sets stopping, after which no call
 * starts, and resolves once none is in flight; only then is the worker terminated.
 */
let gate: Int32Array | undefined;

/** This thread's calls go through the gate (a worker, with the buffer its pool made by `newOrtGate`). */
export function useOrtGate(shared: SharedArrayBuffer): void {
  gate = new Int32Array(shared);
}

export function newOrtGate(): SharedArrayBuffer {
  return new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
}

/** Let no new call start, and resolve when none is in flight (calls last milliseconds; at most `timeoutMs`). */
export async function stopOrtGate(shared: SharedArrayBuffer, timeoutMs = 10_000): Promise<void> {
  const g = new Int32Array(shared);
  Atomics.store(g, 1, 1);
  const end = Date.now() + timeoutMs;
  while (Atomics.load(g, 0) !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
}

async function gated<T>(call: () => Promise<T>): Promise<T> {
  if (!gate) return call();
  // counted first, then checked: the stopping side sets its flag first, then reads the count
  Atomics.add(gate, 0, 1);
  if (Atomics.load(gate, 1) !== 0) {
    Atomics.sub(gate, 0, 1);
    return new Promise<T>(() => undefined); // being stopped: the thread is about to be terminated
  }
  try {
    return await call();
  } finally {
    Atomics.sub(gate, 0, 1);
  }
}

/**
 * A session over an ONNX model given as a file path, as the model's bytes, or as a function that
 * gives them (called only when onnxruntime's cached graph cannot be used: see `cacheAs`).
 */
export async function createSession(source: string | Uint8Array | (() => Uint8Array), opts: SessionOptions = {}): Promise<OrtSession> {
  const o = loadOrt();
  if (!o) throw new FacekitError('backend', `onnxruntime-node cannot load here (${loadError}); reinstall with npm ci`);
  const threads = opts.threads ?? 1;
  // Severity 3 (errors only): some shipped graphs list their weights as inputs, and ORT warns about each on stderr.
  const options = {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' as const, logSeverityLevel: 3 as const,
    // With onnxruntime's memory pattern, a session's first two runs are slow (about 18 ms more each for
    // BlazeFace here) instead of its first alone; after them, runs take the same time either way.
    enableMemPattern: false,
    executionProviders: provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
  };
  let session: Awaited<ReturnType<Ort['InferenceSession']['create']>> | undefined;
  let bytes: string | Uint8Array | undefined;
  const model = (): string | Uint8Array => (bytes ??= typeof source === 'function' ? source() : source);
  const create = (m: string | Uint8Array, extra: object = {}) => gated(() => (typeof m === 'string' ? o.InferenceSession.create(m, { ...options, ...extra }) : o.InferenceSession.create(m, { ...options, ...extra })));
  const saved = opts.cacheAs && provider === 'cpu' ? optimizedPath(o, opts.cacheAs) : undefined;
  try {
    if (saved && existsSync(saved)) {
      try {
        session = await create(saved, { graphOptimizationLevel: 'disabled' });
      } catch {
        rmSync(saved, { force: true }); // unreadable: made again below
      }
    }
    if (!session && saved) {
      // written by onnxruntime as the session starts, then moved into place (a reader never sees half a file)
      const tmp = `${saved}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
      try {
        mkdirSync(dirname(saved), { recursive: true });
        session = await create(model(), { optimizedModelFilePath: tmp });
        renameSync(tmp, saved);
      } catch {
        rmSync(tmp, { force: true }); // a read-only cache folder: no file, same session
      }
    }
    session ??= await create(model());
  } catch (e) {
    if (provider !== 'cuda') throw e;
    throw new FacekitError('backend', `--backend cuda: onnxruntime could not start its CUDA provider (${(e as Error).message.split('\n')[0]})`);
  }
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(inputs) {
      const feeds: Record<string, InstanceType<Ort['Tensor']>> = {};
      for (const [name, t] of Object.entries(inputs)) feeds[name] = new o.Tensor('float32', t.data, t.dims);
      const out = await gated(() => session.run(feeds));
      const result: Record<string, FloatTensor> = {};
      for (const [name, t] of Object.entries(out)) {
        if (t.type !== 'float32') throw new FacekitError('internal', `model output ${name} is ${t.type}, expected float32`);
        result[name] = { data: t.data as Float32Array, dims: t.dims.map(Number) };
      }
      return result;
    },
  };
}
