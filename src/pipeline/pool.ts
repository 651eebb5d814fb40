/**
 * Run the pipeline over many images on every core: worker threads, each with its own backend and
 * models loaded once. `WorkerPool` stays up (the server keeps one); `runJobs` is a batch over it
 * that reports results in input order. A worker that dies (a crash in native code, an out-of-memory
 * kill, terminate()) fails only its own job, with a clear error, and is replaced.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { FacekitError } from '../core/errors.js';
import type { DecodedImage } from '../core/image.js';
import type { FaceRecord } from '../core/records.js';
import { newOrtGate, stopOrtGate } from '../models/ort.js';
import type { BackendChoice } from '../models/runtime.js';
import { runImage } from './run.js';
import type { PipelinePlan } from './plan.js';

export interface ImageJob {
  image: string;
  plan: PipelinePlan;
  /** image bytes already in memory (stdin, an upload); otherwise the worker reads `image` */
  bytes?: Uint8Array;
  /** pixels already decoded by the caller */
  pixels?: DecodedImage;
}

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

interface Pending {
  resolve: (records: FaceRecord[]) => void;
  reject: (err: Error) => void;
  job: ImageJob;
}

type WorkerMessage = { id: number; records: FaceRecord[]; crash?: string };

/** A fixed number of worker threads; `run` queues a job and resolves with its records. */
export class WorkerPool {
  private readonly gates = new Map<Worker, SharedArrayBuffer>();
  private readonly workers = new Set<Worker>();
  private readonly idle: Worker[] = [];
  private readonly queue: { id: number; job: ImageJob }[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly busy = new Map<Worker, number>();
  /** workers terminated on purpose by abort(): their job was cancelled, they did not crash */
  private readonly cancelled = new Set<Worker>();
  private readonly file = fileURLToPath(new URL('./worker.js', import.meta.url));
  private nextId = 0;
  private closed = false;
  /** how many workers died and were replaced */
  replaced = 0;

  /**
   * `onCrash` hears of bugs inside a worker (the job still gets an error record) and of workers
   * that died (the job is rejected).
   */
  constructor(readonly size: number, private readonly backend: BackendChoice, private readonly onCrash?: (job: ImageJob, stack: string) => void) {
    for (let i = 0; i < size; i++) this.spawn();
  }

  private spawn(): void {
    const ortGate = newOrtGate();
    // the host's flags minus --input-type (`node --input-type=module -e ...`), which a worker file refuses
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const w = new Worker(this.file, { workerData: { backend: this.backend, ortGate }, execArgv });
    this.gates.set(w, ortGate);
    w.on('message', (msg: WorkerMessage) => {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      this.busy.delete(w);
      // A worker that abort() is stopping (its job ended before the terminate took effect) takes
      // no other job: terminating it would cancel that job, another caller's.
      if (!this.cancelled.has(w)) this.idle.push(w);
      if (p) {
        if (msg.crash) this.onCrash?.(p.job, msg.crash);
        p.resolve(msg.records);
      }
      this.pump();
    });
    // 'error' (an uncaught exception) is always followed by 'exit': handle the death once, there.
    let lastError: Error | undefined;
    w.on('error', (err) => { lastError = err; });
    w.on('exit', (code) => this.died(w, lastError ?? new Error(`worker thread stopped with exit code ${code}`)));
    this.workers.add(w);
    this.idle.push(w);
  }

  /** The live worker threads (a test kills one to see the pool recover). */
  threads(): Worker[] {
    return [...this.workers];
  }

  /** Jobs waiting for a free worker. */
  get waiting(): number {
    return this.queue.length;
  }

  run(job: ImageJob): Promise<FaceRecord[]> {
    if (this.closed) return Promise.reject(new FacekitError('internal', 'worker pool is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, job });
      this.queue.push({ id, job });
      this.pump();
    });
  }

  /**
   * Give up on a job: one still waiting leaves the queue; one already running is stopped by
   * terminating its worker thread (a replacement starts at once). Its promise rejects either way.
   * Used when a request's deadline passes, so that an expensive image does not keep a worker busy.
   */
  abort(job: ImageJob): boolean {
    const i = this.queue.findIndex((q) => q.job === job);
    if (i >= 0) {
      const [{ id }] = this.queue.splice(i, 1) as [{ id: number; job: ImageJob }];
      this.pending.get(id)?.reject(new FacekitError('internal', 'cancelled', job.image));
      this.pending.delete(id);
      return true;
    }
    for (const [w, id] of this.busy) {
      if (this.pending.get(id)?.job !== job) continue;
      this.cancelled.add(w);
      void this.stop(w);
      return true;
    }
    return false;
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { id, job } = this.queue.shift()!;
      this.busy.set(w, id);
      w.postMessage({ id, image: job.image, plan: job.plan, bytes: job.bytes, pixels: job.pixels });
    }
  }

