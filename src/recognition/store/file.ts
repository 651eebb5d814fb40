/**
 * A gallery in a file (gallery.json and its sidecars, gallery-file.ts). Reads use an in-memory
 * copy, loaded on first need and reloaded when the file changed on disk (a build-db next to a
 * running server is seen at once); `db info` reads the header alone. Writes go one at a time:
 * the lock file (against other processes), a fresh read, the change, an atomic save, so that
 * neither concurrent requests nor a concurrent CLI lose entries. A bulk build holds the lock for
 * its whole run and journals every face (`<db>.partial`): an interrupted build resumes, and the
 * previous gallery stays intact until the new one is saved whole.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsError } from '../../core/errors.js';
import { VERSION } from '../../core/version.js';
import type { BuildSink, BuildSinkOptions, GalleryCheck, GalleryInfo, StoreKind } from '../backend.js';
import { assertSameModel, InMemoryGallery, type GalleryMeta } from '../gallery.js';
import { checkGallery, loadGallery, readGalleryHeader, saveGallery, type GalleryHeader } from '../gallery-file.js';
import { Journal, journalPath, readJournal } from '../gallery-journal.js';
import { acquireLock, acquireLockWaiting } from '../gallery-lock.js';
import { infoOf, MemoryBackend, RowsSink, searchInWords, type Change } from './memory.js';

export class FileBackend extends MemoryBackend {
  override readonly store: StoreKind = 'file';
  private loaded = false;
  /** identity of the file the in-memory copy was read from (mtime, size, inode) */
  private signature: string | undefined;
  private readonly writes = new WriteQueue();

  private constructor(readonly path: string, meta: GalleryMeta, private header: GalleryHeader | undefined) {
    super(path, meta);
  }

  /**
   * The gallery at `path`. A missing file is `not_found`, unless `create` gives the settings of a
   * new one (made by its first write). Only the header is read here.
   */
  static async open(path: string, opts: { create?: GalleryMeta } = {}): Promise<FileBackend> {
    if (!existsSync(path) && opts.create) return new FileBackend(path, { ...opts.create }, undefined);
    const header = await readGalleryHeader(path);
    const meta: GalleryMeta = { model: header.model, dim: header.dim, metric: header.metric, flip: header.flip, detector: header.detector, ...(header.head ? { head: header.head } : {}) };
    return new FileBackend(path, meta, header);
  }

  override get exists(): boolean {
    return this.loaded ? this.signature !== undefined : this.header !== undefined;
  }

  override counts(): { people: number; faces: number } {
    if (this.loaded || !this.header) return super.counts();
    return { people: this.header.people ?? 0, faces: this.header.count };
  }

  protected override async current(): Promise<InMemoryGallery> {
    if (this.loaded && this.writes.pending > 0) return this.g; // our own write brings it up to date
    const sig = signatureOf(this.path);
    if (!this.loaded || sig !== this.signature) {
      // for reading only (writes load their own fresh copy): its graph is memory-mapped, not read in
      this.g = sig ? await loadGallery(this.path, { readOnly: true }) : new InMemoryGallery({ ...this.meta });
      this.signature = sig;
      this.loaded = true;
    }
    return this.g;
  }

  protected override write<T>(change: (g: InMemoryGallery) => Change<T>, opts: { graph?: boolean } = {}): Promise<T> {
    return this.writes.run(async () => {
      await makeDir(this.path);
      const release = await acquireLockWaiting(this.path);
      try {
        const sig = signatureOf(this.path);
        const fresh = sig ? await loadGallery(this.path, opts) : new InMemoryGallery({ ...this.meta });
        const { value, changed } = change(fresh);
        if (changed) await saveGallery(fresh, this.path, VERSION);
        this.stored(fresh);
        return value;
      } finally {
        release();
      }
    });
  }

  /** The copy in memory is now what the file holds. */
  private stored(g: InMemoryGallery): void {
    this.g = g;
    this.loaded = true;
    this.signature = signatureOf(this.path);
  }

  override reindex(policy?: Parameters<MemoryBackend['reindex']>[0]): Promise<string> {
    // a damaged graph file is what reindex replaces: the gallery is read without it
    return this.write((g) => {
      if (policy) g.indexPolicy = policy;
      g.ann = undefined; // built anew from the vectors when saved
      const what = g.wantsGraph() ? `building an HNSW graph of ${g.size} faces` : 'exact search, no graph';
      return { value: `${what} (index: ${g.indexPolicy})`, changed: true };
    }, { graph: false });
  }

  override async info(): Promise<GalleryInfo> {
    if (this.loaded || !this.header) return super.info();
    // the header alone: a gallery of millions of faces answers at once
    const h = this.header;
    const inline = Array.isArray(h.file.entries) ? h.file.entries : undefined;
    const people = h.people ?? (inline ? new Set(inline.map((e) => e.label)).size : (await this.current()).labels().size);
    const index = h.file.index;
    return infoOf(this.path, this.meta, { people, faces: h.count, created: h.created, search: searchInWords(index?.policy ?? 'auto', index?.graph, h.count) });
  }

  override check(): Promise<GalleryCheck> {
    return checkGallery(this.path);
  }

  override async build(opts: BuildSinkOptions): Promise<BuildSink> {
    await makeDir(this.path);
    // held for the whole build: a second builder is told at once, not made to wait
    const release = acquireLock(this.path);
    try {
      const existing = existsSync(this.path) ? await loadGallery(this.path) : undefined;
      if (existing) assertSameModel(existing.meta, opts.meta, this.path);
      const g = existing ?? new InMemoryGallery({ ...opts.meta });
      const sink = new JournalSink(g, opts, this.path, release, async (saved) => {
        // the build's gallery is not kept: its vectors are let go as it is saved, and a later read loads the file
        await saveGallery(saved, this.path, VERSION, { release: true });
        this.header = await readGalleryHeader(this.path);
        this.g = new InMemoryGallery({ ...this.meta });
        this.loaded = false;
      });
      sink.created = existing === undefined;
      return sink;
    } catch (err) {
      release();
      throw err;
    }
  }

  override idle(): Promise<void> {
    return this.writes.idle();
  }

  override async close(): Promise<void> {
    await this.idle();
  }
}

