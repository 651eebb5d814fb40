/**
 * The journal of a build under way (`<db>.partial`): each finished face is appended and synced to
 * disk, so that a build killed at any moment resumes where it stopped, while the previous gallery
 * stays untouched until the new one is saved whole.
 *
 * Binary, so that a million-face build writes 0.7 GB, not 1.5 GB of JSON numbers:
 *   `FKJOURNAL2\n` + the gallery settings as one JSON line, then one record per face:
 *   u32 LE byte length of the entry's JSON, the entry's JSON, `dim` float32 LE.
 * A record cut short by a kill is dropped, and cut off before the next run appends.
 * Journals of facekit before this format (JSON Lines, `{meta, entry, vector}` each) are still read,
 * and rewritten in this format when a build resumes from one.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import type { GalleryEntry, GalleryMeta } from './gallery.js';
import { VectorRows } from './vector-rows.js';

const MAGIC = 'FKJOURNAL2\n';

export function journalPath(dbPath: string): string {
  return `${dbPath}.partial`;
}

/** What an earlier, interrupted run left: its faces, and how to go on writing after them. */
export interface JournalState {
  entries: GalleryEntry[];
  rows: VectorRows;
  /** 'binary': append after `end` (the last whole record); 'rewrite': start a new journal (none, another format, other settings) */
  mode: 'binary' | 'rewrite';
  end: number;
}

const sameSettings = (a: Pick<GalleryMeta, 'model' | 'dim' | 'flip'>, b: GalleryMeta): boolean => a.model === b.model && a.dim === b.dim && a.flip === b.flip;

/** Entries finished by an earlier, interrupted run with the same settings. */
export function readJournal(dbPath: string, meta: GalleryMeta): JournalState {
  const path = journalPath(dbPath);
  const fresh = (): JournalState => ({ entries: [], rows: new VectorRows(meta.dim), mode: 'rewrite', end: 0 });
  if (!existsSync(path)) return fresh();
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(MAGIC.length);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n === MAGIC.length && head.toString('latin1') === MAGIC) return readBinary(fd, meta) ?? fresh();
    return { ...readJsonLines(fd, meta), mode: 'rewrite', end: 0 };
  } finally {
    closeSync(fd);
  }
}

/** Reads a file front to back in 4 MB pieces, handing out exact byte ranges. */
class Reader {
  private buf = Buffer.alloc(0);
  private at = 0;
  /** file offset of buf[0] */
  private base: number;
  private done = false;

  constructor(private readonly fd: number, start: number) {
    this.base = start;
  }

  get offset(): number {
    return this.base + this.at;
  }

  /** The next `n` bytes, or undefined when the file ends first. */
  take(n: number): Buffer | undefined {
    while (this.buf.length - this.at < n && !this.done) {
      const chunk = Buffer.alloc(Math.max(4 << 20, n));
      const got = readSync(this.fd, chunk, 0, chunk.length, this.base + this.buf.length);
      if (got === 0) this.done = true;
      this.base += this.at;
      this.buf = Buffer.concat([this.buf.subarray(this.at), chunk.subarray(0, got)]);
      this.at = 0;
    }
    if (this.buf.length - this.at < n) return undefined;
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

function readBinary(fd: number, meta: GalleryMeta): JournalState | undefined {
  const head = Buffer.alloc(64 << 10);
  const got = readSync(fd, head, 0, head.length, MAGIC.length);
  const nl = head.subarray(0, got).indexOf(10);
  let m: GalleryMeta;
  try {
    if (nl < 0) return undefined;
    m = JSON.parse(head.toString('utf8', 0, nl)) as GalleryMeta;
  } catch {
    return undefined; // no whole settings line: a journal cut short as it began
  }
  // A journal from other settings is of no use: its vectors would not compare.
  if (!sameSettings(m, meta)) return undefined;
  const r = new Reader(fd, MAGIC.length + nl + 1);
  const out: JournalState = { entries: [], rows: new VectorRows(meta.dim), mode: 'binary', end: r.offset };
  const vectorBytes = meta.dim * 4;
  const v = new Float32Array(meta.dim); // each record's vector, copied into the rows from here
  const vBytes = Buffer.from(v.buffer);
  for (;;) {
    const len = r.take(4);
    if (!len) break;
    const body = r.take(len.readUInt32LE(0) + vectorBytes);
    if (!body) break; // the last record of a killed run, cut short
    const jsonBytes = body.length - vectorBytes;
    let entry: GalleryEntry;
    try {
      entry = JSON.parse(body.toString('utf8', 0, jsonBytes)) as GalleryEntry;
    } catch {
      break;
    }
    vBytes.set(body.subarray(jsonBytes));
    if (!v.every(Number.isFinite)) break;
    out.entries.push(entry);
    out.rows.push(v);
    out.end = r.offset;
  }
  return out;
}

/** The JSON Lines journal of facekit before the binary one. */
function readJsonLines(fd: number, meta: GalleryMeta): { entries: GalleryEntry[]; rows: VectorRows } {
  const out = { entries: [] as GalleryEntry[], rows: new VectorRows(meta.dim) };
  const buf = Buffer.alloc(1 << 20);
  let rest = '';
  for (let pos = 0; ; ) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    pos += n;
    const lines = (rest + buf.toString('utf8', 0, n)).split('\n');
    rest = n === 0 ? '' : lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      let j: { meta: GalleryMeta; entry: GalleryEntry; vector: number[] };
      try {
        j = JSON.parse(line) as typeof j;
      } catch {
        continue; // the last line of a killed run may be cut short
      }
      if (!sameSettings(j.meta, meta)) return { entries: [], rows: new VectorRows(meta.dim) };
      if (j.vector.length === meta.dim) {
        out.entries.push(j.entry);
        out.rows.push(j.vector);
      }
    }
    if (n === 0) break;
  }
  return out;
}

