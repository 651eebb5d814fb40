/**
 * A gallery of known people, for code: the same type over every store (a file, PGlite,
 * PostgreSQL, memory). Ask who is in a photo, add and remove people, list, export and import,
 * all with the rules of `facekit build-db`, `facekit verify --db` and `facekit db`.
 *
 *   const gallery = await Gallery.open('db/gallery.json');
 *   const [answer] = await gallery.identify('query.jpg');   // { identity, distance, threshold, candidates }
 */
import { unlink } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { FacekitError } from '../core/errors.js';
import { SCHEMA_VERSION, spoofRefusal, type Box, type FaceRecord } from '../core/records.js';
import { DEFAULT_METRIC, isDetectorId, isRecognizerId, RECOGNIZERS, type DetectorId, type Metric, type RecognizerId, type Subject } from '../models/catalogue.js';
import { subjectSettings } from '../pipeline/plan.js';
import type { GalleryBackend, GalleryCheck, GalleryInfo, StoreKind } from '../recognition/backend.js';
import { assertSameHead, assertSameModel, DEFAULT_GALLERY_PATH, defaultMetaFor, type GalleryEntry, type GalleryMeta } from '../recognition/gallery.js';
import { identifyAsync, type FaceAnswer } from '../recognition/identify.js';
import { nearestEntries } from '../recognition/nearest.js';
import { decideThreshold, parseMetric } from '../recognition/policy.js';
import { isMemoryLocation, openBackend, withEfSearch } from '../recognition/store/open.js';
import type { IndexPolicy } from '../recognition/vector-index.js';
import { buildInto, type BuildOptions, type BuildSummary } from './build-gallery.js';
import type { Facekit } from './facekit.js';
import { addToGallery, type AddOptions, type AddResult } from './gallery-add.js';
import { openSource, type GallerySource } from './gallery-sources.js';
import { imageName, type ImageInput } from './images.js';
import type { RepresentOptions, RunOptions } from './options.js';
import { sharedEngine } from './shared.js';
import { headOfGallery } from './heads.js';
import type { Head } from '../training/index.js';
import { done, isFaceRecord, type StreamItem } from './stream.js';

export type { AddOptions, AddResult } from './gallery-add.js';

export interface GalleryOpenOptions {
  /** the engine that embeds photos (default: the shared one of the module functions) */
  engine?: Facekit;
  /** when no gallery is there: create one with these settings on the first write (else `not_found`) */
  create?: { subject?: Subject; model?: RecognizerId; metric?: Metric; flip?: boolean; detector?: DetectorId } | boolean;
  /** where photos added as bytes are kept (their entries point there; removing a person deletes theirs) */
  photos?: string;
  /** a database gallery: pgvector's HNSW candidate list (1..EF_SEARCH_MAX, default EF_SEARCH_DEFAULT; more: closer to exact search, slower); the URL's ?ef_search=N */
  efSearch?: number;
}

/** Gallery.similar: how many photos, under which metric and threshold (IdentifyOptions' meaning). */
export interface SimilarOptions extends Omit<IdentifyOptions, 'topK' | 'onProgress'> {
  /** how many photos (default 5, at most 1000) */
  top?: number;
}

export interface SimilarMatch {
  rank: number;
  /** the photo's person or category */
  label: string;
  image: string;
  face: number;
  /** sha256 of the photo's bytes (GET /gallery/photos/HASH on a server) */
  hash: string;
  distance: number;
  /** within the threshold */
  similar: boolean;
}

export interface SimilarAnswer {
  image: string;
  face: number | null;
  box?: Box;
  model: string;
  metric: Metric;
  threshold: number;
  matches: SimilarMatch[];
}

export interface IdentifyOptions extends RunOptions {
  /** candidates per face (default 3) */
  topK?: number;
  /** largest distance that counts as a match (default: calibrated for the gallery's model and metric) */
  threshold?: number;
  metric?: Metric;
  /** name for a Buffer or pixel input */
  name?: string;
  /** how query photos are searched for faces (default: as the gallery's were) */
  detector?: DetectorId;
  minScore?: number;
  maxFaces?: number;
  /** query photos are already aligned face crops */
  skipDetect?: boolean;
  /** refuse faces the anti-spoofing model judges not real: their answer is an error (`spoof`) */
  antiSpoof?: boolean;
  /** the model the caller means: it must be the gallery's (else `model_mismatch`) */
  model?: RecognizerId;
  /** hears what the caller should know: a threshold far from the calibrated one */
  onWarn?: (line: string) => void;
}

/** An embedding given directly: a Float32Array or an array of numbers of the gallery's dimension. */
export type EmbeddingInput = Float32Array | number[];

