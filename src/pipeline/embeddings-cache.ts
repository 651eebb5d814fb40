/**
 * Embeddings of whole images (the largest face of each), computed on every core and kept on disk
 * so that measuring again is fast. Used by `eval` and `tsne`.
 *
 * The cache is keyed by the image's content (sha256 of its bytes, so a renamed or copied photo is
 * still found) and by every setting that changes the embedding: model, flip, pre-aligned input
 * (skipDetect), detector, the revision of its landmarks and its minimum score, and the facekit
 * version. Where it lives:
 * `--cache DIR`, else `$XDG_CACHE_HOME/facekit`, else `~/.cache/facekit`. Layout:
 *
 *   <root>/embeddings/<model>-<flip|noflip>-<detector|prealigned>-<settings hash>/settings.json
 *   <root>/embeddings/<...>/<first 2 hex of sha256>/<sha256>.json
 *
 * One small JSON file per image: `{"v":1,"faces":1,"box":[...],"dim":128,"vector":"<base64 of
 * little-endian float32>"}`, or `{"v":1,"faces":0,"error":{"code":"no_face",...}}` for a photo
 * without a face. Files are written to a temporary name and renamed, so a reader never sees half a
 * file and two runs at once at worst compute the same entry twice; a damaged entry is ignored and
 * computed again. Deleting the folder is always safe.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DETECTORS, RECOGNIZERS, type DetectorId, type RecognizerId } from '../models/catalogue.js';
import { FacekitError, fsError, toErrorInfo, type ErrorInfo } from '../core/errors.js';
import { buildPlan, type PipelinePlan } from './plan.js';
import { writeFileAtomic } from '../core/files.js';
import { embedPhotos } from './photos.js';
import type { JobSession } from './pool.js';
import type { Box, FaceRecord } from '../core/records.js';
import { VERSION } from '../core/version.js';
import { defaultCacheDir } from '../core/cache-dir.js';

export const CACHE_FORMAT = 1;

/** Everything that changes an image's embedding. */
export interface EmbedSettings {
  model: RecognizerId;
  flip: boolean;
  /** the images are pre-aligned crops: no detector */
  skipDetect: boolean;
  detector: DetectorId;
  minScore: number;
}

export { defaultCacheDir };

/** `--cache DIR` / `--no-cache` as commander gives them: a folder, false, or undefined (default). */
export function resolveCacheDir(option: string | boolean | undefined): string | null {
  if (option === false) return null;
  if (typeof option === 'string') return option;
  return defaultCacheDir();
}

/** The settings folder's name: readable, plus a hash of every setting. */
export function settingsFolder(s: EmbedSettings): string {
  const key = {
    format: CACHE_FORMAT, facekit: VERSION, model: s.model, flip: s.flip,
    skipDetect: s.skipDetect, detector: s.skipDetect ? null : s.detector, minScore: s.skipDetect ? null : s.minScore,
    // Landmarks that moved are a new alignment: embeddings made with the old ones are not reused.
    // (Revision 1 leaves the key, and so the folder, as it was before revisions existed.)
    ...(s.skipDetect || DETECTORS[s.detector].landmarksRevision === 1 ? {} : { landmarks: DETECTORS[s.detector].landmarksRevision }),
  };
  const hash = createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 12);
  return `${s.model}-${s.flip ? 'flip' : 'noflip'}-${s.skipDetect ? 'prealigned' : s.detector}-${hash}`;
}

/** The embedding of one image: its largest face, or why there is none. */
export interface Embedded {
  image: string;
  /** sha256 of the file's bytes (absent when it could not be read) */
  hash?: string;
  vector?: Float32Array;
  /** faces the detector found (1 for pre-aligned crops) */
  faces: number;
  box?: Box;
  error?: ErrorInfo;
  /** came from the cache */
  cached: boolean;
}

interface Entry {
  v: number;
  faces: number;
  box?: Box;
  dim?: number;
  vector?: string;
  error?: ErrorInfo;
}

const encodeVector = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
function decodeVector(b64: string, dim: number): Float32Array | undefined {
  const buf = Buffer.from(b64, 'base64');
  if (buf.length !== dim * 4) return undefined;
  const out = new Float32Array(dim);
  Buffer.from(out.buffer).set(buf);
  return out;
}

/** One settings folder of the cache. Reads never fail (a bad entry is a miss); writes warn once and stop. */
export class EmbeddingCache {
  readonly dir: string;
  private readonly dims: number;
  private made = new Set<string>();
  private broken = false;
  written = 0;

  constructor(root: string, private readonly settings: EmbedSettings, private readonly onWarn: (msg: string) => void = () => undefined) {
    this.dir = join(root, 'embeddings', settingsFolder(settings));
    this.dims = RECOGNIZERS[settings.model].dim;
  }

  private path(hash: string): string {
    return join(this.dir, hash.slice(0, 2), `${hash}.json`);
  }

  async get(hash: string): Promise<Omit<Embedded, 'image' | 'hash'> | undefined> {
    let e: Entry;
    try {
      e = JSON.parse(await readFile(this.path(hash), 'utf8')) as Entry;
    } catch {
      return undefined;
    }
    if (typeof e !== 'object' || e === null || e.v !== CACHE_FORMAT || typeof e.faces !== 'number') return undefined;
    if (e.error) return typeof e.error.code === 'string' ? { faces: e.faces, error: e.error, cached: true } : undefined;
    if (typeof e.vector !== 'string' || e.dim !== this.dims) return undefined;
    const vector = decodeVector(e.vector, this.dims);
    if (!vector || !vector.every(Number.isFinite)) return undefined;
    const out: Omit<Embedded, 'image' | 'hash'> = { faces: e.faces, vector, cached: true };
    if (Array.isArray(e.box) && e.box.length === 4) out.box = e.box;
    return out;
  }

