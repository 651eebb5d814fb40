/**
 * The gallery: known faces with their embeddings, and the search over them. Its file format is in
 * gallery-file.ts, the lock against concurrent writers in gallery-lock.ts, and the journal that
 * resumes an interrupted build in gallery-journal.ts.
 *
 * On disk: `gallery.json` (metadata and entries, readable and diffable) plus a binary sidecar
 * `gallery.<hash>.f32` holding the vectors as little-endian float32, one row per entry, so that a
 * 100 000-face gallery loads in a fraction of a second. The sidecar's name carries its content
 * hash: a new gallery writes a new sidecar, then swaps the JSON in one rename.
 */
import { RECOGNIZERS, isRecognizerId, type Metric } from '../models/catalogue.js';
import { FacekitError } from '../core/errors.js';
import type { Box } from '../core/records.js';
import { ANN_MIN_FACES, AnnIndex, type IndexFileInfo, type IndexPolicy } from './vector-index.js';
import { queryNorm, rowDistance, searchIdentities, type Match } from './gallery-search.js';

export type { Match } from './gallery-search.js';

/** Where build-db writes, and verify, db, tsne and serve look, when no --db is given. */
export const DEFAULT_GALLERY_PATH = 'db/gallery.json';

/** 2: entries in a JSON Lines sidecar (1: entries inline in gallery.json, still read). */
export const GALLERY_SCHEMA = 2;

export interface GalleryEntry {
  label: string;
  /** the source image, as given when it was added */
  image: string;
  /** sha256 of the image file's bytes: finds photos already in, whatever their name */
  hash: string;
  face: number;
  box?: Box;
  /** stable within the gallery (its search index's key); assigned when the face is added */
  id?: number;
}

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
  vectors: { file: string; dtype: 'float32'; count: number; sha256: string };
  /** how the gallery is searched, and its HNSW graph file when it has one */
  index?: { policy: IndexPolicy; graph?: IndexFileInfo };
  /** schema 2: the entries' JSON Lines sidecar; schema 1: the entries themselves */
  entries: { file: string; format: 'jsonl'; count: number; sha256: string } | GalleryEntry[];
}

/**
 * Vectors collected one by one (a build from a million records) in blocks of 16 384 rows, so that
 * neither one small array per face nor a doubling buffer's spare half sits in memory.
 */
export class VectorRows {
  private readonly blocks: Float32Array[] = [];
  private used = 0;
  count = 0;
  private static readonly BLOCK = 16_384;

  constructor(readonly dim: number) {}

  push(v: ArrayLike<number>, where?: string): void {
    if (v.length !== this.dim) throw new FacekitError('model_mismatch', `a ${v.length}-d embedding cannot join ${this.dim}-d ones`, where);
    let last = this.blocks[this.blocks.length - 1];
    if (!last || this.used === VectorRows.BLOCK) {
      last = new Float32Array(VectorRows.BLOCK * this.dim);
      this.blocks.push(last);
      this.used = 0;
    }
    last.set(v, this.used * this.dim);
    this.used++;
    this.count++;
  }

  /** Row i (a view, not a copy). */
  row(i: number): Float32Array {
    const b = this.blocks[Math.floor(i / VectorRows.BLOCK)]!;
    const r = i % VectorRows.BLOCK;
    return b.subarray(r * this.dim, (r + 1) * this.dim);
  }

  copyInto(target: Float32Array, offset: number): void {
    this.blocks.forEach((b, i) => {
      const rows = i === this.blocks.length - 1 ? this.used : VectorRows.BLOCK;
      target.set(b.subarray(0, rows * this.dim), offset + i * VectorRows.BLOCK * this.dim);
    });
  }
}

export class InMemoryGallery {
  readonly meta: GalleryMeta;
  entries: GalleryEntry[];
  /** row i is entries[i]'s vector */
  vectors: Float32Array;
  created: string;
  /** auto: an HNSW graph from ANN_MIN_FACES faces on; exact: never; hnsw: always */
  indexPolicy: IndexPolicy = 'auto';
  /** the HNSW graph over the vectors, when the policy wants one (kept in step with every change) */
  ann: AnnIndex | undefined;
  private nextId = 0;
  private unit: Float64Array | undefined;
  private labelIds: { ids: Int32Array; names: string[] } | undefined;
  private rowIndex: Int32Array | undefined;

  constructor(meta: GalleryMeta, entries: GalleryEntry[] = [], vectors?: Float32Array, created = new Date().toISOString()) {
    this.meta = meta;
    this.entries = entries;
    this.vectors = vectors ?? new Float32Array(0);
    this.created = created;
    if (this.vectors.length !== entries.length * meta.dim) throw new Error('gallery vectors do not match its entries');
    for (const e of entries) if (e.id !== undefined && e.id >= this.nextId) this.nextId = e.id + 1;
    for (const e of entries) if (e.id === undefined) e.id = this.nextId++; // galleries from before ids
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
    const ann = AnnIndex.create(this.meta.dim, this.meta.metric);
    ann.add(this.entries.map((e) => e.id!), this.vectors);
    this.ann = ann;
  }

  /** Row of each id (-1: removed), for turning the graph's answers into entries. */
  rowsById(): Int32Array {
    if (!this.rowIndex) {
      const r = new Int32Array(this.nextId).fill(-1);
      this.entries.forEach((e, i) => (r[e.id!] = i));
      this.rowIndex = r;
    }
    return this.rowIndex;
  }

  private changed(): void {
    this.unit = undefined;
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
    return this.entries.length;
  }

  labels(): Map<string, number> {
    const m = new Map<string, number>();
    for (const e of this.entries) m.set(e.label, (m.get(e.label) ?? 0) + 1);
    return m;
  }

  vector(i: number): Float32Array {
    return this.vectors.subarray(i * this.meta.dim, (i + 1) * this.meta.dim);
  }

  hashes(): Set<string> {
    return new Set(this.entries.map((e) => e.hash));
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

  /** Add entries whose vectors are rows of `rows` (one copy into the gallery, no per-face arrays). */
  addRows(entries: GalleryEntry[], rows: VectorRows): void {
    if (rows.count !== entries.length) throw new Error('addRows: one row per entry');
    const first = this.size;
    const next = new Float32Array(this.vectors.length + rows.count * this.meta.dim);
    next.set(this.vectors);
    rows.copyInto(next, this.vectors.length);
    this.vectors = next;
    for (const e of entries) this.entries.push(e);
    this.added(entries, first);
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
    if (!this.labelIds || this.labelIds.ids.length !== this.entries.length) {
      const names: string[] = [];
      const byName = new Map<string, number>();
      const ids = new Int32Array(this.entries.length);
      this.entries.forEach((e, r) => {
        let id = byName.get(e.label);
        if (id === undefined) {
          id = names.length;
          names.push(e.label);
          byName.set(e.label, id);
        }
        ids[r] = id;
      });
      this.labelIds = { ids, names };
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
