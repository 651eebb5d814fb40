/**
 * A gallery held in memory (`memory:`), and the part every in-memory gallery shares: the file
 * store (store/file.ts) is this plus its files. Search is the exact scan or the HNSW graph of
 * InMemoryGallery.
 */
import { existsSync } from 'node:fs';
import { defaultThreshold } from '../policy.js';
import type { BuildSink, BuildSinkOptions, GalleryBackend, GalleryCheck, GalleryInfo, GalleryItem, GalleryRows, StoreKind } from '../backend.js';
import { InMemoryGallery, type GalleryEntry, type GalleryMeta, type Match } from '../gallery.js';
import { VectorRows } from '../vector-rows.js';
import type { Metric } from '../../models/catalogue.js';
import { ANN_MIN_FACES, type IndexPolicy } from '../vector-index.js';
import { EntryColumnsBuilder } from '../entry-columns.js';

/** What a change to the gallery gives back: its value, and whether the gallery must be stored. */
export interface Change<T> {
  value: T;
  changed: boolean;
}

export class MemoryBackend implements GalleryBackend {
  readonly store: StoreKind = 'memory';
  protected g: InMemoryGallery;
  private created: boolean;
  /** entries by photo, for the gallery as it was when built */
  private byImage: { g: InMemoryGallery; size: number; map: Map<string, GalleryEntry> } | undefined;

  constructor(readonly location: string, meta: GalleryMeta, gallery?: InMemoryGallery) {
    this.g = gallery ?? new InMemoryGallery({ ...meta });
    this.created = gallery !== undefined;
  }

  get meta(): GalleryMeta {
    return this.g.meta;
  }

  get exists(): boolean {
    return this.created;
  }

  /** The gallery as it is in its store now (a file store reloads it when another process changed it). */
  protected async current(): Promise<InMemoryGallery> {
    return this.g;
  }

  /** Apply a change (a file store: under its lock, to a fresh read, then saved). */
  protected async write<T>(change: (g: InMemoryGallery) => Change<T>): Promise<T> {
    const { value, changed } = change(this.g);
    if (changed) this.created = true;
    return value;
  }

  async refresh(): Promise<void> {
    await this.current();
  }

  counts(): { people: number; faces: number } {
    return { people: this.g.labels().size, faces: this.g.size };
  }

  async countsNow(): Promise<{ people: number; faces: number }> {
    return this.counts();
  }

  async people(): Promise<Map<string, number>> {
    return (await this.current()).labels();
  }

  async search(query: ArrayLike<number>, metric: Metric, k: number): Promise<Match[]> {
    return (await this.current()).search(query, metric, k);
  }

  async owners(hashes: string[]): Promise<Map<string, string>> {
    const want = new Set(hashes);
    const out = new Map<string, string>();
    for (const e of (await this.current()).entries) if (want.has(e.hash) && !out.has(e.hash)) out.set(e.hash, e.label);
    return out;
  }

  async entriesOf(hash: string): Promise<GalleryEntry[]> {
    return (await this.current()).entries.filter((e) => e.hash === hash);
  }

  async entryOfImage(image: string): Promise<GalleryEntry | undefined> {
    const g = await this.current();
    if (this.byImage?.g !== g || this.byImage.size !== g.size) {
      const map = new Map<string, GalleryEntry>();
      for (const e of g.entries) if (!map.has(e.image)) map.set(e.image, e);
      this.byImage = { g, size: g.size, map };
    }
    return this.byImage.map.get(image);
  }

  add(items: GalleryItem[]): Promise<number> {
    return this.write((g) => {
      const have = new Set(g.entries.map((e) => `${e.hash}#${e.face}`));
      const fresh: GalleryItem[] = [];
      for (const it of items) {
        const key = `${it.entry.hash}#${it.entry.face}`;
        if (have.has(key)) continue;
        have.add(key);
        fresh.push(it);
      }
      if (fresh.length > 0) g.addMany(fresh);
      return { value: fresh.length, changed: fresh.length > 0 };
    });
  }

  removePerson(label: string): Promise<number> {
    return this.write((g) => {
      const n = g.removePerson(label);
      return { value: n, changed: n > 0 };
    });
  }

  /** Every face of these photos goes (prune); returns how many. */
  removeImages(hashes: string[]): Promise<number> {
    const gone = new Set(hashes);
    return this.write((g) => {
      const n = g.filter((e) => !gone.has(e.hash));
      return { value: n, changed: n > 0 };
    });
  }

  rename(from: string, to: string, opts: { merge?: boolean } = {}): Promise<number> {
    return this.write((g) => ({ value: g.renamePerson(from, to, { ...opts, where: this.location }), changed: true }));
  }

  async *rows(batch = 10_000): AsyncGenerator<GalleryRows> {
    const g = await this.current();
    for (let i = 0; i < g.size; i += batch) {
      const end = Math.min(g.size, i + batch);
      yield { entries: g.entrySlice(i, end), vectors: g.vectors.slice(i * g.meta.dim, end * g.meta.dim) };
    }
  }

