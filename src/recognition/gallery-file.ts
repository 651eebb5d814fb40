/**
 * The gallery on disk: `gallery.json` (metadata and entries) plus a float32 sidecar whose name
 * carries its content hash. Loading checks every way the pair can be damaged; saving writes the
 * new sidecar, then swaps the JSON in one rename, so a crash leaves the old gallery or the new one.
 */
import { readRegularFile } from '../core/files.js';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isMetric } from '../models/catalogue.js';
import { FacekitError, fsError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { InMemoryGallery, GALLERY_SCHEMA, type GalleryFile, type GalleryMeta } from './gallery.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export function sidecarName(dbPath: string, hash: string): string {
  return `${basename(dbPath).replace(/\.json$/i, '')}.${hash.slice(0, 12)}.f32`;
}

/** Read and check a gallery; every way it can be damaged gets its own message. */
export async function loadGallery(dbPath: string): Promise<InMemoryGallery> {
  let text: string;
  try {
    text = (await readRegularFile(dbPath)).toString('utf8');
  } catch (err) {
    const e = fsError(err, dbPath);
    if (e.code === 'not_found') throw new FacekitError('not_found', 'no gallery here (build one with `facekit build-db DIR`)', dbPath);
    throw e;
  }
  const bad = (msg: string) => new FacekitError('bad_gallery', msg, dbPath);
  if (text.trim() === '') throw bad('gallery file is empty');
  let json: Partial<GalleryFile>;
  try {
    json = JSON.parse(text) as Partial<GalleryFile>;
  } catch (err) {
    throw bad(`gallery is not valid JSON (${(err as Error).message.split('\n')[0]}); it may be truncated or hand-edited`);
  }
  if (typeof json !== 'object' || json === null || json.format !== 'facekit-gallery') throw bad('not a facekit gallery (no "format": "facekit-gallery")');
  if (typeof json.schema !== 'number') throw bad('gallery has no schema version');
  if (json.schema > GALLERY_SCHEMA) {
    throw new FacekitError('schema_version', `gallery schema ${json.schema} is newer than this facekit understands (${GALLERY_SCHEMA}); upgrade facekit`, dbPath);
  }
  if (typeof json.model !== 'string' || typeof json.dim !== 'number' || !Number.isInteger(json.dim) || json.dim <= 0) throw bad('gallery lacks its model or dimension');
  if (typeof json.metric !== 'string' || !isMetric(json.metric)) throw bad(`gallery metric "${String(json.metric)}" is unknown`);
  if (!Array.isArray(json.entries)) throw bad('gallery has no "entries" list');
  const v = json.vectors;
  if (!v || typeof v.file !== 'string' || typeof v.count !== 'number' || typeof v.sha256 !== 'string') throw bad('gallery has no "vectors" description');
  if (v.count !== json.entries.length) throw bad(`gallery lists ${json.entries.length} entries but ${v.count} vectors`);
  json.entries.forEach((e, i) => {
    if (!e || typeof e.label !== 'string' || typeof e.image !== 'string' || typeof e.hash !== 'string') throw bad(`entry ${i} is damaged (needs label, image, hash)`);
  });
  const vecPath = join(dirname(dbPath), basename(v.file));
  let raw: Buffer;
  if (v.count === 0) raw = Buffer.alloc(0);
  else {
    try {
      raw = readFileSync(vecPath);
    } catch (err) {
      throw new FacekitError('bad_gallery', `the gallery's vector file is missing or unreadable (${fsError(err, vecPath).message})`, vecPath);
    }
  }
  if (raw.length !== v.count * json.dim * 4) {
    throw new FacekitError('bad_gallery', `vector file holds ${raw.length} bytes, the gallery needs ${v.count * json.dim * 4}; it is truncated or from another gallery`, vecPath);
  }
  if (v.count > 0 && sha256(raw) !== v.sha256) throw new FacekitError('bad_gallery', 'vector file does not match the gallery (checksum differs)', vecPath);
  const vectors = new Float32Array(v.count * json.dim);
  Buffer.from(vectors.buffer).set(raw);
  const meta: GalleryMeta = { model: json.model, dim: json.dim, metric: json.metric, flip: json.flip ?? true, detector: json.detector ?? 'unknown' };
  return new InMemoryGallery(meta, json.entries, vectors, json.created ?? new Date().toISOString());
}

/**
 * Write the gallery: the new sidecar first (under a new name), then the JSON in one rename, then
 * the old sidecar goes. A crash at any point leaves either the old gallery or the new one.
 */
export async function saveGallery(g: InMemoryGallery, dbPath: string, facekitVersion: string): Promise<void> {
  const raw = Buffer.from(g.vectors.buffer, g.vectors.byteOffset, g.vectors.byteLength);
  const hash = sha256(raw);
  const file = sidecarName(dbPath, hash);
  const dir = dirname(dbPath);
  await writeFileAtomic(join(dir, file), raw);
  const json: GalleryFile = {
    format: 'facekit-gallery',
    schema: GALLERY_SCHEMA,
    facekitVersion,
    ...g.meta,
    created: g.created,
    updated: new Date().toISOString(),
    vectors: { file, dtype: 'float32', count: g.size, sha256: hash },
    entries: g.entries,
  };
  await writeFileAtomic(dbPath, JSON.stringify(json, null, 1) + '\n');
  // Old sidecars of this gallery are no longer referenced.
  const prefix = `${basename(dbPath).replace(/\.json$/i, '')}.`;
  for (const f of readdirSync(dir)) {
    if (f.startsWith(prefix) && f.endsWith('.f32') && f !== file && /\.[0-9a-f]{12}\.f32$/.test(f)) await unlink(join(dir, f)).catch(() => undefined);
  }
}
