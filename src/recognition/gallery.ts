/**
 * The gallery: known faces with their embeddings, and the search over them. Its files are in
 * gallery-file.ts (a JSON header, the entries as columns, the vectors as float32), the lock
 * against concurrent writers in gallery-lock.ts, and the journal that resumes an interrupted build
 * in gallery-journal.ts. In memory the vectors are one Float32Array (row i is entry i's), and the
 * entries stay columns (entry-columns.ts) until something needs them as objects.
 */
import { availableParallelism } from 'node:os';
import { RECOGNIZERS, isRecognizerId, type Metric } from '../models/catalogue.js';
import { FacekitError } from '../core/errors.js';
import { EntryColumns, LabelNumbers, type EntryColumnsBuilder, type GalleryEntry } from './entry-columns.js';
import { appendRows, releaseRows, type VectorRows } from './vector-rows.js';
import { ANN_MIN_FACES, AnnIndex, type IndexFileInfo, type IndexPolicy } from './vector-index.js';
import { queryNorm, rowDistance, searchIdentities, type Match } from './gallery-search.js';

export type { Match } from './gallery-search.js';

/** Where build-db writes, and verify, db, tsne and serve look, when no --db is given. */
export const DEFAULT_GALLERY_PATH = 'db/gallery.json';

/** 3: entries as columns in a binary sidecar (2: as JSON Lines; 1: inline in gallery.json; both still read). */
export const GALLERY_SCHEMA = 3;

export type { GalleryEntry } from './entry-columns.js';

export interface GalleryMeta {
  model: string;
  dim: number;
  metric: Metric;
  /** whether embeddings are the average with the mirrored face (represent --flip) */
  flip: boolean;
  detector: string;
  /**
   * A projection head from `facekit train` (build-db --head): the vectors are its projections of
   * the model's embeddings; queries are projected the same way. `path` is the head's folder,
   * `tag` its kind and weights' sha256 prefix (a retrained head at the same path is refused).
   */
  head?: GalleryHead;
}

export interface GalleryHead {
  path: string;
  tag: string;
}

export interface GalleryFile extends GalleryMeta {
  format: 'facekit-gallery';
  schema: number;
  facekitVersion: string;
  created: string;
  updated: string;
  /** `sample`: the sample digest (core/files.ts) a load checks when the file is too large to hash whole */
  vectors: { file: string; dtype: 'float32'; count: number; sha256: string; sample?: string };
  /** how the gallery is searched, and its HNSW graph file when it has one */
  index?: { policy: IndexPolicy; graph?: IndexFileInfo };
  /** schema 3: the entries' columns sidecar; schema 2: their JSON Lines sidecar; schema 1: the entries themselves */
  entries: { file: string; format: 'columns' | 'jsonl'; count: number; sha256: string; sample?: string } | GalleryEntry[];
}

/** From this many faces a whole graph is built on every core. */
const PARALLEL_GRAPH_FACES = 50_000;

export class InMemoryGallery {
  readonly meta: GalleryMeta;
  /** the entries as loaded from a file, until something needs them as objects (see `entries`) */
  private columns: EntryColumns | undefined;
  private list: GalleryEntry[] = [];
  /** row i is entries[i]'s vector */
  private rowVectors: Float32Array;
  /** the vectors were let go after the gallery's last save (releaseVectors) */
  private released = false;
  created: string;
  /** auto: an HNSW graph from ANN_MIN_FACES faces on; exact: never; hnsw: always */
  indexPolicy: IndexPolicy = 'auto';
  /** the HNSW graph over the vectors, when the policy wants one (kept in step with every change) */
  ann: AnnIndex | undefined;
  private nextId = 0;
  private unit: Float64Array | undefined;
  private photos: ((hash: string) => boolean) | undefined;
  private labelIds: { ids: Int32Array; names: string[] } | undefined;
  private rowIndex: Int32Array | undefined;

  constructor(meta: GalleryMeta, entries: GalleryEntry[] | EntryColumns = [], vectors?: Float32Array, created = new Date().toISOString()) {
    this.meta = meta;
    this.rowVectors = vectors ?? new Float32Array(0);
    this.created = created;
    if (entries instanceof EntryColumns) {
      this.columns = entries;
      for (const id of entries.ids) if (id >= this.nextId) this.nextId = id + 1;
    } else {
      this.list = entries;
      for (const e of entries) if (e.id !== undefined && e.id >= this.nextId) this.nextId = e.id + 1;
      for (const e of entries) if (e.id === undefined) e.id = this.nextId++; // galleries from before ids
    }
    if (this.vectors.length !== this.size * meta.dim) throw new Error('gallery vectors do not match its entries');
  }