/** A build of a file gallery: every face journaled as it comes, the gallery saved whole at the end. */
class JournalSink extends RowsSink {
  private readonly journal: Journal;
  private readonly journalFile: string;

  constructor(g: InMemoryGallery, opts: BuildSinkOptions, path: string, private readonly release: () => void, save: (g: InMemoryGallery) => Promise<void>) {
    super(g, opts, save);
    this.journalFile = journalPath(path);
    // what an earlier, interrupted run finished
    const resumed = readJournal(path, g.meta);
    this.journal = new Journal(this.journalFile, g.meta, resumed);
    resumed.entries.forEach((entry, i) => {
      if (g.hasPhoto(entry.hash) && !opts.allFaces) return;
      this.take(entry, resumed.rows.row(i));
      // a journal of an older facekit is started anew in this one's format, with what it held
      if (resumed.mode === 'rewrite') this.journal.append(entry, resumed.rows.row(i));
      this.resumed++;
    });
  }

  override accept(item: Parameters<RowsSink['accept']>[0]): void {
    this.journal.append(item.entry, item.vector);
    super.accept(item);
  }

  override async finish(o: Parameters<RowsSink['finish']>[0]): Promise<{ pruned: number; people: number; faces: number }> {
    try {
      const out = await super.finish(o);
      this.journal.remove();
      return out;
    } finally {
      this.journal.close();
      this.release();
    }
  }

  override async discard(): Promise<void> {
    this.journal.remove();
    this.release();
  }

  override async keep(): Promise<string> {
    this.journal.close();
    this.release();
    return `${this.counts.added + this.resumed} faces are kept in ${this.journalFile}`;
  }
}

/** Writes one after another, counted, so that readers know when their copy is about to change. */
export class WriteQueue {
  private writing: Promise<unknown> = Promise.resolve();
  pending = 0;

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const p = this.writing.then(fn, fn);
    this.writing = p.catch(() => undefined);
    return p.finally(() => {
      this.pending--;
    });
  }

  async idle(): Promise<void> {
    while (this.pending > 0) await this.writing;
  }
}

async function makeDir(path: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (err) {
    throw fsError(err, dirname(path));
  }
}

function signatureOf(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch {
    return undefined;
  }
}

