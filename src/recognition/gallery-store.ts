/**
 * The server's view of the gallery file. Reads use an in-memory copy that is reloaded when the
 * file changes on disk (a `facekit build-db` next to a running server is seen at once). Writes go
 * one at a time through the gallery module: the lock file (against other processes), a fresh read
 * of the file, then its atomic save, so that neither concurrent requests nor a concurrent CLI
 * lose entries.
 *
 * Photos added over HTTP are kept next to the gallery, in `<db dir>/photos/<sha256>.<ext>`, so
 * that the gallery can show them and a later `build-db --prune` keeps them.
 */
import { mkdirSync, statSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { imageFormat } from '../core/image.js';
import { FacekitError } from '../core/errors.js';
import { assertSameModel, defaultMetaFor, InMemoryGallery, type GalleryEntry, type GalleryMeta } from './gallery.js';
import { loadGallery, saveGallery } from './gallery-file.js';
import { acquireLock } from './gallery-lock.js';
import { writeFileAtomic } from '../core/files.js';
import { VERSION } from '../core/version.js';

export interface NewFace {
  label: string;
  /** the uploaded file's name, for answers */
  name: string;
  bytes: Buffer;
  hash: string;
  face: number;
  box?: [number, number, number, number];
  vector: number[];
}

export interface AddResult {
  added: { name: string; hash: string; face: number; image: string }[];
  /** photos already in the gallery (by content), with who they belong to */
  skipped: { name: string; hash: string; label: string }[];
}

export { sha256 } from '../core/files.js';

/** File extension for image bytes (the upload's own name is never used as a path). */
export function imageExtension(b: Uint8Array): string {
  const f = imageFormat(b) ?? 'avif';
  return f === 'jpeg' ? '.jpg' : f === 'tiff' ? '.tif' : `.${f}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The server's gallery, wherever it lives: read from memory, written through to its store. */
export interface GalleryStore {
  /** the gallery file, or the database URL (password removed) */
  readonly dbPath: string;
  /** where photos added over HTTP are kept */
  readonly photosDir: string;
  /** the gallery as it is in its store now (reloaded when another process changed it) */
  current(): Promise<InMemoryGallery>;
  /** the in-memory copy without asking the store (for /health) */
  peek(): InMemoryGallery;
  add(faces: NewFace[], model: Pick<GalleryMeta, 'model' | 'dim'>): Promise<AddResult>;
  remove(label: string): Promise<number>;
  /** resolves once the writes under way are stored (shutdown waits for this) */
  idle(): Promise<void>;
  readonly busy: boolean;
  close(): Promise<void>;
}

export type StoreDefaults = { model: string; metric: GalleryMeta['metric']; flip: boolean; detector: string };

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

/**
 * Store each new photo under `<photosDir>/<sha256>.<ext>`, skipping photos already in (by content).
 * Returns the entries to add; on failure the photos written are removed again.
 */
export async function storePhotos(faces: NewFace[], known: Map<string, string>, photosDir: string): Promise<{ items: { entry: GalleryEntry; vector: number[] }[]; result: AddResult; written: string[] }> {
  const result: AddResult = { added: [], skipped: [] };
  const items: { entry: GalleryEntry; vector: number[] }[] = [];
  const written: string[] = [];
  try {
    for (const f of faces) {
      const owner = known.get(f.hash);
      if (owner !== undefined) {
        result.skipped.push({ name: f.name, hash: f.hash, label: owner });
        continue;
      }
      known.set(f.hash, f.label);
      mkdirSync(photosDir, { recursive: true });
      const image = join(photosDir, `${f.hash}${imageExtension(f.bytes)}`);
      await writeFileAtomic(image, f.bytes);
      written.push(image);
      items.push({ entry: { label: f.label, image, hash: f.hash, face: f.face, box: f.box }, vector: f.vector });
      result.added.push({ name: f.name, hash: f.hash, face: f.face, image });
    }
  } catch (err) {
    await Promise.all(written.map((p) => unlink(p).catch(() => undefined)));
    throw err;
  }
  return { items, result, written };
}

/** The gallery file's store. */
export class FileGalleryStore implements GalleryStore {
  private gallery: InMemoryGallery;
  /** identity of the file the in-memory copy was read from (mtime, size, inode) */
  private signature: string | undefined;
  private readonly writes = new WriteQueue();
  readonly photosDir: string;

  private constructor(readonly dbPath: string, private readonly defaults: GalleryMeta, gallery: InMemoryGallery, signature: string | undefined) {
    this.gallery = gallery;
    this.signature = signature;
    this.photosDir = join(dirname(dbPath), 'photos');
  }

  /** Open the gallery at `dbPath`; a missing file is an empty gallery with `defaults`, created on the first add. */
  static async open(dbPath: string, defaults: StoreDefaults): Promise<FileGalleryStore> {
    const meta = defaultMetaFor(defaults.model, defaults.metric, defaults.flip, defaults.detector);
    const sig = signatureOf(dbPath);
    const g = sig ? await loadGallery(dbPath) : new InMemoryGallery(meta);
    return new FileGalleryStore(dbPath, meta, g, sig);
  }

  async close(): Promise<void> {
    await this.idle();
  }

  /** The gallery as it is on disk now (reloaded when the file changed since the last read). */
  async current(): Promise<InMemoryGallery> {
    if (this.writes.pending > 0) return this.gallery; // our own write will bring it up to date
    const sig = signatureOf(this.dbPath);
    if (sig !== this.signature) {
      this.gallery = sig ? await loadGallery(this.dbPath) : new InMemoryGallery({ ...this.defaults });
      this.signature = sig;
    }
    return this.gallery;
  }

  /** The in-memory copy without looking at the disk (for /health). */
  peek(): InMemoryGallery {
    return this.gallery;
  }

  /** Writes run one after another; `fn` holds the lock file while it runs. */
  private exclusive<T>(fn: (fresh: InMemoryGallery) => Promise<{ value: T; save: boolean }>): Promise<T> {
    return this.writes.run(async (): Promise<T> => {
      mkdirSync(dirname(this.dbPath), { recursive: true });
      const release = await lockWithRetry(this.dbPath);
      try {
        const sig = signatureOf(this.dbPath);
        const fresh = sig ? await loadGallery(this.dbPath) : new InMemoryGallery({ ...(this.gallery.meta ?? this.defaults) });
        const { value, save } = await fn(fresh);
        if (save) await saveGallery(fresh, this.dbPath, VERSION);
        this.gallery = fresh;
        this.signature = signatureOf(this.dbPath);
        return value;
      } finally {
        release();
      }
    });
  }

  /** Add faces; photos already in (by content) are skipped. The photos are stored first, then the gallery is saved. */
  add(faces: NewFace[], model: Pick<GalleryMeta, 'model' | 'dim'>): Promise<AddResult> {
    return this.exclusive(async (g) => {
      assertSameModel(g.meta, model, this.dbPath);
      const { items, result, written } = await storePhotos(faces, new Map(g.entries.map((e) => [e.hash, e.label])), this.photosDir);
      try {
        g.addMany(items);
      } catch (err) {
        await Promise.all(written.map((p) => unlink(p).catch(() => undefined)));
        throw err;
      }
      return { value: result, save: items.length > 0 };
    });
  }

  /**
   * Remove a person. Their photos that the server stored (and no other entry uses) are deleted
   * after the gallery is saved; photos from elsewhere (build-db's folders) are never touched.
   */
  async remove(label: string): Promise<number> {
    let orphans: string[] = [];
    const removed = await this.exclusive(async (g) => {
      const mine = g.entries.filter((e) => e.label === label).map((e) => e.image);
      const n = g.filter((e) => e.label !== label);
      const still = new Set(g.entries.map((e) => resolve(e.image)));
      orphans = mine.filter((p) => isInside(resolve(p), resolve(this.photosDir)) && !still.has(resolve(p)));
      return { value: n, save: n > 0 };
    });
    await Promise.all([...new Set(orphans)].map((p) => unlink(p).catch(() => undefined)));
    return removed;
  }

  /** Resolves once the writes under way are on disk (shutdown waits for this). */
  idle(): Promise<void> {
    return this.writes.idle();
  }

  get busy(): boolean {
    return this.writes.pending > 0;
  }
}

function isInside(path: string, dir: string): boolean {
  return path.startsWith(dir + sep);
}

function signatureOf(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** The gallery lock, waiting a little when another process (a build-db) holds it. */
async function lockWithRetry(dbPath: string, waitMs = 3000): Promise<() => void> {
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      return acquireLock(dbPath);
    } catch (err) {
      if (!(err instanceof FacekitError) || err.code !== 'gallery_locked' || Date.now() > until) throw err;
      await sleep(100);
    }
  }
}