  /** Row i is entries[i]'s vector. */
  get vectors(): Float32Array {
    if (this.released) throw new Error('this gallery let go of its vectors after its last save: load it again to search or change it');
    return this.rowVectors;
  }

  set vectors(v: Float32Array) {
    this.rowVectors = v;
  }

  /**
   * Every entry as an object. A gallery loaded from its file keeps them as columns until this is
   * first asked for (a change, a listing): a search of a million faces never makes them all.
   */
  get entries(): GalleryEntry[] {
    if (this.columns) {
      this.list = this.columns.toArray();
      this.columns = undefined;
    }
    return this.list;
  }

  set entries(list: GalleryEntry[]) {
    this.columns = undefined;
    this.list = list;
  }

  /** The label and photo of row i (without making every entry). */
  entryAt(i: number): { label: string; image: string } {
    const c = this.columns;
    return c ? { label: c.label(i), image: c.image(i) } : this.list[i]!;
  }

  /** Entries `start` to `end` (an export in batches makes no more of them at once). */
  entrySlice(start: number, end: number): GalleryEntry[] {
    const c = this.columns;
    if (!c) return this.list.slice(start, end);
    const out: GalleryEntry[] = [];
    for (let i = start; i < Math.min(end, c.count); i++) out.push(c.at(i));
    return out;
  }

  /** The entries as columns, as they are written to the file. */
  entryColumns(): EntryColumns {
    return this.columns ?? EntryColumns.fromEntries(this.list);
  }

  /** Whether the policy wants a graph at this size. */
  wantsGraph(): boolean {
    return this.indexPolicy === 'hnsw' || (this.indexPolicy === 'auto' && this.size >= ANN_MIN_FACES);
  }

  /** Build the graph when the policy wants one and there is none; drop it when it does not. */
  syncIndex(): void {
    if (!this.wantsGraph()) {
      this.ann = undefined;
      return;
    }
    if (this.ann) return;
    const ann = AnnIndex.create(this.meta.dim, this.meta.metric, this.vectors);
    // Every core for a large graph (minutes on one); one below, where a build on several threads
    // is not the same from run to run (it missed the exact nearest face for 1 of 100 queries at 3 000 faces).
    const threads = this.size >= PARALLEL_GRAPH_FACES ? availableParallelism() : 1;
    ann.add(this.columns ? this.columns.ids : this.list.map((e) => e.id!), this.vectors, threads);
    this.ann = ann;
  }

  /**
   * syncIndex for a gallery's last save, its vectors already on disk: they are let go first, and
   * the graph reads them back `read(first, count)` a batch at a time, so that the vectors and the
   * graph are never in memory together (a million 128-d faces: 512 MB and about 245 MB). The
   * gallery can then be counted and listed, no longer searched or changed.
   */
  syncIndexReleasing(read: (first: number, count: number) => Float32Array): void {
    if (!this.wantsGraph() || this.ann) {
      if (!this.wantsGraph()) this.ann = undefined;
      this.releaseVectors();
      return;
    }
    const ann = AnnIndex.create(this.meta.dim, this.meta.metric, this.vectors);
    const ids = this.columns ? this.columns.ids : Int32Array.from(this.list, (e) => e.id!);
    this.releaseVectors();
    ann.addFrom(ids, read, this.size >= PARALLEL_GRAPH_FACES ? availableParallelism() : 1);
    this.ann = ann;
  }

  /** Let go of the vectors (a build's rows, or a gallery loaded for writing, are a buffer that only this gallery holds). */
  private releaseVectors(): void {
    releaseRows(this.rowVectors);
    this.rowVectors = new Float32Array(0);
    this.unit = undefined;
    this.released = true;
  }

  /** Row of each id (-1: removed), for turning the graph's answers into entries. */
  rowsById(): Int32Array {
    if (!this.rowIndex) {
      const r = new Int32Array(this.nextId).fill(-1);
      if (this.columns) this.columns.ids.forEach((id, i) => (r[id] = i));
      else this.list.forEach((e, i) => (r[e.id!] = i));
      this.rowIndex = r;
    }
    return this.rowIndex;
  }

  private changed(): void {
    this.unit = undefined;
    this.photos = undefined;
    this.labelIds = undefined;
    this.rowIndex = undefined;
  }

