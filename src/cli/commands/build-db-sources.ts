/**
 * Where build-db's faces come from: a folder of people (each photo through the pipeline, on every
 * core) or labelled represent records (streamed). Whatever keeps them (a gallery file, a database)
 * receives each face through `accept` and decides what is already in through `isDone`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_RECOGNIZER, isRecognizerId, type RecognizerId } from '../../api/models.js';
import { buildPlan, type ImageJob, type PipelinePlan } from '../../api/pipeline.js';
import { assertSameModel, type GalleryEntry, type GalleryMeta } from '../../api/recognition.js';
import { FacekitError, fsError } from '../../core/errors.js';
import { fileSha256, sha256 } from '../../core/files.js';
import { isImagePath, listImages } from '../../core/image.js';
import { spoofRefusal } from '../../core/records.js';
import { engineFor, isDirectorySync, Progress, readInputs, warn } from '../common.js';
import type { RecordsInput } from '../inputs.js';
import type { RecordLine } from '../../core/record-stream.js';
import type { BuildOptions } from './build-db.js';

export interface Summary {
  db: string;
  model: string;
  people: number;
  images: number;
  added: number;
  skipped: number;
  resumed: number;
  pruned: number;
  otherFaces: number;
  failures: { image: string; code: string; message: string }[];
  peopleWithoutPhotos: string[];
  galleryPeople: number;
  galleryFaces: number;
  seconds: number;
}

/** What a gallery being built offers its sources. */
export interface Collector {
  meta: GalleryMeta;
  model: RecognizerId;
  opts: BuildOptions;
  summary: Summary;
  /** 'in': the gallery has this photo; 'resumed': an interrupted run finished it */
  isDone(hash: string): 'in' | 'resumed' | false;
  /** may wait (a database write): the source then waits too, instead of filling memory */
  accept(entry: GalleryEntry, vector: number[]): void | Promise<void>;
  fail(image: string, code: string, message: string): void;
  stopped(): boolean;
}

export async function collectFaces(input: string, fromRecords: boolean, c: Collector, opened?: RecordsInput): Promise<void> {
  if (fromRecords) return addFromRecords(input, c, opened);
    const people = await peopleIn(input, c.opts.db);
    c.summary.people = people.length;
    for (const p of people) if (p.images.length === 0) {
      c.summary.peopleWithoutPhotos.push(p.label);
      c.fail(join(input, p.label), 'no_images', 'person folder holds no images');
    }
    const todo: { label: string; image: string; hash: string }[] = [];
    for (const p of people) {
      for (const image of p.images) {
        c.summary.images++;
        let hash: string;
        try {
          hash = await fileSha256(image);
        } catch (err) {
          c.fail(image, 'unreadable', err instanceof FacekitError ? err.message : String(err));
          continue;
        }
        const done = c.isDone(hash);
        if (done === 'in') c.summary.skipped++;
        else if (!done) todo.push({ label: p.label, image, hash });
      }
    }
    const engine = engineFor(c.opts);
    const plan = buildPlan({
      upTo: 'represent', model: c.model, detector: c.meta.detector as PipelinePlan['detector'], minScore: c.opts.minScore,
      flip: c.meta.flip, maxPixels: c.opts.maxPixels, largestOnly: !c.opts.allFaces, refuseSpoofs: c.opts.antiSpoof ?? false,
    });
    const jobs: ImageJob[] = todo.map((t) => ({ image: t.image, plan }));
    const byImage = new Map(todo.map((t) => [t.image, t]));
    const progress = new Progress(jobs.length);
    await engine.runImages(jobs, {
      shouldStop: c.stopped,
      onResult: async (job, records) => {
        progress.tick();
        const t = byImage.get(job.image)!;
        const faces = records.filter((r) => r.embedding);
        const others = records.filter((r) => !r.embedding && !r.error && r.face !== null);
        const error = records.find((r) => r.error);
        if (faces.length === 0) {
          c.fail(job.image, error?.error?.code ?? 'no_face', error?.error?.message ?? 'no face found');
          return;
        }
        // --all-faces: a photo's other faces go in; each one refused as a spoof is said
        for (const s of records.filter((r) => r.error?.code === 'spoof')) warn(`${job.image} face ${s.face}: ${s.error!.message}; left out`);
        for (const f of faces) {
          await c.accept({ label: t.label, image: job.image, hash: t.hash, face: f.face ?? 0, box: f.box }, f.embedding!.vector);
        }
        if (others.length > 0) {
          c.summary.otherFaces += others.length;
          warn(`${job.image}: holds ${others.length + faces.length} faces; kept the largest as ${t.label} (--all-faces keeps all)`);
        }
      },
      onCrash: (job, stack) => { if (c.opts.debug) process.stderr.write(`${job.image}: ${stack}\n`); },
    });
    progress.end();
}

interface PersonPhotos {
  label: string;
  images: string[];
}

