/**
 * The one loop that turns photos into faces: each photo's content is hashed, the caller decides
 * by that hash whether it needs model work at all (already in a gallery, in the embedding cache,
 * a duplicate), and the rest go through the pipeline on every worker, their records handed back in
 * the photos' order. Building a gallery, adding photos to one (from code or over HTTP) and the
 * embedding cache of eval and tsne all run this loop.
 */
import { createHash } from 'node:crypto';
import { FacekitError } from '../core/errors.js';
import { fileSha256 } from '../core/files.js';
import type { DecodedImage } from '../core/image.js';
import type { FaceRecord } from '../core/records.js';
import { orderedMap } from './ordered.js';
import type { PipelinePlan } from './plan.js';
import { POOL_MIN_IMAGES, type ImageJob, type JobSession } from './pool.js';

/** A photo: a file (`image` is its path), or bytes or pixels in memory (`image` names them). */
export interface Photo {
  image: string;
  bytes?: Uint8Array;
  pixels?: DecodedImage;
}

/** sha256 of what identifies a photo's content: the file's bytes, the buffer, or the pixels. */
export async function photoHash(p: Photo): Promise<string> {
  if (p.bytes) return createHash('sha256').update(p.bytes).digest('hex');
  if (p.pixels) return createHash('sha256').update(`${p.pixels.width}x${p.pixels.height}x${p.pixels.channels}:`).update(p.pixels.data).digest('hex');
  return fileSha256(p.image);
}

export interface PhotoLoop<P extends Photo> {
  plan: PipelinePlan;
  session: JobSession;
  /** Called once with every readable photo's hash before the first skip() (look them all up at once). */
  prepare?(hashes: string[]): void | Promise<void>;
  /** Whether a photo needs no model work (called once per photo, in order, with its content hash). */
  skip(photo: P, hash: string): boolean | Promise<boolean>;
  /** A photo's records (in photo order): faces with embeddings, or an error record. */
  done(photo: P, hash: string, records: FaceRecord[]): void | Promise<void>;
  /** A photo that could not be read to be hashed (missing, a folder, permission denied). */
  unreadable(photo: P, error: FacekitError): void;
  /** Once the photos to embed are known, before the slow part. */
  onStart?(toEmbed: number, skipped: number): void;
  /** After each embedded photo. */
  onProgress?(done: number, total: number): void;
  /** When true, no more photos start; those under way finish (and are handed back). */
  stop?(): boolean;
}

/** Run the loop over `photos`; resolves when every photo to embed is done (or the loop was stopped). */
export async function embedPhotos<P extends Photo>(photos: readonly P[], loop: PhotoLoop<P>): Promise<void> {
  // the worker threads start while the photos are read and hashed (when there are enough for them)
  if (photos.length >= POOL_MIN_IMAGES) loop.session.start?.();
  const hashes = await hashAll(photos);
  await loop.prepare?.(hashes.filter((h): h is string => typeof h === 'string'));
  const todo: { photo: P; hash: string }[] = [];
  let skipped = 0;
  for (const [i, photo] of photos.entries()) {
    const h = hashes[i]!;
    if (h instanceof FacekitError) loop.unreadable(photo, h);
    else if (await loop.skip(photo, h)) skipped++;
    else todo.push({ photo, hash: h });
  }
  loop.onStart?.(todo.length, skipped);
  let done = 0;
  const jobOf = (t: { photo: P }): ImageJob => ({ image: t.photo.image, plan: loop.plan, bytes: t.photo.bytes, pixels: t.photo.pixels });
  // a warm queue admits a call's images all at once, or none
  const admitted = loop.session.together ? loop.session.submit(todo.map(jobOf)) : undefined;
  admitted?.forEach((p) => p.catch(() => undefined)); // raised in its turn
  const jobs = orderedMap(todo.map((t, i) => ({ t, i })), async ({ t, i }) => {
    return { t, records: await (admitted?.[i] ?? loop.session.submit([jobOf(t)])[0]!) };
  }, { concurrency: admitted ? Infinity : 2 * loop.session.parallel, stop: loop.stop });
  for await (const { t, records } of jobs) {
    await loop.done(t.photo, t.hash, records);
    loop.onProgress?.(++done, todo.length);
  }
}

/** Every photo's hash, 16 files at a time; a photo that cannot be read gets its error instead. */
async function hashAll(photos: readonly Photo[]): Promise<(string | FacekitError)[]> {
  const out: (string | FacekitError)[] = new Array(photos.length);
  let next = 0;
  const lane = async () => {
    while (next < photos.length) {
      const i = next++;
      try {
        out[i] = await photoHash(photos[i]!);
      } catch (err) {
        if (!(err instanceof FacekitError)) throw err;
        out[i] = err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, photos.length) }, lane));
  return out;
}