  /** Give new entries their ids and put their rows (from `first` on) into the graph. */
  private added(newEntries: GalleryEntry[], first: number): void {
    for (const e of newEntries) e.id = this.nextId++;
    this.ann?.add(newEntries.map((e) => e.id!), this.vectors.subarray(first * this.meta.dim));
    this.changed();
  }

  get size(): number {
    return this.columns ? this.columns.count : this.list.length;
  }

  labels(): Map<string, number> {
    const m = new Map<string, number>();
    const { ids, names } = this.labelIndex();
    const counts = new Uint32Array(names.length);
    for (const id of ids) counts[id]!++;
    names.forEach((name, i) => m.set(name, counts[i]!));
    return m;
  }

  vector(i: number): Float32Array {
    return this.vectors.subarray(i * this.meta.dim, (i + 1) * this.meta.dim);
  }

  /** Whether the gallery has a face of this photo (by content hash); the lookup is built on first use and kept until a change. */
  hasPhoto(hash: string): boolean {
    if (!this.photos) {
      const set = this.columns ? undefined : this.hashes();
      this.photos = set ? (h) => set.has(h) : this.columns!.photoIndex();
    }
    return this.photos(hash);
  }

  hashes(): Set<string> {
    const c = this.columns;
    if (!c) return new Set(this.list.map((e) => e.hash));
    const out = new Set<string>();
    for (let i = 0; i < c.count; i++) out.add(c.hash(i));
    return out;
  }

  /** Add entries with their vectors (one copy of the vector array for the lot). */
  addMany(items: { entry: GalleryEntry; vector: ArrayLike<number> }[]): void {
    for (const it of items) {
      if (it.vector.length !== this.meta.dim) {
        throw new FacekitError('model_mismatch', `a ${it.vector.length}-d embedding cannot join a gallery of ${this.meta.dim}-d ${this.meta.model} embeddings`, it.entry.image);
      }
    }
    const first = this.size;
    const next = new Float32Array(this.vectors.length + items.length * this.meta.dim);
    next.set(this.vectors);
    items.forEach((it, i) => next.set(it.vector instanceof Float32Array ? it.vector : Float32Array.from(it.vector), this.vectors.length + i * this.meta.dim));
    this.vectors = next;
    for (const it of items) this.entries.push(it.entry); // not push(...all): a million arguments overflow the stack
    this.added(items.map((it) => it.entry), first);
  }

  /**
   * Add entries whose vectors are rows of `rows`, which are handed to the gallery (and left empty).
   * A new gallery takes gathered columns and rows as they are: a million-face build never makes a
   * million entry objects, nor a second copy of its vectors.
   */
  addRows(gathered: EntryColumnsBuilder, rows: VectorRows): void {
    if (rows.count !== gathered.count) throw new Error('addRows: one row per entry');
    const first = this.size;
    const cols = gathered.finish((i) => this.nextId + i);
    if (first === 0) {
      this.columns = cols;
      this.list = [];
      this.vectors = rows.take();
    } else {
      this.vectors = appendRows(this.vectors, rows.take());
      if (this.columns) this.columns = this.columns.append(cols);
      else for (const e of cols.toArray()) this.list.push(e); // not push(...all): a million arguments overflow the stack
    }
    this.nextId += cols.count;
    this.ann?.add(cols.ids, this.vectors.subarray(first * this.meta.dim));
    this.changed();
  }

  /** Every face of `label` goes; returns how many (0 when nobody has that name). */
  removePerson(label: string): number {
    return this.filter((e) => e.label !== label);
  }

  /**
   * Give a person another name. Renaming onto a name already in the gallery would silently merge
   * two people, so it is refused unless `merge` says that is meant. Returns the faces renamed.
   */
  renamePerson(from: string, to: string, opts: { merge?: boolean; where?: string } = {}): number {
    if (to.trim() === '') throw new FacekitError('usage', 'the new name is empty', opts.where);
    const labels = this.labels();
    if (!labels.has(from)) throw new FacekitError('usage', `no one called "${from}" in the gallery (see \`facekit db list\`)`, opts.where);
    if (from !== to && labels.has(to) && !opts.merge) {
      throw new FacekitError('usage', `"${to}" is already in the gallery (${labels.get(to)} faces); renaming "${from}" onto it would merge two people: pass --merge if they are one person`, opts.where);
    }
    let n = 0;
    for (const e of this.entries) if (e.label === from) { e.label = to; n++; }
    this.changed();
    return n;
  }