export class Gallery {
  private constructor(
    private readonly backend: GalleryBackend, private readonly engine: Facekit, private readonly photos: string | undefined,
    /** the projection head the gallery was built with (build-db --head): queries are projected by it */
    private readonly head: Head | undefined,
  ) {}

  /**
   * The gallery at `location`: a file (default db/gallery.json), `pglite:DIR?gallery=NAME`,
   * `postgres://user@host/db?gallery=NAME`, or `memory:` (always new, created).
   */
  static async open(location: string = DEFAULT_GALLERY_PATH, opts: GalleryOpenOptions = {}): Promise<Gallery> {
    if (opts.efSearch !== undefined) location = withEfSearch(location, opts.efSearch);
    const c = opts.create === true || (opts.create === undefined && isMemoryLocation(location)) ? {} : opts.create || undefined;
    const s = c ? subjectSettings(c) : undefined;
    const create = c && s ? defaultMetaFor(s.model, c.metric ?? DEFAULT_METRIC, s.flip, s.detector) : undefined;
    const backend = await openBackend(location, create ? { create } : {});
    try {
      return new Gallery(backend, opts.engine ?? sharedEngine(), opts.photos, await headOfGallery(backend.meta, backend.location));
    } catch (err) {
      await backend.close();
      throw err;
    }
  }

  /** where the gallery is (a database URL without its password) */
  get location(): string {
    return this.backend.location;
  }

  get store(): StoreKind {
    return this.backend.store;
  }

  /** model, dim, metric, flip, detector */
  get meta(): Readonly<GalleryMeta> {
    return this.backend.meta;
  }

  /** number of faces, as last seen (see `info()` for a fresh count) */
  get size(): number {
    return this.backend.counts().faces;
  }

  /** faces and people, as last seen */
  counts(): { people: number; faces: number } {
    return this.backend.counts();
  }

  /** faces and people now, where the store keeps them cheaply (a database: what every instance added); else as last seen */
  countsNow(): Promise<{ people: number; faces: number }> {
    return this.backend.countsNow();
  }

  /** See what other writers changed (counts; a file gallery also reloads). */
  refresh(): Promise<void> {
    return this.backend.refresh();
  }

  /** each person with their number of faces */
  people(): Promise<Map<string, number>> {
    return this.backend.people();
  }

  /** every face's entry (label, image, content hash, face, box), in gallery order */
  async list(): Promise<GalleryEntry[]> {
    const out: GalleryEntry[] = [];
    for await (const b of this.backend.rows()) for (const e of b.entries) out.push(e);
    return out;
  }

  /** the entries of one photo, by its content hash */
  entriesOf(hash: string): Promise<GalleryEntry[]> {
    return this.backend.entriesOf(hash);
  }

  /** the entry of a photo an answer names (its content hash, face and box) */
  entryOfImage(image: string): Promise<GalleryEntry | undefined> {
    return this.backend.entryOfImage(image);
  }

  /** How photos are embedded to compare with this gallery: its model, mirror averaging and detector (`detector` etc. override). */
  settings(opts: Pick<IdentifyOptions, 'detector' | 'minScore' | 'maxFaces' | 'skipDetect' | 'antiSpoof'> = {}): RepresentOptions {
    return this.embedding(opts);
  }

  info(): Promise<GalleryInfo> {
    return this.backend.info();
  }

  /** Read the whole gallery against its checksums (a file: every byte, which a load checks only in part above 64 MiB); damage rejects with `bad_gallery`. */
  check(): Promise<GalleryCheck> {
    return this.backend.check();
  }

  /**
   * Who is in this photo? One answer per face (largest first), each `{ identity, distance,
   * threshold, candidates }`; `identity` is null when nobody is close enough. Given an embedding
   * or a represent record instead of a photo, one answer for it.
   */
  async identify(query: ImageInput | EmbeddingInput | FaceRecord, opts: IdentifyOptions = {}): Promise<FaceAnswer[]> {
    const ask = this.asking(opts);
    await this.notEmpty();
    return identifyAsync(this.backend, await this.queryFaces(query, opts, false), ask);
  }

  /** A query's faces: an embedding or a record as one face, a photo's faces (`largestOnly`: its largest) embedded as the gallery's were. */
  private async queryFaces(query: ImageInput | EmbeddingInput | FaceRecord, opts: IdentifyOptions, largestOnly: boolean): Promise<FaceRecord[]> {
    if (isEmbedding(query)) {
      return [{ schema: SCHEMA_VERSION, image: opts.name ?? '<embedding>', face: 0, embedding: { model: this.meta.model, dim: query.length, vector: Array.from(query) } }];
    }
    if (isFaceRecord(query)) return [this.checked(query, opts)];
    const faces = await this.engine.represent(query, { ...this.embedding(opts), name: opts.name, signal: opts.signal, largestOnly });
    if (faces.length === 0) throw new FacekitError('no_face', 'no face found', imageName(query, opts.name));
    return faces;
  }

