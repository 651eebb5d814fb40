/**
 * The bounded queue in front of a warm worker pool (a server's). Model work runs at most one job
 * per worker; a few more may wait; beyond that a call is refused at once (`overloaded`, with how
 * long to wait) instead of piling up image bytes in memory. A call whose signal aborts (a request's
 * deadline, a client gone) takes its waiting jobs out of the queue and stops its running ones (the
 * pool replaces their workers).
 */
import { setMaxListeners } from 'node:events';
import { FacekitError } from '../core/errors.js';
import type { FaceRecord } from '../core/records.js';
import type { ImageJob } from './pool.js';

/** The queue is full: `retryAfter` seconds is when trying again is likely to work. */
export class OverloadedError extends FacekitError {
  constructor(message: string, readonly retryAfter: number) {
    super('overloaded', message);
  }
}

/** What the queue needs of a pool (a WorkerPool, or a stand-in). */
export interface JobRunner {
  readonly size: number;
  run(job: ImageJob): Promise<FaceRecord[]>;
  /** stop a job that is running (a WorkerPool terminates and replaces its worker) */
  abort?(job: ImageJob): boolean;
}

interface Waiting {
  job: ImageJob;
  resolve: (r: FaceRecord[]) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

export interface QueueStats {
  workers: number;
  running: number;
  waiting: number;
  maxWaiting: number;
  /** recent mean seconds per image */
  secondsPerImage: number;
}

export class ModelQueue {
  private running = 0;
  private readonly waiting: Waiting[] = [];
  /** moving mean of the time one job takes, for Retry-After */
  private meanMs = 500;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly runner: JobRunner, readonly maxWaiting: number) {}

  stats(): QueueStats {
    return {
      workers: this.runner.size, running: this.running, waiting: this.waiting.length, maxWaiting: this.maxWaiting,
      secondsPerImage: Math.round(this.meanMs) / 1000,
    };
  }

  /**
   * Whether `n` more jobs fit now (free workers plus free places in the queue). When nothing
   * waits and a worker is free, any one request fits: a batch larger than the queue must not be
   * refused forever, and its bytes are in memory already.
   */
  canTake(n: number): boolean {
    const free = Math.max(0, this.runner.size - this.running);
    if (this.waiting.length === 0 && free > 0) return true;
    return this.waiting.length + n <= this.maxWaiting + free;
  }

  /** Seconds until the work ahead is likely done: what a refused client should wait. */
  retryAfter(): number {
    const ahead = this.running + this.waiting.length;
    return Math.max(1, Math.ceil((ahead * this.meanMs) / Math.max(1, this.runner.size) / 1000));
  }

  overloaded(): OverloadedError {
    return new OverloadedError(`busy: ${this.running} images in work and ${this.waiting.length} waiting; try again shortly`, this.retryAfter());
  }

  /**
   * Admit a call's images, all or none (else OverloadedError, thrown at once), and give each its
   * own promise of records. `signal` aborts the call: waiting jobs leave the queue, running ones
   * stop, and their promises reject with the signal's reason.
   */
  submit(jobs: ImageJob[], signal: AbortSignal = new AbortController().signal): Promise<FaceRecord[]>[] {
    if (!this.canTake(jobs.length)) throw this.overloaded();
    // One abort listener per image of the batch: more than Node's default of 10 is expected here.
    setMaxListeners(Math.max(10, jobs.length + 5), signal);
    return jobs.map((j) => this.enqueue(j, signal));
  }

  private enqueue(job: ImageJob, signal: AbortSignal): Promise<FaceRecord[]> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const w: Waiting = {
        job, resolve, reject, signal,
        onAbort: () => {
          const i = this.waiting.indexOf(w);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
      this.waiting.push(w);
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.runner.size && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      this.running++;
      const t0 = Date.now();
      // A request that gives up (deadline, client gone) stops its running job too: an image that
      // takes far too long must not keep a worker after its answer is no longer wanted.
      const stop = () => this.runner.abort?.(w.job);
      w.signal.addEventListener('abort', stop, { once: true });
      this.runner.run(w.job).then(
        (records) => {
          w.signal.removeEventListener('abort', w.onAbort);
          w.resolve(records); // ignored when the request was aborted meanwhile
        },
        (err: unknown) => {
          w.signal.removeEventListener('abort', w.onAbort);
          w.reject(err);
        },
      ).finally(() => {
        w.signal.removeEventListener('abort', stop);
        this.meanMs = 0.8 * this.meanMs + 0.2 * (Date.now() - t0);
        this.running--;
        this.pump();
        if (this.running === 0 && this.waiting.length === 0) for (const f of this.idleWaiters.splice(0)) f();
      });
    }
  }

  /** Resolves when no job runs or waits (used at shutdown, before the workers stop). */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