  /** Keep only the entries for which `keep` is true. Returns how many were removed. */
  filter(keep: (e: GalleryEntry) => boolean): number {
    const dim = this.meta.dim;
    const rows = this.entries.map((e, i) => (keep(e) ? i : -1)).filter((i) => i >= 0);
    const next = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => next.set(this.vectors.subarray(r * dim, (r + 1) * dim), i * dim));
    const removed = this.entries.length - rows.length;
    if (this.ann && removed > 0) {
      const kept = new Set(rows);
      this.ann.remove(this.entries.filter((_, i) => !kept.has(i)).map((e) => e.id!));
    }
    this.entries = rows.map((r) => this.entries[r]!);
    this.vectors = next;
    this.changed();
    return removed;
  }

  /** Each row's length, computed once, for cosine and euclidean_l2 (no unit copy of the vectors). */
  norms(): Float64Array {
    if (!this.unit) {
      const dim = this.meta.dim;
      const v = this.vectors;
      const out = new Float64Array(this.entries.length);
      for (let r = 0; r < out.length; r++) {
        let n = 0;
        for (let k = r * dim; k < (r + 1) * dim; k++) n += v[k]! * v[k]!;
        out[r] = Math.sqrt(n) || 1;
      }
      this.unit = out;
    }
    return this.unit;
  }

  normOf(row: number): number {
    if (this.unit) return this.unit[row]!;
    const v = this.vectors;
    let n = 0;
    for (let k = row * this.meta.dim; k < (row + 1) * this.meta.dim; k++) n += v[k]! * v[k]!;
    return Math.sqrt(n) || 1;
  }

  /** Distance from `query` to every entry, under `metric`. */
  distances(query: ArrayLike<number>, metric: Metric): Float32Array {
    const dim = this.meta.dim;
    if (query.length !== dim) {
      throw new FacekitError('model_mismatch', `query is a ${query.length}-d embedding, the gallery holds ${dim}-d ${this.meta.model} embeddings`);
    }
    const out = new Float32Array(this.entries.length);
    const q = Float64Array.from(query);
    const qn = queryNorm(q);
    const norms = metric === 'euclidean' ? undefined : this.norms();
    for (let r = 0; r < out.length; r++) out[r] = rowDistance(this.vectors, r * dim, dim, q, qn, norms?.[r] ?? 1, metric);
    return out;
  }

  /** Integer label per row, built once: search compares numbers, not strings. */
  labelIndex(): { ids: Int32Array; names: string[] } {
    const c = this.columns;
    if (c) return { ids: new Int32Array(c.labelOf.buffer, c.labelOf.byteOffset, c.count), names: c.labelNames };
    if (!this.labelIds || this.labelIds.ids.length !== this.list.length) {
      const labels = new LabelNumbers();
      const ids = new Int32Array(this.list.length);
      this.list.forEach((e, r) => (ids[r] = labels.of(e.label)));
      this.labelIds = { ids, names: labels.names };
    }
    return this.labelIds;
  }

  /**
   * The `k` nearest identities (labels), each with its closest entry, nearest first. Searching by
   * identity rather than by entry keeps one person with many photos from filling the list.
   */
  search(query: ArrayLike<number>, metric: Metric, k: number, excludeRow?: (row: number) => boolean): Match[] {
    return searchIdentities(this, query, metric, k, excludeRow);
  }
}

/** Refuse to mix embeddings of different models, dimensions or flip settings in one gallery. */
export function assertSameModel(g: GalleryMeta, other: Pick<GalleryMeta, 'model' | 'dim'>, where: string): void {
  if (g.model !== other.model || g.dim !== other.dim) {
    throw new FacekitError('model_mismatch',
      `gallery was built with ${g.model} (${g.dim}-d embeddings), not ${other.model} (${other.dim}-d); use --model ${g.model} or another --db`, where);
  }
}

export function defaultMetaFor(model: string, metric: Metric, flip: boolean, detector: string, head?: GalleryHead & { dim: number }): GalleryMeta {
  if (!isRecognizerId(model)) throw new FacekitError('usage', `unknown model ${model}`);
  if (head) return { model, dim: head.dim, metric, flip, detector, head: { path: head.path, tag: head.tag } };
  return { model, dim: RECOGNIZERS[model].dim, metric, flip, detector };
}

/** A gallery built with a head takes only that head's projections (and one without, none). */
export function assertSameHead(g: GalleryMeta, tag: string | undefined, where: string): void {
  if (g.head?.tag === tag) return;
  throw new FacekitError('model_mismatch', g.head
    ? `gallery was built with the head at ${g.head.path} (${g.head.tag}), not ${tag === undefined ? 'without a head' : `with ${tag}`}`
    : `gallery was built without a head; these embeddings were projected by ${tag}`, where);
}
