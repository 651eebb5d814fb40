/** Output: NDJSON records on stdout (or --out), tables for people, and talk and progress on stderr. */
import { closeSync, createWriteStream, openSync, readSync, type WriteStream } from 'node:fs';
import { looksLikeImageBytes } from '../core/image.js';
import { once } from 'node:events';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { FacekitError, fsError } from '../core/errors.js';
import { ensureDir, isDirectorySync } from '../core/files.js';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import type Table from 'cli-table3';
import type { FaceRecord } from '../core/records.js';
import { writeFileAtomic } from '../core/files.js';

/** cli-table3, loaded when a table is first drawn (a command that prints records never loads it). */
const newTable = (options: Table.TableConstructorOptions): Table.Table => {
  const Ctor = createRequire(import.meta.url)('cli-table3') as new (o: Table.TableConstructorOptions) => Table.Table;
  return new Ctor(options);
};

/* ---------------------------------------------------------------- output */

/**
 * NDJSON out: to stdout as records are made (so that pipelines stream), or to --out FILE, written
 * atomically when the command ends.
 */
export class RecordWriter {
  private file: WriteStream | undefined;
  private failed: FacekitError | undefined;
  private tmp: string | undefined;
  count = 0;
  failures = 0;

  constructor(private readonly toFile?: string) {
    // `--out in.jpg` would replace the photo with records: refused before any work (rewriting a
    // records file in place stays possible: it is written whole, then renamed over the old one)
    if (toFile !== undefined && looksLikeImageFile(toFile)) {
      throw new FacekitError('usage', 'is an image: --out would replace it with records; give a records file (.ndjson)', toFile);
    }
  }

  /**
   * Write one record as soon as it is made. Resolves when the consumer can take more: a reader
   * that is slower than facekit (or stopped) pauses the work instead of filling memory.
   */
  async write(r: FaceRecord): Promise<void> {
    this.count++;
    if (r.error) this.failures++;
    const line = JSON.stringify(r) + '\n';
    const out = this.toFile ? await this.open() : process.stdout;
    if (!out.write(line)) await once(out, 'drain');
  }

  /** --out FILE is written to a temporary file beside it and renamed when complete. */
  private async open(): Promise<WriteStream> {
    if (this.failed) throw this.failed;
    if (!this.file) {
      const target = this.toFile!;
      if (isDirectorySync(target)) throw new FacekitError('unreadable', 'is a directory, expected a file', target);
      await ensureDir(dirname(target));
      this.tmp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      this.file = createWriteStream(this.tmp);
      // A write that fails (disk full, a folder removed) ends the command with one line.
      this.file.on('error', (err) => { this.failed = fsError(err, target); });
    }
    return this.file;
  }

  async close(): Promise<void> {
    if (!this.toFile) return;
    if (!this.file) {
      await mkdir(dirname(this.toFile), { recursive: true }).catch(() => undefined);
      await writeFileAtomic(this.toFile, '');
      return;
    }
    const f = this.file;
    await new Promise<void>((resolve) => f.end(() => resolve()));
    try {
      if (this.failed) throw this.failed;
      await rename(this.tmp!, this.toFile);
    } catch (err) {
      await unlink(this.tmp!).catch(() => undefined);
      throw err instanceof FacekitError ? err : fsError(err, this.toFile);
    }
  }
}


