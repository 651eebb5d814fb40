/**
 * Run the pipeline over many images on every core: worker threads, each with its own backend and
 * models loaded once. `WorkerPool` stays up (the server uses one); `runJobs` is a batch over it
 * that reports results in input order.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { BackendChoice } from '../models/runtime.js';
import { runImage, type PipelinePlan } from './run.js';
import type { FaceRecord } from '../core/records.js';

export interface ImageJob {
  image: string;
  plan: PipelinePlan;
  /** image bytes already in memory (stdin, an upload); otherwise the worker reads `image` */
  bytes?: Uint8Array;
}

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

interface Pending {
  resolve: (records: FaceRecord[]) => void;
  reject: (err: Error) => void;
  job: ImageJob;
}

/** A fixed set of worker threads; `run` queues a job and resolves with its records. */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { id: number; job: ImageJob }[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly busy = new Map<Worker, number>();
  private nextId = 0;
  private closed = false;

  /** `onCrash` hears of bugs inside a worker (the job still gets an error record). */
  constructor(size: number, backend: BackendChoice, private readonly onCrash?: (job: ImageJob, stack: string) => void) {
    const file = fileURLToPath(new URL('./worker.js', import.meta.url));
    for (let i = 0; i < size; i++) {
      const w = new Worker(file, { workerData: { backend } });
      w.on('message', (msg: { id: number; records: FaceRecord[]; crash?: string }) => {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        this.busy.delete(w);
        this.idle.push(w);
        if (p) {
          if (msg.crash) this.onCrash?.(p.job, msg.crash);
          p.resolve(msg.records);
        }
        this.pump();
      });
      w.on('error', (err) => this.fail(w, err));
      w.on('exit', (code) => {
        if (!this.closed) this.fail(w, new Error(`worker stopped with exit code ${code}`));
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Jobs waiting for a free worker. */
  get waiting(): number {
    return this.queue.length;
  }

  run(job: ImageJob): Promise<FaceRecord[]> {
    if (this.closed) return Promise.reject(new Error('worker pool is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, job });
      this.queue.push({ id, job });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { id, job } = this.queue.shift()!;
      this.busy.set(w, id);
      w.postMessage({ id, image: job.image, plan: job.plan, bytes: job.bytes });
    }
  }

  private fail(w: Worker, err: Error): void {
    const id = this.busy.get(w);
    if (id !== undefined) {
      this.pending.get(id)?.reject(err);
      this.pending.delete(id);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error('worker pool closed'));
    this.pending.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export interface BatchOptions {
  workers: number;
  backend: BackendChoice;
  /** called once per image, in input order */
  onResult: (job: ImageJob, records: FaceRecord[], index: number) => void | Promise<void>;
  onCrash?: (job: ImageJob, stack: string) => void;
  /** checked before each new job: when true, no more jobs start and the run ends after those under way */
  shouldStop?: () => boolean;
}

/**
 * Process `jobs` on `opts.workers` threads, reporting in input order. With one worker or one job
 * it runs in this thread: no start-up cost for the common single-image call.
 */
export async function runJobs(jobs: ImageJob[], opts: BatchOptions): Promise<void> {
  const stop = opts.shouldStop ?? (() => false);
  const n = Math.min(opts.workers, jobs.length);
  if (n <= 1) {
    for (let i = 0; i < jobs.length && !stop(); i++) {
      await opts.onResult(jobs[i]!, await runImage(jobs[i]!.image, jobs[i]!.plan, jobs[i]!.bytes), i);
    }
    return;
  }
  const pool = new WorkerPool(n, opts.backend, opts.onCrash);
  try {
    // Keep every worker fed with one job in hand and one queued; stop feeding on request.
    const results: Promise<FaceRecord[]>[] = [];
    let started = 0;
    const startNext = () => {
      if (started < jobs.length && !stop()) {
        const i = started++;
        results[i] = pool.run(jobs[i]!);
        results[i]!.then(startNext, () => undefined);
      }
    };
    for (let i = 0; i < 2 * n; i++) startNext();
    for (let i = 0; i < jobs.length; i++) {
      if (i >= started) break; // stopped: nothing more was started
      await opts.onResult(jobs[i]!, await results[i]!, i);
    }
  } finally {
    await pool.close();
  }
}