  /** Terminate a worker, once no onnxruntime call is under way in it (one would abort the process). */
  private async stop(w: Worker): Promise<void> {
    const g = this.gates.get(w);
    if (g) await stopOrtGate(g);
    await w.terminate();
  }

  private died(w: Worker, err: Error): void {
    this.gates.delete(w);
    if (!this.workers.delete(w)) return;
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
    const id = this.busy.get(w);
    this.busy.delete(w);
    if (this.closed) return;
    const wasCancelled = this.cancelled.delete(w);
    if (id !== undefined) {
      const p = this.pending.get(id);
      this.pending.delete(id);
      if (p && wasCancelled) p.reject(new FacekitError('internal', 'cancelled: the work on this image was stopped', p.job.image));
      else if (p) {
        this.onCrash?.(p.job, err.stack ?? err.message);
        p.reject(new FacekitError('internal', `the worker thread running this image died (${err.message}); it was replaced`, p.job.image));
      }
    }
    if (!wasCancelled) this.replaced++;
    this.spawn();
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new FacekitError('internal', 'worker pool closed'));
    this.pending.clear();
    this.queue.length = 0;
    await Promise.all([...this.workers].map((w) => this.stop(w)));
    this.workers.clear();
  }
}

/**
 * Calls with fewer images than this run in this thread: starting a worker thread loads the models
 * once more (about a second of CPU), while an image takes 0.1-0.2 s.
 */
export const POOL_MIN_IMAGES = 6;

/** Where a call's image jobs run: this thread, a pool of its own, or a warm pool's queue. */
export interface JobSession {
  /** how many jobs run at once at best (a caller keeps about twice as many in hand) */
  readonly parallel: number;
  /** a call's jobs should be submitted all at once (a warm queue admits all or none) */
  readonly together: boolean;
  /** Admit jobs together (a queue refuses all or none) and give each its promise of records. */
  submit(jobs: ImageJob[]): Promise<FaceRecord[]>[];
  /** Release what the session started (its worker threads). */
  close(): Promise<void>;
  /**
   * Start the worker threads now, before the first job (they take about half a second to load the
   * models): a caller that reads its inputs first overlaps the two.
   */
  start?(): void;
}

export interface BatchSessionOptions {
  workers: number;
  backend: BackendChoice;
  /** how many images the call holds, when known: one image never starts a thread */
  expected?: number;
  onCrash?: (job: ImageJob, stack: string) => void;
}

/**
 * A batch's own place to run: this thread for one worker or a few images (no thread start-up for
 * the common single-image call), else `workers` threads, started at the first job and stopped by
 * close(). A job whose worker dies comes back as an error record of its image: the batch goes on.
 */
export function batchSession(o: BatchSessionOptions): JobSession {
  // A worker thread loads the models again (about a second of CPU): a few images run sooner here.
  const n = o.expected !== undefined && o.expected < POOL_MIN_IMAGES ? 1 : Math.min(o.workers, o.expected ?? o.workers);
  if (n <= 1) {
    let chain: Promise<unknown> = Promise.resolve();
    return {
      parallel: 1,
      together: false,
      // one after another: the models of this thread run one image at a time
      submit: (jobs) => jobs.map((j) => {
        const p = chain.then(() => runImage(j.image, j.plan, j.bytes, j.pixels));
        chain = p.catch(() => undefined);
        return p;
      }),
      close: async () => undefined,
    };
  }
  let pool: WorkerPool | undefined;
  return {
    parallel: n,
    together: false,
    start: () => {
      pool ??= new WorkerPool(n, o.backend, o.onCrash);
    },
    submit: (jobs) => jobs.map((j) => {
      pool ??= new WorkerPool(n, o.backend, o.onCrash);
      return pool.run(j).catch((err: unknown) => deathRecords(j, err));
    }),
    close: async () => {
      await pool?.close();
    },
  };
}

/** A job whose worker died is reported as an error record of its image; the batch goes on. */
function deathRecords(job: ImageJob, err: unknown): FaceRecord[] {
  const message = err instanceof Error ? err.message : String(err);
  return [{ schema: 1, image: job.image, face: null, error: { code: 'internal', message } }];
}