/** Whether `path` is an existing file whose first bytes are an image's. */
function looksLikeImageFile(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(16);
    const n = readSync(fd, head, 0, 16, 0);
    return looksLikeImageBytes(head.subarray(0, n));
  } catch {
    return false; // not there yet, or not readable: the write itself will say
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/* ---------------------------------------------------------------- talk on stderr */

export function warn(msg: string): void {
  if (barOnScreen) {
    process.stderr.write('\r\x1b[K');
    barOnScreen = false;
  }
  // One line, whatever a file name holds: line breaks in names are shown escaped.
  process.stderr.write(`facekit: ${msg.replace(/\r/g, '\\r').replace(/\n/g, '\\n')}\n`);
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
  private readonly tty = Boolean(process.stderr.isTTY);
  private readonly enabled: boolean;
  private done = 0;
  private lastDraw = 0;
  /** when the first item was done: the rate counts from there, so that loading the models is not in the estimate */
  private firstDoneAt: number | undefined;

  /** `plainEveryMs`: how often a plain line is written when stderr is not a terminal; `start`: when the work began. */
  constructor(private readonly total: number, private readonly what = 'images', private readonly plainEveryMs = plainProgressMs(), private readonly start = Date.now()) {
    this.enabled = total > 1;
    this.lastDraw = this.start;
  }

  tick(): void {
    this.done++;
    if (!this.enabled) return;
    const now = Date.now();
    this.firstDoneAt ??= now;
    const interval = this.tty ? 100 : this.plainEveryMs;
    // off a terminal: nothing for short work, and never the last item (the summary says it)
    if (!this.tty && (this.done >= this.total || now - this.start < 2 * interval)) return;
    if (now - this.lastDraw < interval && this.done < this.total) return;
    this.lastDraw = now;
    const since = (now - this.firstDoneAt) / 1000;
    const rate = this.done > 1 && since > 0 ? (this.done - 1) / since : this.done / Math.max((now - this.start) / 1000, 1e-3);
    const left = rate > 0 ? (this.total - this.done) / rate : 0;
    if (!this.tty) {
      process.stderr.write(`facekit: ${this.done}/${this.total} ${this.what}, ${rate.toFixed(1)}/s, ${Math.ceil(left)}s left\n`);
      return;
    }
    const width = 24;
    const filled = Math.round((this.done / this.total) * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    barOnScreen = true;
    process.stderr.write(`\r[${bar}] ${this.done}/${this.total} ${this.what}  ${rate.toFixed(1)}/s  ${this.done > 1 ? `${Math.ceil(left)}s left` : ''} `);
  }

  end(): void {
    if (this.enabled && this.tty && barOnScreen) process.stderr.write('\n');
    barOnScreen = false;
  }
}

/** A progress bar is drawn on the terminal's last line: a warning first clears it (the bar comes back at its next tick). */
let barOnScreen = false;

/** A verb's onProgress as a Progress bar, made when the first report says how many there are. */
export function progressBar(what = 'images'): { update: (p: { done: number; total?: number }) => void; end: () => void } {
  let bar: Progress | undefined;
  const start = Date.now();
  return {
    update: (p) => {
      if (p.total === undefined) return;
      bar ??= new Progress(p.total, what, undefined, start);
      bar.tick();
    },
    end: () => bar?.end(),
  };
}

/* ---------------------------------------------------------------- tables */

/** Fewest characters a shrunk column keeps for its text (a narrower column wraps every word). */
const MIN_COLUMN_TEXT = 6;
/** A header word longer than this may be broken rather than widen its column. */
const MAX_HEADER_WORD = 12;

/**
 * The width tables must fit: the terminal's, when stdout is one; otherwise $COLUMNS when it is
 * set (so a pipe or a test can ask for a width); else none: a table written to a file (--table off
 * a terminal) keeps every cell whole rather than cut file names to fit 100 columns.
 */
export function outputColumns(): number {
  if (process.stdout.isTTY && process.stdout.columns > 0) return process.stdout.columns;
  const env = Number(process.env.COLUMNS);
  if (Number.isInteger(env) && env > 0) return env;
  return Number.POSITIVE_INFINITY;
}

/**
 * Column widths that fit `available` characters: the widest columns shrink first (all columns
 * wider than some cap are cut to it, the cap as high as fits), none below its `minimum`. Widths
 * as given when they already fit; the minimums when even those do not.
 */
export function fitColumnWidths(natural: number[], minimum: number[], available: number): number[] {
  const floor = natural.map((n, i) => Math.min(n, minimum[i] ?? n));
  const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
  if (sum(natural) <= available) return [...natural];
  if (sum(floor) >= available) return floor;
  const at = (cap: number) => natural.map((n, i) => Math.max(floor[i]!, Math.min(n, cap)));
  let lo = 0, hi = Math.max(...natural);
  while (lo < hi) { // the highest cap that fits
    const mid = Math.ceil((lo + hi) / 2);
    if (sum(at(mid)) <= available) lo = mid;
    else hi = mid - 1;
  }
  const widths = at(lo);
  // what is left goes to the columns that were cut, widest first, one character each
  let left = available - sum(widths);
  const cut = widths.map((_, i) => i).filter((i) => widths[i]! < natural[i]!).sort((a, b) => natural[b]! - natural[a]! || a - b);
  for (let k = 0; left > 0 && cut.length > 0; k = (k + 1) % cut.length) {
    const i = cut[k]!;
    if (widths[i]! < natural[i]!) { widths[i]!++; left--; }
    if (cut.every((j) => widths[j]! >= natural[j]!)) break;
  }
  return widths;
}

const length = (s: string) => [...s].length;

/**
 * Text wrapped to lines of at most `width` characters: at spaces where it can, else after a `/`,
 * `-`, `_`, `.` or `,` in the second half of the line, else anywhere. Lines that fit, and every
 * character, stay as they are (only the spaces where a line breaks go).
 */
export function wrapText(text: string, width: number): string {
  const w = Math.max(1, width);
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (length(line) <= w) { out.push(line); continue; }
    let cur = '';
    for (const token of line.match(/\s+|\S+/g) ?? []) {
      if (/^\s/.test(token)) {
        if (cur !== '' && length(cur) + length(token) < w) cur += token;
        else if (cur !== '') { out.push(cur.trimEnd()); cur = ''; }
        continue;
      }
      if (length(cur) + length(token) <= w) { cur += token; continue; }
      if (cur.trim() !== '') out.push(cur.trimEnd());
      cur = '';
      let word = [...token];
      while (word.length > w) {
        const window = word.slice(0, w);
        let cutAt = w;
        for (let i = w; i >= Math.ceil(w / 2); i--) {
          if ('/-_.,'.includes(window[i - 1]!)) { cutAt = i; break; }
        }
        out.push(word.slice(0, cutAt).join(''));
        word = word.slice(cutAt);
      }
      cur = word.join('');
    }
    if (cur.trim() !== '' || out.length === 0) out.push(cur.trimEnd());
  }
  return out.join('\n');
}

type Row = Table.HorizontalTableRow | Table.VerticalTableRow | Table.CrossTableRow;

/** A row as plain cells: [key, value] for a vertical table's row, [key, ...values] for a cross table's. */
function cellsOf(row: Row): { cells: Table.Cell[]; shape: 'row' | 'vertical' | 'cross' } {
  if (Array.isArray(row)) return { cells: row, shape: 'row' };
  const [key, value] = Object.entries(row)[0] ?? ['', ''];
  return Array.isArray(value) ? { cells: [key, ...value], shape: 'cross' } : { cells: [key, value], shape: 'vertical' };
}

const textOf = (c: Table.Cell): string | null => {
  if (c !== null && typeof c === 'object') return (c.colSpan ?? 1) > 1 || (c.rowSpan ?? 1) > 1 ? null : String(c.content ?? '');
  return String(c ?? '');
};

/**
 * The table drawn to fit `columns` characters: each column's width from its longest line, the
 * widest shrunk first when the whole is too wide, and the cells wrapped to their column.
 */
function renderFitted(table: Table.Table, head: string[], columns: number, render: () => string): string {
  const rows = [...table] as Row[];
  const split = rows.map(cellsOf);
  const texts = split.map((r) => r.cells.map(textOf));
  if (texts.some((r) => r.some((t) => t === null))) return render(); // spans: as cli-table3 draws them
  const n = Math.max(head.length, ...texts.map((r) => r.length));
  if (n === 0) return render();
  const pad = 2; // one space either side
  const natural = Array.from({ length: n }, (_, i) => pad + Math.max(1,
    ...[head[i] ?? '', ...texts.map((r) => r[i] ?? '')].flatMap((t) => t!.split('\n').map(length))));
  const minimum = Array.from({ length: n }, (_, i) => {
    const word = Math.max(0, ...(head[i] ?? '').split(/\s+/).map(length));
    return pad + Math.max(MIN_COLUMN_TEXT, Math.min(word, MAX_HEADER_WORD));
  });
  const widths = fitColumnWidths(natural, minimum, columns - (n + 1));
  if (widths.every((w, i) => w === natural[i])) return render();
  const fitted = newTable({ ...table.options, head: head.map((h, i) => wrapText(h, widths[i]! - pad)), colWidths: widths, rowHeights: [] });
  split.forEach((r, ri) => {
    const cells = texts[ri]!.map((t, i) => wrapText(t!, widths[i]! - pad));
    if (r.shape === 'row') fitted.push(cells);
    else if (r.shape === 'vertical') fitted.push({ [cells[0]!]: cells[1]! });
    else fitted.push({ [cells[0]!]: cells.slice(1) });
  });
  return fitted.toString();
}

/**
 * A table for people; colours only on a terminal, so piped output stays plain text. Drawn to fit
 * the terminal (`outputColumns()`): long cells wrap, their text unchanged.
 */
export function plainTable(head: string[], columns: () => number = outputColumns): Table.Table {
  const tty = Boolean(process.stdout.isTTY);
  const table = newTable({ head, style: tty ? {} : { head: [], border: [] } });
  const render = table.toString.bind(table);
  Object.defineProperty(table, 'toString', {
    value: () => renderFitted(table, head, columns(), render),
    enumerable: false,
  });
  return table;
}

/**
 * Ctrl-C or SIGTERM during batch work: say `message` once and abort `signal`, so that the verb
 * stops cleanly; `off()` when the work is done.
 */
export function onInterrupt(message: string): { signal: AbortSignal; off: () => void } {
  const ctl = new AbortController();
  const handler = () => {
    if (ctl.signal.aborted) return;
    warn(message);
    ctl.abort(new Error('interrupted'));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ctl.signal,
    off: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
