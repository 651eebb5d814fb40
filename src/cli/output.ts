/** Output: NDJSON records on stdout (or --out), tables for people, and talk and progress on stderr. */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import Table from 'cli-table3';
import type { FaceRecord } from '../core/records.js';
import { writeFileAtomic } from '../core/files.js';

/* ---------------------------------------------------------------- output */

/**
 * NDJSON out: to stdout as records are made (so that pipelines stream), or to --out FILE, written
 * atomically when the command ends.
 */
export class RecordWriter {
  private lines: string[] = [];
  count = 0;
  failures = 0;

  constructor(private readonly toFile?: string) {}

  write(r: FaceRecord): void {
    this.count++;
    if (r.error) this.failures++;
    const line = JSON.stringify(r);
    if (this.toFile) this.lines.push(line);
    else process.stdout.write(line + '\n');
  }

  async close(): Promise<void> {
    if (this.toFile) {
      await mkdir(dirname(this.toFile), { recursive: true }).catch(() => undefined);
      await writeFileAtomic(this.toFile, this.lines.length ? this.lines.join('\n') + '\n' : '');
    }
  }
}


/* ---------------------------------------------------------------- talk on stderr */

export function warn(msg: string): void {
  process.stderr.write(`facekit: ${msg}\n`);
}

/** A one-line progress bar on stderr, only when stderr is a terminal. */
/** Seconds between plain progress lines: FACEKIT_PROGRESS_EVERY, else 5. */
function plainProgressMs(): number {
  const s = Number(process.env.FACEKIT_PROGRESS_EVERY);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 5000;
}

/**
 * Progress on stderr for long work: a bar redrawn in place on a terminal; elsewhere (a log file,
 * CI) a plain line every few seconds, so that a long run is never silent.
 */
export class Progress {
  private readonly start = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly enabled: boolean;
  private done = 0;
  private lastDraw = 0;

  /** `plainEveryMs`: how often a plain line is written when stderr is not a terminal. */
  constructor(private readonly total: number, private readonly what = 'images', private readonly plainEveryMs = plainProgressMs()) {
    this.enabled = total > 1;
    this.lastDraw = this.start;
  }

  tick(): void {
    this.done++;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < (this.tty ? 100 : this.plainEveryMs) && (this.done < this.total || !this.tty)) return;
    this.lastDraw = now;
    const secs = (now - this.start) / 1000;
    const rate = this.done / Math.max(secs, 1e-3);
    const left = rate > 0 ? (this.total - this.done) / rate : 0;
    if (!this.tty) {
      process.stderr.write(`facekit: ${this.done}/${this.total} ${this.what}, ${rate.toFixed(1)}/s, ${Math.ceil(left)}s left\n`);
      return;
    }
    const width = 24;
    const filled = Math.round((this.done / this.total) * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    process.stderr.write(`\r[${bar}] ${this.done}/${this.total} ${this.what}  ${rate.toFixed(1)}/s  ${Math.ceil(left)}s left `);
  }

  end(): void {
    if (this.enabled && this.tty) process.stderr.write('\n');
  }
}

/** A table for people; colours only on a terminal, so piped output stays plain text. */
export function plainTable(head: string[]): Table.Table {
  const tty = Boolean(process.stdout.isTTY);
  return new Table({ head, style: tty ? {} : { head: [], border: [] } });
}
