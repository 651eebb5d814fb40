/**
 * The journal of a build under way (`<db>.partial`): each finished face is appended and synced to
 * disk, so that a build killed at any moment resumes where it stopped, while the previous gallery
 * stays untouched until the new one is saved whole.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import type { GalleryEntry, GalleryMeta } from './gallery.js';

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
export function readJournal(dbPath: string, meta: GalleryMeta): { entry: GalleryEntry; vector: number[] }[] {
  const path = journalPath(dbPath);
  if (!existsSync(path)) return [];
  const out: { entry: GalleryEntry; vector: number[] }[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line) as JournalLine;
      // A journal from other settings is of no use: its vectors would not compare.
      if (j.meta.model !== meta.model || j.meta.dim !== meta.dim || j.meta.flip !== meta.flip) return [];
      if (j.vector.length === meta.dim) out.push({ entry: j.entry, vector: j.vector });
    } catch {
      /* the last line of a killed run may be cut short */
    }
  }
  return out;
}

/** Append-only record of finished faces during a build; fsynced line by line. */
export class Journal {
  private fd: number | undefined;
  constructor(private readonly path: string) {}

  append(line: JournalLine): void {
    if (this.fd === undefined) this.fd = openSync(this.path, 'a');
    writeSync(this.fd, JSON.stringify(line) + '\n');
    // Synced line by line: a face reported done survives a power cut, not only a kill.
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
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
