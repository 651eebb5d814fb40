/**
 * A worker thread of the pool: records the backend chosen, then runs the pipeline on the images
 * it is sent. Models load on first use and stay loaded for the worker's life.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { chooseBackend, type BackendChoice } from '../models/runtime.js';
import { useOrtGate } from '../models/ort.js';
import { runImage, type PipelinePlan } from './run.js';
import { toErrorInfo } from '../core/errors.js';
import { errorRecord } from '../core/records.js';
import type { DecodedImage } from '../core/image.js';

interface Task {
  id: number;
  image: string;
  plan: PipelinePlan;
  bytes?: Uint8Array;
  pixels?: DecodedImage;
}

const port = parentPort;
if (!port) throw new Error('worker.js runs only as a worker thread');
const data = workerData as { backend: BackendChoice; ortGate?: SharedArrayBuffer };
if (data.ortGate) useOrtGate(data.ortGate);
// The choice as the main thread made it (onnxruntime's provider too: --backend cuda). The tfjs
// backend starts when a tfjs model first loads: the default models all run on onnxruntime, and a
// worker that never needs tfjs spares its start (WASM compiled, its heap: time and memory per worker).
const ready = Promise.resolve().then(() => chooseBackend(data.backend));

port.on('message', (task: Task) => {
  void (async () => {
    try {
      await ready;
      const records = await runImage(task.image, task.plan, task.bytes, task.pixels);
      port.postMessage({ id: task.id, records });
    } catch (err) {
      // A bug, not bad input: report it on the image's record and keep the worker alive.
      const info = toErrorInfo(err);
      port.postMessage({ id: task.id, records: [errorRecord(task.image, info)], crash: err instanceof Error ? err.stack : String(err) });
    }
  })();
});