/** DIR/<person>/... : every subfolder is a person, every image below it one of their photos. */
async function peopleIn(dir: string, dbPath: string): Promise<PersonPhotos[]> {
  let names: string[];
  // The gallery's own folder may sit inside DIR (e.g. `build-db . --db db/gallery.json`): not a person.
  const dbDir = resolve(dirname(dbPath));
  try {
    names = readdirSync(dir, { withFileTypes: true })
      // a symbolic link to a folder is a person too
      .filter((d) => (d.isDirectory() || (d.isSymbolicLink() && isDirectorySync(join(dir, d.name)))) && !d.name.startsWith('.') && resolve(dir, d.name) !== dbDir)
      .map((d) => d.name).sort();
  } catch (err) {
    throw fsError(err, dir);
  }
  if (names.length === 0) {
    const loose = readdirSync(dir).filter(isImagePath).length;
    throw new FacekitError('no_images',
      `no person folders here: build-db expects DIR/<person>/*.jpg${loose ? ` (found ${loose} images directly in DIR; put each person's photos in a folder named after them)` : ''}`, dir);
  }
  const people: PersonPhotos[] = [];
  for (const label of names) people.push({ label, images: await listImages(join(dir, label)) });
  return people;
}

export async function openRecords(input: string, opts: BuildOptions): Promise<RecordsInput> {
  const [recs] = await readInputs([input], { recordsOnly: opts.records });
  if (!recs || recs.kind !== 'records') throw new FacekitError('usage', 'expected represent records (NDJSON with "embedding" and "label")', input);
  return recs;
}

/**
 * The model of the first embedding in the records, and the records again from their start: a new
 * gallery fed with records takes their model (a `db export` of a resnet34 gallery imports as one).
 * Reads ahead at most `limit` lines (errors, records without embeddings) before giving up.
 */
export async function peekRecordsModel(recs: RecordsInput, limit = 1000): Promise<{ model?: string; records: RecordsInput }> {
  const it = recs.lines[Symbol.asyncIterator]();
  const seen: RecordLine[] = [];
  let model: string | undefined;
  let done = false;
  while (seen.length < limit) {
    const next = await it.next();
    if (next.done) {
      done = true;
      break;
    }
    seen.push(next.value);
    if (next.value.ok && next.value.record.embedding) {
      model = next.value.record.embedding.model;
      break;
    }
  }
  async function* replay(): AsyncGenerator<RecordLine> {
    yield* seen;
    if (done) return;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  }
  return { model, records: { ...recs, lines: replay() } };
}

/**
 * The model a build uses: `--model`, else the existing gallery's, else (a new gallery fed with
 * records) the model the records were embedded with when facekit has it, else the default. The
 * records, if they had to be opened to see, come back to be read from their start.
 */
export async function galleryModel(input: string, fromRecords: boolean, opts: BuildOptions, existing?: string): Promise<{ model: RecognizerId; records?: RecordsInput }> {
  if (opts.model) return { model: opts.model };
  if (existing !== undefined) return { model: existing as RecognizerId };
  if (!fromRecords) return { model: DEFAULT_RECOGNIZER };
  const peeked = await peekRecordsModel(await openRecords(input, opts));
  const model = peeked.model !== undefined && isRecognizerId(peeked.model) ? peeked.model : DEFAULT_RECOGNIZER;
  return { model, records: peeked.records };
}

/** Labelled represent records (from a file or stdin) into the gallery. */
async function addFromRecords(input: string, c: Collector, opened?: RecordsInput): Promise<void> {
  const { meta, opts, summary, isDone, fail } = c;
  const recs = opened ?? await openRecords(input, opts);
  // Streamed: memory holds the gallery's vectors and entries, never the input.
  let images = 0;
  let lastImage: string | undefined;
  const labels = new Set<string>();
  for await (const item of recs.lines) {
    if (!item.ok) {
      fail(item.where, item.error.code, item.error.message);
      continue;
    }
    const { record: r, where } = item;
    if (r.image !== lastImage) {
      images++;
      lastImage = r.image;
    }
    if (r.error) {
      fail(r.image, r.error.code, r.error.message);
      continue;
    }
    const refusal = opts.antiSpoof ? spoofRefusal(r) : undefined;
    if (refusal && (opts.allFaces || r.face === 0)) {
      fail(r.image, refusal.code, refusal.message);
      continue;
    }
    if (!opts.allFaces && r.face !== 0) {
      if (r.face !== null) summary.otherFaces++;
      continue;
    }
    if (!r.embedding) {
      fail(where, 'missing_key', 'record has no "embedding" (run `facekit represent` first)');
      continue;
    }
    // Another model's vectors would not compare with the gallery's: refuse the whole input.
    assertSameModel(meta, { model: r.embedding.model, dim: r.embedding.dim }, where);
    if (!r.label) {
      fail(where, 'missing_key', 'record has no "label" (represent a DIR/<person>/ tree, or add "label")');
      continue;
    }
    labels.add(r.label);
    // Exported galleries carry each photo's hash; otherwise the photo's bytes, or its name.
    const hash = r.imageSha256 ?? (existsSync(r.image) ? await fileSha256(r.image) : sha256(`path:${r.image}`));
    const done = isDone(hash);
    if (done) {
      // a photo's faces go in together: one of them in means all of them are (counted once)
      if (done === 'in' && (r.face ?? 0) === 0) summary.skipped++;
      continue;
    }
    await c.accept({ label: r.label, image: r.image, hash, face: r.face ?? 0, box: r.box }, r.embedding.vector);
  }
  if (images === 0 && summary.failures.length === 0) throw new FacekitError('usage', 'holds no records (expected represent records with "embedding" and "label")', input === '-' ? 'stdin' : input);
  summary.images = images;
  summary.people = labels.size;
}