  /**
   * The `top` gallery photos nearest to a query (a photo, an embedding or a represent record),
   * nearest first, each with its label (person or category) and distance, and whether it is within
   * the threshold: "similar images" over any gallery (an any-image gallery's categories, a face
   * gallery's photos). The query's first subject (the largest face, or the whole image) is used.
   */
  async similar(query: ImageInput | EmbeddingInput | FaceRecord, opts: SimilarOptions = {}): Promise<SimilarAnswer> {
    const ask = this.asking(opts);
    await this.notEmpty();
    const top = opts.top ?? 5;
    if (!Number.isInteger(top) || top < 1 || top > 1000) throw new FacekitError('usage', `top must be an integer from 1 to 1000, got ${top}`);
    const faces = await this.queryFaces(query, opts, true);
    const face = faces.find((f) => f.embedding) ?? faces[0]!;
    if (face.error || !face.embedding) {
      throw new FacekitError(face.error?.code ?? 'no_face', face.error?.message ?? 'no face found', face.image);
    }
    if (face.embedding.dim !== this.meta.dim) throw new FacekitError('model_mismatch', `a ${face.embedding.dim}-d embedding cannot be compared with a gallery of ${this.meta.dim}-d ${this.meta.model} embeddings`, face.image);
    const found = await nearestEntries(this.backend, face.embedding.vector, ask.metric, top);
    return {
      image: face.image, face: face.face, ...(face.box ? { box: face.box } : {}), metric: ask.metric, threshold: ask.threshold, model: this.meta.model,
      matches: found.map((n, i) => ({
        rank: i + 1, label: n.entry.label, image: n.entry.image, face: n.entry.face, hash: n.entry.hash,
        distance: Math.round(n.distance * 1e4) / 1e4, similar: n.distance <= ask.threshold,
      })),
    };
  }

  /**
   * Answers for many queries, in order: photos (every face of each, through the workers) and
   * represent records (a record without an embedding, or one that failed earlier, is an error answer).
   */
  async *identifyMany(queries: Iterable<StreamItem> | AsyncIterable<StreamItem>, opts: IdentifyOptions = {}): AsyncGenerator<FaceAnswer> {
    const ask = this.asking(opts);
    await this.notEmpty();
    const records = this.engine.representEach(this.queriesOf(queries, opts), { ...this.embedding(opts), signal: opts.signal, onProgress: opts.onProgress });
    for await (const face of records) yield* await identifyAsync(this.backend, [face], ask);
  }

  /**
   * Add photos of one person (the largest face of each), embedded the way the gallery's faces
   * were; photos already in (same content) are skipped. One write, under the gallery's lock (a file)
   * or in one transaction (a database).
   */
  add(label: string, photos: ImageInput | ImageInput[], opts: AddOptions = {}): Promise<AddResult> {
    return addToGallery(this.backend, this.engine, label, Array.isArray(photos) ? photos : [photos], { ...opts, photos: this.photos, ...(this.head ? { projection: this.head } : {}) });
  }

  /** Add a face by its embedding (made with the gallery's model). */
  async addEmbedding(label: string, vector: EmbeddingInput, source: { image?: string; hash?: string } = {}): Promise<void> {
    if (label.trim() === '') throw new FacekitError('usage', 'a person needs a non-empty name');
    const image = source.image ?? '<embedding>';
    if (vector.length !== this.meta.dim) throw new FacekitError('model_mismatch', `a ${vector.length}-d embedding cannot join a gallery of ${this.meta.dim}-d ${this.meta.model} embeddings`, image);
    await this.backend.add([{ entry: { label, image, hash: source.hash ?? `embedding:${Date.now()}:${Math.random().toString(36).slice(2)}`, face: 0 }, vector }]);
  }

  /** Remove every face of a person; returns how many. Photos the gallery kept for them (`photos`) go too. */
  async remove(label: string): Promise<number> {
    const theirs = this.photos ? (await this.list()).filter((e) => e.label === label).map((e) => e.image) : [];
    const n = await this.backend.removePerson(label);
    if (n > 0 && this.photos) {
      const still = new Set((await this.list()).map((e) => e.image));
      const dir = resolve(this.photos) + sep;
      const mine = theirs.filter((p) => resolve(p).startsWith(dir) && !still.has(p));
      await Promise.all([...new Set(mine)].map((p) => unlink(p).catch(() => undefined)));
    }
    return n;
  }

  /** Rename a person; renaming onto an existing name needs `{ merge: true }`. Returns the faces renamed. */
  rename(from: string, to: string, opts: { merge?: boolean } = {}): Promise<number> {
    return this.backend.rename(from, to, opts);
  }