  async put(hash: string, value: Embedded): Promise<void> {
    if (this.broken) return;
    const entry: Entry = { v: CACHE_FORMAT, faces: value.faces };
    if (value.vector) {
      if (value.box) entry.box = value.box;
      entry.dim = value.vector.length;
      entry.vector = encodeVector(value.vector);
    } else if (value.error) entry.error = value.error;
    const sub = join(this.dir, hash.slice(0, 2));
    try {
      if (this.made.size === 0) {
        await mkdir(this.dir, { recursive: true });
        await writeFileAtomic(join(this.dir, 'settings.json'), JSON.stringify({ ...this.settings, format: CACHE_FORMAT, facekit: VERSION }, null, 1) + '\n');
      }
      if (!this.made.has(sub)) {
        await mkdir(sub, { recursive: true });
        this.made.add(sub);
      }
      await writeFileAtomic(this.path(hash), JSON.stringify(entry));
      this.written++;
    } catch (err) {
      this.broken = true;
      const e = err instanceof FacekitError ? err : fsError(err, sub);
      this.onWarn(`${e.where ?? this.dir}: cannot write the embedding cache (${e.message}); going on without it`);
    }
  }
}

export interface EmbedOptions {
  /** cache root folder, or null for no cache */
  cache: string | null;
  /** where the images to compute run (the engine's) */
  session: JobSession;
  maxPixels: number;
  /** called as each image to compute is done */
  onProgress?: (done: number, total: number) => void;
  /** called once when the images to compute are known (before the slow part) */
  onStart?: (toCompute: number, fromCache: number) => void;
  onWarn?: (msg: string) => void;
}

export interface EmbedStats {
  images: number;
  /** different contents among them */
  unique: number;
  cached: number;
  computed: number;
  failed: number;
  seconds: number;
  cacheDir: string | null;
}

export function planFor(s: EmbedSettings, maxPixels: number): PipelinePlan {
  return buildPlan({
    upTo: 'represent', model: s.model, flip: s.flip, skipDetect: s.skipDetect,
    detector: s.detector, minScore: s.minScore, maxPixels, largestOnly: true,
  });
}

/** The largest face's embedding from one image's records. */
export function fromRecords(image: string, records: FaceRecord[]): Omit<Embedded, 'hash' | 'cached'> {
  const faces = records.filter((r) => r.face !== null).length;
  const first = records.find((r) => r.face === 0) ?? records[0];
  if (!first || first.error || !first.embedding) {
    return { image, faces, error: first?.error ?? { code: 'no_face', message: 'no face found' } };
  }
  const out: Omit<Embedded, 'hash' | 'cached'> = { image, faces, vector: Float32Array.from(first.embedding.vector) };
  if (first.box) out.box = first.box;
  return out;
}

/**
 * The embedding of every image (its largest face), from the cache where it holds one and through
 * the pipeline otherwise (the photo loop: the same photo under two names is embedded once).
 * Problems with an image (unreadable, no face) come back as `error`; only bugs throw. Results are
 * keyed by the path as given.
 */
export async function embedImages(images: string[], settings: EmbedSettings, opts: EmbedOptions): Promise<{ results: Map<string, Embedded>; stats: EmbedStats }> {
  const started = Date.now();
  const paths = [...new Set(images)];
  const results = new Map<string, Embedded>();
  const cache = opts.cache ? new EmbeddingCache(opts.cache, settings, opts.onWarn) : null;
  /** photos of one content: the first is embedded, the others take its result */
  const byHash = new Map<string, string[]>();
  let cached = 0;
  let computed = 0;
  const writes: Promise<void>[] = [];
  await embedPhotos(paths.map((image) => ({ image })), {
    plan: planFor(settings, opts.maxPixels),
    session: opts.session,
    skip: async ({ image }, hash) => {
      const same = byHash.get(hash);
      if (same) {
        same.push(image);
        return true;
      }
      byHash.set(hash, [image]);
      const hit = cache ? await cache.get(hash) : undefined;
      if (hit) {
        cached++;
        results.set(image, { ...hit, image, hash });
      }
      return hit !== undefined;
    },
    done: ({ image }, hash, records) => {
      const value: Embedded = { ...fromRecords(image, records), hash, cached: false };
      computed++;
      results.set(image, value);
      if (cache && (value.vector || value.error?.code === 'no_face')) writes.push(cache.put(hash, value));
    },
    unreadable: ({ image }, err) => results.set(image, { image, faces: 0, error: toErrorInfo(err), cached: false }),
    onStart: opts.onStart,
    onProgress: opts.onProgress,
  });
  await Promise.all(writes);
  // duplicates take the result of the first photo of their content
  for (const [hash, [first, ...others]] of byHash) {
    const r = results.get(first!);
    for (const image of others) {
      if (r) results.set(image, { ...r, image, hash });
      if (r?.cached) cached++;
      else computed++;
    }
  }
  const failed = [...results.values()].filter((r) => !r.vector).length;
  return {
    results,
    stats: {
      images: paths.length, unique: byHash.size, cached, computed, failed, seconds: (Date.now() - started) / 1000,
      cacheDir: cache ? cache.dir : null,
    },
  };
}
