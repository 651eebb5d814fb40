/**
 * A gallery of known people, for code: open or create one, ask who is in a photo, add and remove
 * people, save atomically. The same file format, lock and rules as `facekit build-db` and `facekit db`.
 *
 *   const gallery = await Gallery.open('db/gallery.json');
 *   const [answer] = await gallery.identify('query.jpg');   // { identity, distance, threshold, candidates }
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FacekitError } from '../core/errors.js';
import type { FaceRecord } from '../core/records.js';
import { VERSION } from '../core/version.js';
import { DEFAULT_METRIC, DEFAULT_RECOGNIZER, isDetectorId, isRecognizerId, type Metric, type RecognizerId } from '../models/catalogue.js';
import { defaultMetaFor, InMemoryGallery, type GalleryEntry, type GalleryMeta } from '../recognition/gallery.js';
import { loadGallery, saveGallery } from '../recognition/gallery-file.js';
import { acquireLock } from '../recognition/gallery-lock.js';
import { identify, type FaceAnswer } from '../recognition/identify.js';
import { decideThreshold, parseMetric } from '../recognition/policy.js';
import type { Facekit, RepresentOptions } from './engine.js';
import { sharedEngine } from './shared-engine.js';
import { contentHash, imageName, isImageInput, toJob, type ImageInput } from './images.js';

export interface GalleryOpenOptions {
  /** the engine that embeds photos (default: the shared one of the module functions) */
  engine?: Facekit;
  /** when no gallery exists at the path: create an empty one with these settings (else not_found) */
  create?: { model?: RecognizerId; metric?: Metric; flip?: boolean; detector?: string } | boolean;
}

export interface IdentifyOptions {
  /** candidates per face (default 3) */
  topK?: number;
  /** largest distance that counts as a match (default: calibrated for the gallery's model and metric) */
  threshold?: number;
  metric?: Metric;
  /** name for a Buffer or pixel input */
  name?: string;
}

export interface AddResult {
  /** faces added, one per photo (the largest face) */
  added: { image: string; face: number }[];
  /** photos already in the gallery (same content) */
  skipped: { image: string; label: string }[];
  /** photos that gave no embedding, with why */
  failed: { image: string; code: string; message: string }[];
}

/** An embedding given directly: a Float32Array or an array of numbers of the gallery's dimension. */
export type EmbeddingInput = Float32Array | number[];

export class Gallery {
  private constructor(readonly path: string, private data: InMemoryGallery, private readonly engine: Facekit) {}

  static async open(path: string, opts: GalleryOpenOptions = {}): Promise<Gallery> {
    const engine = opts.engine ?? sharedEngine();
    if (!existsSync(path) && opts.create) {
      const c = opts.create === true ? {} : opts.create;
      const meta = defaultMetaFor(c.model ?? DEFAULT_RECOGNIZER, c.metric ?? DEFAULT_METRIC, c.flip ?? true, c.detector ?? 'blazeface');
      return new Gallery(path, new InMemoryGallery(meta), engine);
    }
    return new Gallery(path, await loadGallery(path), engine);
  }

  /** model, dim, metric, flip, detector */
  get meta(): Readonly<GalleryMeta> {
    return this.data.meta;
  }

  /** number of faces */
  get size(): number {
    return this.data.size;
  }

  /** each person with their number of faces */
  people(): Map<string, number> {
    return this.data.labels();
  }

  entries(): readonly Readonly<GalleryEntry>[] {
    return this.data.entries;
  }

  /**
   * Who is in this photo? One answer per face (largest first), each `{ identity, distance,
   * threshold, candidates }`; `identity` is null when nobody is close enough. Given an embedding
   * instead of a photo, one answer for it.
   */
  async identify(query: ImageInput | EmbeddingInput | FaceRecord, opts: IdentifyOptions = {}): Promise<FaceAnswer[]> {
    const metric = parseMetric(opts.metric, this.data.meta.metric);
    const { threshold } = decideThreshold(this.data.meta.model, metric, opts.threshold, 'gallery');
    const topK = opts.topK ?? 3;
    if (this.data.size === 0) throw new FacekitError('bad_gallery', 'gallery is empty', this.path);
    let faces: FaceRecord[];
    if (isEmbedding(query)) {
      faces = [{ schema: 1, image: opts.name ?? '<embedding>', face: 0, embedding: { model: this.data.meta.model, dim: query.length, vector: Array.from(query) } }];
    } else if (isRecord(query)) {
      faces = [query];
    } else {
      faces = await this.engine.represent(query, { ...this.embedChoice(), name: opts.name });
      if (faces.length === 0) throw new FacekitError('no_face', 'no face found', imageName(query, opts.name));
    }
    return identify(this.data, faces, { metric, threshold, topK });
  }