  reindex(policy?: IndexPolicy): Promise<string> {
    return this.write((g) => {
      if (policy) g.indexPolicy = policy;
      g.ann = undefined;
      g.syncIndex();
      return { value: describeIndex(g), changed: true };
    });
  }

  async info(): Promise<GalleryInfo> {
    const g = await this.current();
    return infoOf(this.location, g.meta, { people: g.labels().size, faces: g.size, created: g.created, search: searchInWords(g.indexPolicy, g.ann ? { count: g.ann.size } : undefined, g.size) });
  }

  async check(): Promise<GalleryCheck> {
    const g = await this.current();
    return { db: this.location, faces: g.size, people: g.labels().size, checked: [`${this.location}: in memory, nothing on disk to check`] };
  }

  async build(opts: BuildSinkOptions): Promise<BuildSink> {
    return new RowsSink(await this.current(), opts, async () => {
      this.created = true;
    });
  }

  async idle(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * A build of an in-memory gallery: faces collected in blocks of rows (no array per face), added
 * in one go at the end. The file store adds its journal and its save around it.
 */
export class RowsSink implements BuildSink {
  readonly counts = { added: 0, alreadyIn: 0 };
  resumed = 0;
  created = false;
  /** the faces taken, as columns (no object per face) */
  protected readonly entries = new EntryColumnsBuilder();
  protected readonly rows: VectorRows;

  constructor(protected readonly g: InMemoryGallery, protected readonly opts: BuildSinkOptions,
    /** stores the gallery once the build's faces are in it */
    private readonly store: (g: InMemoryGallery) => Promise<void>) {
    this.rows = new VectorRows(g.meta.dim);
    if (opts.index) g.indexPolicy = opts.index;
  }

  get meta(): GalleryMeta {
    return this.g.meta;
  }

  isDone(hash: string, face = 0): 'in' | 'resumed' | false {
    return this.g.hasPhoto(hash) ? 'in' : this.entries.hasFace(hash, face) ? 'resumed' : false;
  }

  accept(item: GalleryItem): void {
    this.take(item.entry, item.vector);
    this.counts.added++;
  }

  protected take(entry: GalleryEntry, vector: ArrayLike<number>): void {
    this.entries.push(entry);
    this.rows.push(vector, entry.image);
  }

  async finish(o: { prune: boolean; note?: (line: string) => void }): Promise<{ pruned: number; people: number; faces: number }> {
    this.g.addRows(this.entries, this.rows);
    const pruned = o.prune ? this.g.filter((e) => existsSync(e.image)) : 0;
    if (this.g.wantsGraph() && !this.g.ann) o.note?.(`building the search index (an HNSW graph) of ${this.g.size.toLocaleString('en')} faces`);
    await this.store(this.g);
    return { pruned, people: this.g.labels().size, faces: this.g.size };
  }

  async keep(): Promise<string> {
    return 'nothing is kept (a memory gallery)';
  }

  async discard(): Promise<void> {}

  async flush(): Promise<void> {}
}

/** How a gallery is searched, in words (`db info`, `db reindex`). */
export function searchInWords(policy: IndexPolicy, graph: { count: number; bytes?: number } | undefined, faces: number): string {
  if (graph) {
    const size = graph.bytes === undefined ? '' : `, ${graph.bytes < 2 ** 20 ? `${(graph.bytes / 1024).toFixed(0)} KiB` : `${(graph.bytes / 2 ** 20).toFixed(1)} MiB`}`;
    return `HNSW graph of ${graph.count} faces${size} (index: ${policy})`;
  }
  const wants = policy === 'hnsw' || (policy === 'auto' && faces >= ANN_MIN_FACES);
  return wants ? `exact scan: the graph is missing, \`facekit db reindex\` builds it (index: ${policy})` : `exact scan (index: ${policy})`;
}

function describeIndex(g: InMemoryGallery): string {
  return g.wantsGraph() ? `building an HNSW graph of ${g.size} faces (index: ${g.indexPolicy})` : `exact search, no graph (index: ${g.indexPolicy})`;
}

/** `db info` of any store. */
export function infoOf(db: string, m: GalleryMeta, o: { people: number; faces: number; created: string; search: string }): GalleryInfo {
  let threshold: number | null = null;
  try {
    // a head's gallery decides at the head's own threshold (head.json), not the model's
    if (!m.head) threshold = defaultThreshold(m.model, m.metric, 'gallery');
  } catch {
    threshold = null;
  }
  return { db, model: m.model, dim: m.dim, metric: m.metric, flip: m.flip, detector: m.detector, ...(m.head ? { head: m.head } : {}), threshold, people: o.people, faces: o.faces, created: o.created, search: o.search };
}
