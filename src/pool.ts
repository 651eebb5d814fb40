/**
 * Run the pipeline over many images on every core: one worker thread per core, each with its own
 * backend and models; results come back in input order.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { BackendChoice } from './runtime.js';
import { runImage, type PipelinePlan } from './pipeline.js';
import type { FaceRecord } from './records.js';

export interface ImageJob {
  image: string;
  plan: PipelinePlan;
}

export interface PoolOptions {
  workers: number;
  backend: BackendChoice;
  /** called once per image, in input order */
  onResult: (job: ImageJob, records: FaceRecord[], index: number) => void | Promise<void>;
  /** called when a worker hit a bug (with its stack) */
  onCrash?: (job: ImageJob, stack: string) => void;
  /** checked before each new job: when true, no more jobs start and the run ends after the ones under way */
  shouldStop?: () => boolean;
}

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Process `jobs` with `opts.workers` threads (in this thread when 1 worker or 1 job: no start-up
 * cost for the common single-image call).
 */
export async function runJobs(jobs: ImageJob[], opts: PoolOptions): Promise<void> {
  const n = Math.min(opts.workers, jobs.length);
  const stop = opts.shouldStop ?? (() => false);
  if (n <= 1) {
    for (let i = 0; i < jobs.length && !stop(); i++) await opts.onResult(jobs[i]!, await runImage(jobs[i]!.image, jobs[i]!.plan), i);
    return;
  }
  const done = new Map<number, FaceRecord[]>();
  let next = 0; // next job to hand out
  let emitted = 0; // next job to report, for input order
  let emitting: Promise<void> = Promise.resolve();
  const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url));
  const workers: Worker[] = [];

  await new Promise<void>((resolve, reject) => {
    let busy = 0;
    const flush = () => {
      emitting = emitting.then(async () => {
        while (done.has(emitted)) {
          const recs = done.get(emitted)!;
          done.delete(emitted);
          await opts.onResult(jobs[emitted]!, recs, emitted);
          emitted++;
        }
        if (emitted === jobs.length || (busy === 0 && emitted === next)) resolve();
      }).catch(reject);
    };
    const feed = (w: Worker) => {
      if (next >= jobs.length || stop()) return;
      const id = next++;
      busy++;
      w.postMessage({ id, image: jobs[id]!.image, plan: jobs[id]!.plan });
    };
    for (let i = 0; i < n; i++) {
      const w = new Worker(workerFile, { workerData: { backend: opts.backend } });
      workers.push(w);
      w.on('message', (msg: { id: number; records: FaceRecord[]; crash?: string }) => {
        if (msg.crash && opts.onCrash) opts.onCrash(jobs[msg.id]!, msg.crash);
        busy--;
        done.set(msg.id, msg.records);
        feed(w);
        flush();
      });
      w.on('error', reject);
      w.on('exit', (code) => {
        if (code !== 0 && emitted < jobs.length) reject(new Error(`worker stopped with exit code ${code}`));
      });
      feed(w);
    }
  }).finally(async () => {
    await Promise.all(workers.map((w) => w.terminate()));
  });
}
