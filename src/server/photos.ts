/**
 * Gallery photos for the web page: only a photo that a gallery entry names, found by the content
 * hash the entry records, and only while the file still has that content. No path from a request
 * ever reaches the file system.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sharp } from '../core/sharp.js';
import { sha256 } from '../core/files.js';
import type { GalleryEntry } from '../index.js';
import { imageFormat } from '../core/image.js';
import { HttpError } from './http-errors.js';

export interface Photo {
  bytes: Buffer;
  type: string;
}

const MAX_PHOTO_BYTES = 64 * 1024 * 1024;

/** Stored photos passed the upload's image check; the fallback only keeps the type well-formed. */
const mimeOf = (b: Uint8Array): string => `image/${imageFormat(b) ?? 'avif'}`;

/** Small cache of recent thumbnails: the page asks for the same faces again and again. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

const cache = new Lru<Photo>(300);

export interface PhotoRequest {
  hash: string;
  /** longest side of a thumbnail in pixels; none: the file as it is */
  size?: number;
  /** crop around this face of the photo (its gallery entry's box) */
  face?: number;
}

/** Where a photo's bytes may be: the path its entry records, then the content-addressed store (`<store>/<sha256><ext>`). */
async function photoBytes(path: string, hash: string, store: string | undefined): Promise<Buffer | undefined> {
  const candidates = [path];
  // another instance added it to the shared store (serve --photos), under its own mount point
  if (store) for (const ext of ['.jpg', '.png', '.webp', '.gif', '.tif', '.avif', '.heif', '']) candidates.push(join(store, `${hash}${ext}`));
  for (const p of candidates) {
    try {
      const s = await stat(p);
      if (!s.isFile() || s.size > MAX_PHOTO_BYTES) continue;
      const bytes = await readFile(p);
      if (sha256(bytes) === hash) return bytes;
    } catch {
      // not here: the next place
    }
  }
  return undefined;
}

/**
 * A gallery photo: `entries` are the gallery's entries of the photo named by `req.hash`; `store`
 * is the server's content-addressed photo store, where a photo another instance added is found.
 */
export async function galleryPhoto(entries: GalleryEntry[], req: PhotoRequest, store?: string): Promise<Photo> {
  if (!/^[0-9a-f]{64}$/.test(req.hash)) throw new HttpError(404, 'not_found', 'no such photo in the gallery (photos are named by their sha256)');
  if (entries.length === 0) throw new HttpError(404, 'not_found', 'no such photo in the gallery');
  const entry = entries.find((e) => e.face === req.face) ?? entries[0]!;
  const key = `${req.hash}:${req.size ?? 0}:${req.face ?? '-'}`;
  const hit = cache.get(key);
  if (hit) return hit;

  const gone = () => new HttpError(404, 'not_found', `the photo of this entry (${entry.label}) is no longer on disk as it was added`);
  const bytes = await photoBytes(entry.image, req.hash, store);
  if (!bytes) throw gone();
  if (req.size === undefined && req.face === undefined) return { bytes, type: mimeOf(bytes) };

  try {
    let img = sharp(bytes, { failOn: 'none' }).rotate();
    if (req.face !== undefined && entry.box) {
      // the box is in the EXIF-rotated picture: rotate first (to raw pixels), then cut
      const upright = await img.raw().toBuffer({ resolveWithObject: true });
      const { width, height, channels } = upright.info;
      const [x, y, w, h] = entry.box;
      const m = 0.35;
      const left = Math.max(0, Math.floor(x - w * m)), top = Math.max(0, Math.floor(y - h * m));
      const right = Math.min(width, Math.ceil(x + w * (1 + m))), bottom = Math.min(height, Math.ceil(y + h * (1 + m)));
      img = sharp(upright.data, { raw: { width, height, channels } })
        .extract({ left, top, width: Math.max(1, right - left), height: Math.max(1, bottom - top) });
    }
    const side = req.size ?? 512;
    const out = await img.resize(side, side, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 82 }).toBuffer();
    const photo = { bytes: out, type: 'image/jpeg' };
    cache.set(key, photo);
    return photo;
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(422, 'corrupt_image', `cannot make a thumbnail of this photo (${(err as Error).message.split('\n')[0]})`);
  }
}
