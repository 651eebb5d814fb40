/**
 * Adding a person's photos to a gallery (Gallery.add; the server's POST /gallery and the Flask
 * API's insert call it): the photo loop with the gallery as what is known, the largest face of
 * each photo, one write. Photos given as bytes can be kept in a folder, named by their content, so
 * that their entries point at files the gallery can show.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FacekitError, type ErrorCode } from '../core/errors.js';
import { ensureDir, writeFileAtomic } from '../core/files.js';
import { imageFormat } from '../core/image.js';
import { isDetectorId, RECOGNIZERS, type DetectorId, type RecognizerId } from '../models/catalogue.js';
import { embedPhotos } from '../pipeline/photos.js';
import type { Head } from '../training/index.js';
import { projectRecord } from './heads.js';
import type { GalleryBackend, GalleryItem } from '../recognition/backend.js';
import { assertSameModel } from '../recognition/gallery.js';
import type { Facekit } from './facekit.js';
import { toPhoto, type ImageInput } from './images.js';
import { representPlan, type RunOptions } from './options.js';

export interface AddOptions extends RunOptions {
  /** the model the caller means: it must be the gallery's (else `model_mismatch`) */
  model?: RecognizerId;
  /** how faces are found (default: as the gallery's were) */
  detector?: DetectorId;
  minScore?: number;
  /** names for Buffer or pixel photos, in order (default `<photo N>`) */
  names?: string[];
}

export interface AddResult {
  /** faces added, one per photo (its largest face); `hash` is the photo's content hash */
  added: { image: string; face: number; hash: string }[];
  /** photos already in the gallery (same content), or given twice, with whose they are */
  skipped: { image: string; label: string }[];
  /** photos that gave no embedding, with why */
  failed: { image: string; code: ErrorCode; message: string }[];
  /** faces left out because a photo held more than one */
  otherFaces: number;
}

/** File extension for image bytes (a name from outside is never used as a path). */
export function imageExtension(b: Uint8Array): string {
  const f = imageFormat(b) ?? 'avif';
  return f === 'jpeg' ? '.jpg' : f === 'tiff' ? '.tif' : `.${f}`;
}

/** A face to add, with the name its photo came by and, for bytes, the bytes to keep. */
type Kept = GalleryItem & { name: string; bytes?: Uint8Array };

export async function addToGallery(backend: GalleryBackend, engine: Facekit, label: string, inputs: ImageInput[],
  opts: AddOptions & { photos?: string | undefined; projection?: Head }): Promise<AddResult> {
  if (label.trim() === '') throw new FacekitError('usage', 'a person needs a non-empty name');
  const meta = backend.meta;
  if (opts.model !== undefined) assertSameModel(meta, { model: opts.model, dim: RECOGNIZERS[opts.model].dim }, backend.location);
  const photos = inputs.map((input, i) => toPhoto(input, opts.names?.[i] ?? (typeof input === 'string' ? undefined : `<photo ${i}>`)));
  const result: AddResult = { added: [], skipped: [], failed: [], otherFaces: 0 };
  const items: Kept[] = [];
  let owners = new Map<string, string>();
  const seen = new Set<string>();
  const detector = opts.detector ?? (isDetectorId(meta.detector) ? meta.detector : undefined);
  const plan = representPlan({ model: meta.model as RecognizerId, flip: meta.flip, detector, minScore: opts.minScore, largestOnly: true }, engine.maxPixels);
  const session = engine.session(photos.length, opts.signal);
  try {
    await embedPhotos(photos, {
      plan, session,
      stop: () => opts.signal?.aborted === true,
      prepare: async (hashes) => {
        owners = await backend.owners(hashes);
      },
      skip: (p, hash) => {
        const owner = owners.get(hash) ?? (seen.has(hash) ? label : undefined);
        if (owner !== undefined) result.skipped.push({ image: p.image, label: owner });
        seen.add(hash);
        return owner !== undefined;
      },
      unreadable: (p, err) => result.failed.push({ image: p.image, code: err.code, message: err.message }),
      onProgress: (done, total) => opts.onProgress?.({ done, total }),
      done: (p, hash, embedded) => {
        const records = opts.projection ? embedded.map((r) => projectRecord(r, opts.projection!)) : embedded;
        const face = records.find((r) => r.embedding && !r.error);
        if (!face) {
          const err = records.find((r) => r.error)?.error ?? { code: 'no_face' as const, message: 'no face found' };
          result.failed.push({ image: p.image, code: err.code, message: err.message });
          return;
        }
        result.otherFaces += records.filter((r) => r !== face && r.face !== null && !r.error).length;
        items.push({ name: p.image, entry: { label, image: p.image, hash, face: face.face ?? 0, box: face.box }, vector: face.embedding!.vector, ...(p.bytes ? { bytes: p.bytes } : {}) });
      },
    });
  } finally {
    await session.close();
  }
  if (opts.signal?.aborted) throw opts.signal.reason;
  const written = opts.photos ? await keepPhotos(items, opts.photos) : [];
  try {
    if (items.length > 0) await backend.add(items.map(({ entry, vector }) => ({ entry, vector })));
  } catch (err) {
    await Promise.all(written.map((p) => unlink(p).catch(() => undefined)));
    throw err;
  }
  for (const it of items) result.added.push({ image: it.name, face: it.entry.face, hash: it.entry.hash });
  return result;
}

/** Photos that came as bytes are written to `dir/<sha256>.<ext>`; their entries then point there. Returns the files written. */
async function keepPhotos(items: Kept[], dir: string): Promise<string[]> {
  const written: string[] = [];
  try {
    for (const it of items) {
      if (!it.bytes) continue;
      await ensureDir(dir);
      const path = join(dir, `${it.entry.hash}${imageExtension(it.bytes)}`);
      await writeFileAtomic(path, it.bytes);
      written.push(path);
      it.entry = { ...it.entry, image: path };
    }
  } catch (err) {
    await Promise.all(written.map((p) => unlink(p).catch(() => undefined)));
    throw err;
  }
  return written;
}
