/**
 * The one reader of a folder of people, `DIR/<person>/*`: every subfolder is a person (its name is
 * the label), every image below it one of their photos. build-db, eval, tsne and the stages'
 * `label` all read people folders here, so that they agree on who is who.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { FacekitError, fsError } from './errors.js';
import { isImagePath, listImages } from './image.js';

export interface PersonPhotos {
  label: string;
  /** the person's images, sorted, from their folder and its subfolders */
  images: string[];
}

export interface PeopleFolder {
  dir: string;
  /** every person folder, sorted by name (a person may have no images: `images` is then []) */
  people: PersonPhotos[];
  /** images directly in DIR: they belong to no person */
  loose: string[];
}

export interface PeopleOptions {
  /** a folder inside DIR that is not a person (e.g. the gallery's own `db/`) */
  exclude?: string;
  /** a DIR without person folders: an error (default), or an empty list */
  noPeople?: 'error' | 'empty';
  /** who expects person folders, for that error (default build-db) */
  who?: string;
}

/**
 * Read DIR/<person>/*. Hidden folders are skipped; a symbolic link to a folder is a person too.
 * A DIR with no person folder at all is a `no_images` error that says what is expected (and how
 * many loose images it holds), unless `noPeople: 'empty'`.
 */
export async function readPeople(dir: string, opts: PeopleOptions = {}): Promise<PeopleFolder> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw fsError(err, dir);
  }
  const skip = opts.exclude !== undefined ? resolve(opts.exclude) : undefined;
  const names: string[] = [];
  const loose: string[] = [];
  for (const d of entries) {
    if (d.name.startsWith('.')) continue;
    const p = join(dir, d.name);
    let isDir = d.isDirectory();
    let isFile = d.isFile();
    if (d.isSymbolicLink()) {
      const target = await stat(p).catch(() => undefined);
      isDir = target?.isDirectory() ?? false;
      isFile = target?.isFile() ?? false;
    }
    if (isDir && resolve(p) !== skip) names.push(d.name);
    else if (isFile && isImagePath(d.name)) loose.push(p);
  }
  names.sort();
  loose.sort();
  if (names.length === 0 && opts.noPeople !== 'empty') {
    throw new FacekitError('no_images',
      `no person folders here: ${opts.who ?? 'build-db'} expects DIR/<person>/*.jpg${loose.length ? ` (found ${loose.length} images directly in DIR; put each person's photos in a folder named after them)` : ''}`, dir);
  }
  const people: PersonPhotos[] = [];
  for (const label of names) people.push({ label, images: await listImages(join(dir, label)) });
  return { dir, people, loose };
}

/** The person of an image found under `root` (DIR/<person>/...): the first folder below it, or undefined. */
export function personOf(root: string, image: string): string | undefined {
  const rel = relative(root, image).split(sep);
  return rel.length >= 2 ? rel[0] : undefined;
}