/** Append-only record of finished faces during a build; written face by face, synced to disk every 250 ms and at the end. */
export class Journal {
  private fd: number | undefined;
  /** where the next record goes (positioned writes: a file opened to go on after a cut record starts at 0) */
  private pos = 0;
  private lastSync = 0;

  /** `state`: what readJournal found; a journal in another format (or none) is started anew. */
  constructor(private readonly path: string, private readonly meta: GalleryMeta, private readonly state: Pick<JournalState, 'mode' | 'end'>) {}

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    if (this.state.mode === 'binary') {
      const fd = openSync(this.path, 'r+');
      ftruncateSync(fd, this.state.end); // drop a record a kill cut short
      this.fd = fd;
      this.pos = this.state.end;
    } else {
      this.fd = openSync(this.path, 'w');
      this.pos = writeSync(this.fd, MAGIC + JSON.stringify(this.meta) + '\n', 0);
    }
    return this.fd;
  }

  /** records not yet written, in one reused buffer: a write per 1 MiB or per 100 ms, not one (nor an allocation) per face */
  private chunk = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  /** A write that fails on the timer (disk full) is thrown by the next append or close, not lost. */
  private failure: unknown;

  append(entry: GalleryEntry, vector: ArrayLike<number>): void {
    if (this.failure) throw this.failure;
    const json = Buffer.from(JSON.stringify(entry));
    const size = 4 + json.length + this.meta.dim * 4;
    if (this.used + size > this.chunk.length) this.flush();
    if (size > this.chunk.length) this.chunk = Buffer.allocUnsafe(size);
    const at = this.used;
    this.chunk.writeUInt32LE(json.length, at);
    json.copy(this.chunk, at + 4);
    const v = vector instanceof Float32Array ? vector : Float32Array.from(vector);
    Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(this.chunk, at + 4 + json.length);
    this.used += size;
    // A face reaches the kernel within 100 ms, so a killed build redoes at most that much; a sync
    // to the disk at most every 250 ms keeps a power cut from losing more, without one write and
    // sync per face (which would make a million-record build-db take hours).
    this.timer ??= setTimeout(() => this.flushLater(), 100).unref();
  }

  private flushLater(): void {
    try {
      this.flush();
    } catch (err) {
      this.failure = err;
    }
  }

  /** Write what is pending. */
  flush(): void {
    if (this.failure) throw this.failure;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.used === 0) return;
    const fd = this.open();
    for (let off = 0; off < this.used;) {
      const n = writeSync(fd, this.chunk, off, this.used - off, this.pos);
      off += n;
      this.pos += n;
    }
    this.used = 0;
    const now = Date.now();
    if (now - this.lastSync >= 250) {
      fsyncSync(fd);
      this.lastSync = now;
    }
  }

  close(): void {
    try {
      this.flush();
    } finally {
      const fd = this.fd;
      this.fd = undefined;
      if (fd !== undefined) {
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
    }
  }

  /** The build finished and the gallery holds everything: the journal is no longer needed. */
  remove(): void {
    this.used = 0;
    this.failure = undefined;
    this.close();
    try {
      unlinkSync(this.path);
    } catch {
      /* never written */
    }
  }
}

/** How many whole faces a journal holds (what a build interrupted now would resume with). */
export function journalFaces(dbPath: string, meta: GalleryMeta): number {
  return readJournal(dbPath, meta).entries.length;
}
