/**
 * The journal of a build under way (`<db>.partial`): each finished face is appended and synced to
 * disk, so that a build killed at any moment resumes where it stopped, while the previous gallery
 * stays untouched until the new one is saved whole.
 */
import { closeSync, existsSync, fsyncSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { VectorRows, type GalleryEntry, type GalleryMeta } from './gallery.js';

/** One finished face of an interrupted build, kept so that the next run need not redo it. */
export interface JournalLine {
  meta: GalleryMeta;
  entry: GalleryEntry;
  vector: number[];
}

export function journalPath(dbPath: string): string {
  return `${dbPath}.partial`;
}

/** Entries finished by an earlier, interrupted run with the same settings. */
export function readJournal(dbPath: string, meta: GalleryMeta): { entries: GalleryEntry[]; rows: VectorRows } {
  const path = journalPath(dbPath);
  const out = { entries: [] as GalleryEntry[], rows: new VectorRows(meta.dim) };
  if (!existsSync(path)) return out;
  // Line by line in 1 MB reads: the journal of a million-face build is larger than one string.
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let rest = '';
    for (let n = readSync(fd, buf); ; n = readSync(fd, buf)) {
      const lines = (rest + buf.toString('utf8', 0, n)).split('\n');
      rest = n === 0 ? '' : lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        let j: JournalLine;
        try {
          j = JSON.parse(line) as JournalLine;
        } catch {
          continue; // the last line of a killed run may be cut short
        }
        // A journal from other settings is of no use: its vectors would not compare.
        if (j.meta.model !== meta.model || j.meta.dim !== meta.dim || j.meta.flip !== meta.flip) return { entries: [], rows: new VectorRows(meta.dim) };
        if (j.vector.length === meta.dim) {
          out.entries.push(j.entry);
          out.rows.push(j.vector);
        }
      }
      if (n === 0) break;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Append-only record of finished faces during a build; written line by line, synced to disk every 250 ms and at the end. */
export class Journal {
  private fd: number | undefined;
  private lastSync = 0;
  constructor(private readonly path: string) {}

  append(line: JournalLine): void {
    if (this.fd === undefined) this.fd = openSync(this.path, 'a');
    writeSync(this.fd, JSON.stringify(line) + '\n');
    // A write reaches the kernel at once, so a killed build loses nothing; a sync to the disk at
    // most every 250 ms keeps a power cut from losing more than that, without one sync per face
    // (which would make a million-record build-db take hours).
    const now = Date.now();
    if (now - this.lastSync >= 250) {
      fsyncSync(this.fd);
      this.lastSync = now;
    }
  }

  close(): void {
    if (this.fd !== undefined) {
      fsyncSync(this.fd);
      closeSync(this.fd);
    }
    this.fd = undefined;
  }

  /** The build finished and the gallery holds everything: the journal is no longer needed. */
  remove(): void {
    this.close();
    try {
      unlinkSync(this.path);
    } catch {
      /* never written */
    }
  }
}
