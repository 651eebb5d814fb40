/**
 * A folder of people as a gallery, as deepface's `find(img, db_path=folder)` takes one: its gallery
 * is built (or brought up to date, incrementally) in the cache folder, then searched. A folder of
 * photos without person folders is taken too: each photo is then its own identity.
 * `facekit verify --db DIR` is this verb.
 */
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { basename, join } from 'node:path';
import { defaultCacheDir } from '../core/cache-dir.js';
import { FacekitError, fsError } from '../core/errors.js';
import { readPeople } from '../core/people.js';
import { subjectOf } from '../models/catalogue.js';
import { galleryFileIn } from '../recognition/gallery-file.js';
import { buildGallery, type BuildOptions, type BuildSummary } from './build-gallery.js';

/** Build the gallery of `dir` in the cache (`cache`, default ~/.cache/facekit) and say where it is. */
export async function folderGallery(dir: string, opts: Omit<BuildOptions, 'db' | 'prune' | 'allFaces'> & { cache?: string } = {}): Promise<{ location: string; summary: BuildSummary }> {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    throw fsError(err, dir);
  }
  // faces and whole images of one folder are two galleries (a face gallery keeps its old name)
  const image = opts.subject === 'image' || (opts.model !== undefined && subjectOf(opts.model) === 'image');
  const id = createHash('sha1').update(image ? `${real}#image` : real).digest('hex').slice(0, 16);
  const db = join(opts.cache ?? defaultCacheDir(), 'galleries', id, 'gallery.json');
  // a flat folder of photos, as deepface takes one too: each photo is its own identity (its file name)
  const { people, loose } = await readPeople(dir, { noPeople: 'empty' });
  const gallery = galleryFileIn(dir);
  if (gallery && loose.length === 0) throw new FacekitError('usage', `holds a facekit gallery, not photos of people: did you mean --db ${join(dir, gallery)}?`, dir);
  const source = people.length === 0 && loose.length > 0 ? loose.map((image) => ({ image, label: basename(image) })) : dir;
  const summary = await buildGallery(source, { ...opts, db, prune: true, allFaces: false });
  if (summary.failures.length > 0 && !existsSync(db)) throw new FacekitError('bad_gallery', 'could not build a gallery from this folder', dir);
  return { location: db, summary };
}