  /**
   * Add photos of one person (the largest face of each), embedded the way the gallery's faces
   * were. Photos already in (same content) are skipped. Call save() to write the gallery.
   */
  async add(label: string, photos: ImageInput | ImageInput[]): Promise<AddResult> {
    if (label.trim() === '') throw new FacekitError('usage', 'a person needs a non-empty name');
    const list = Array.isArray(photos) ? photos : [photos];
    const engine = this.engine;
    const known = new Map(this.data.entries.map((e) => [e.hash, e.label]));
    const plan = engine.plan({ ...this.embedChoice(), upTo: 'represent', largestOnly: true });
    const result: AddResult = { added: [], skipped: [], failed: [] };
    const todo: { input: ImageInput; hash: string; index: number }[] = [];
    for (const [index, input] of list.entries()) {
      const hash = await contentHash(input);
      const owner = known.get(hash);
      if (owner !== undefined) result.skipped.push({ image: imageName(input), label: owner });
      else {
        known.set(hash, label);
        todo.push({ input, hash, index });
      }
    }
    const items: { entry: GalleryEntry; vector: number[] }[] = [];
    await engine.runImages(todo.map((t) => toJob(t.input, plan, typeof t.input === 'string' ? undefined : `<photo ${t.index}>`)), {
      onResult: (job, records, i) => {
        const face = records.find((r) => r.embedding && !r.error);
        if (!face) {
          const err = records.find((r) => r.error)?.error ?? { code: 'no_face', message: 'no face found' };
          result.failed.push({ image: job.image, code: err.code, message: err.message });
          return;
        }
        items.push({ entry: { label, image: job.image, hash: todo[i]!.hash, face: face.face ?? 0, box: face.box }, vector: face.embedding!.vector });
        result.added.push({ image: job.image, face: face.face ?? 0 });
      },
    });
    this.data.addMany(items);
    return result;
  }

  /** Add a face by its embedding (made with the gallery's model). */
  addEmbedding(label: string, vector: EmbeddingInput, source: { image?: string; hash?: string } = {}): void {
    if (label.trim() === '') throw new FacekitError('usage', 'a person needs a non-empty name');
    const image = source.image ?? '<embedding>';
    this.data.addMany([{ entry: { label, image, hash: source.hash ?? `embedding:${this.data.size}:${Date.now()}`, face: 0 }, vector }]);
  }

  /** Remove every face of a person; returns how many. */
  remove(label: string): number {
    return this.data.removePerson(label);
  }

  /** Rename a person; renaming onto an existing name needs `{ merge: true }`. Returns the faces renamed. */
  rename(from: string, to: string, opts: { merge?: boolean } = {}): number {
    return this.data.renamePerson(from, to, { ...opts, where: this.path });
  }

  /** Write the gallery atomically, under the gallery lock (as build-db does). */
  async save(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const release = acquireLock(this.path);
    try {
      await saveGallery(this.data, this.path, VERSION);
    } finally {
      release();
    }
  }

  /** Photos are embedded as the gallery's faces were: same model, mirror averaging and detector. */
  private embedChoice(): RepresentOptions {
    const m = this.data.meta;
    if (!isRecognizerId(m.model)) throw new FacekitError('model_mismatch', `gallery was built with "${m.model}", a model this facekit does not have`, this.path);
    return { model: m.model, flip: m.flip, ...(isDetectorId(m.detector) ? { detector: m.detector } : {}) };
  }
}

function isEmbedding(v: unknown): v is EmbeddingInput {
  return v instanceof Float32Array || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
}

function isRecord(v: unknown): v is FaceRecord {
  return typeof v === 'object' && v !== null && !isImageInput(v) && 'schema' in v && 'image' in v;
}