  /** Rebuild the search index (or change how a file gallery is searched); returns what was done, in words. */
  reindex(policy?: IndexPolicy): Promise<string> {
    return this.backend.reindex(policy);
  }

  /** Every face as a represent record with its label and photo hash (`facekit db export`): what `import` and build-db read. */
  async *export(): AsyncGenerator<FaceRecord> {
    const { dim, model } = this.meta;
    for await (const b of this.backend.rows()) {
      for (let i = 0; i < b.entries.length; i++) {
        const e = b.entries[i]!;
        const vector = b.vectors.subarray(i * dim, (i + 1) * dim);
        yield { schema: SCHEMA_VERSION, image: e.image, face: e.face, ...(e.box ? { box: e.box } : {}), label: e.label, imageSha256: e.hash, embedding: { model, dim, vector: Array.from(vector) } };
      }
    }
  }

  /** Add labelled represent records (an export, or represent's output): a build, as `facekit db import`. */
  async import(records: GallerySource, opts: Omit<BuildOptions, 'db'> = {}): Promise<BuildSummary> {
    return buildInto(this.backend, await openSource(records, this.location), { allFaces: true, ...opts, engine: this.engine });
  }

  /** Resolves once every write is stored (writes are stored as they happen; kept for older callers). */
  save(): Promise<void> {
    return this.backend.idle();
  }

  /** Finish the writes under way and close the store's connection. */
  close(): Promise<void> {
    return this.backend.close();
  }

  /* ---------------------------------------------------------------- helpers */

  private asking(opts: IdentifyOptions): { metric: Metric; threshold: number; topK: number } {
    if (opts.model !== undefined && opts.model !== this.meta.model) {
      assertSameModel(this.meta, { model: opts.model, dim: RECOGNIZERS[opts.model].dim }, this.location);
    }
    const metric = parseMetric(opts.metric, this.meta.metric);
    if (this.head) {
      // the head's threshold is a cosine distance between unit vectors: l2 = sqrt(2 cosine)
      const t = this.head.threshold;
      return { metric, threshold: opts.threshold ?? (metric === 'cosine' ? t : Math.round(Math.sqrt(2 * Math.max(0, t)) * 1e4) / 1e4), topK: opts.topK ?? 3 };
    }
    const decision = decideThreshold(this.meta.model, metric, opts.threshold, 'gallery');
    if (decision.warning) opts.onWarn?.(decision.warning);
    return { metric, threshold: decision.threshold, topK: opts.topK ?? 3 };
  }

  private async notEmpty(): Promise<void> {
    if (this.backend.counts().faces === 0) await this.backend.refresh(); // another writer may have added since
    if (!this.backend.exists || this.backend.counts().faces === 0) throw new FacekitError('bad_gallery', 'gallery is empty', this.location);
  }

  /** Photos are embedded as the gallery's faces were: same model, mirror averaging and detector. */
  private embedding(opts: Pick<IdentifyOptions, 'detector' | 'minScore' | 'maxFaces' | 'skipDetect' | 'antiSpoof'>): RepresentOptions {
    const m = this.meta;
    if (!isRecognizerId(m.model)) throw new FacekitError('model_mismatch', `gallery was built with "${m.model}", a model this facekit does not have`, this.location);
    const detector = opts.detector ?? (isDetectorId(m.detector) ? m.detector : undefined);
    return {
      model: m.model, flip: m.flip, detector, minScore: opts.minScore, maxFaces: opts.maxFaces, skipDetect: opts.skipDetect, antiSpoof: opts.antiSpoof,
      ...(this.head ? { head: this.head } : {}),
    };
  }

  /** A record query, checked: its model must be the gallery's; one without an embedding is an error answer. */
  private checked(r: FaceRecord, opts: IdentifyOptions): FaceRecord {
    if (r.error) return r;
    if (!r.embedding) return { ...r, error: { code: 'missing_key', message: 'record has no "embedding" (run `facekit represent` first)' } };
    assertSameModel(this.meta, { model: r.embedding.model, dim: r.embedding.dim }, `${r.image} face ${r.face}`);
    assertSameHead(this.meta, r.embedding.head, `${r.image} face ${r.face}`);
    const refusal = opts.antiSpoof ? spoofRefusal(r) : undefined;
    return refusal ? { ...r, error: refusal } : r;
  }

  /** Queries for representEach: records (embedded already) pass through as they are. */
  private async *queriesOf(queries: Iterable<StreamItem> | AsyncIterable<StreamItem>, opts: IdentifyOptions): AsyncGenerator<StreamItem> {
    for await (const q of queries) yield isFaceRecord(q) ? done([this.checked(q, opts)]) : q;
  }
}

function isEmbedding(v: unknown): v is EmbeddingInput {
  return v instanceof Float32Array || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
}

