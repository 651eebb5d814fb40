/**
 * Where a gallery's faces come from, and how each reaches the gallery's build: photos (a folder of
 * people, or photos with labels) through the photo loop on every worker; labelled represent
 * records (a file, stdin, any iterable) checked and added as they stream in, in bounded memory.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FacekitError, fsError } from '../core/errors.js';
import { fileSha256, sha256 } from '../core/files.js';
import { readPeople, type PeopleFolder } from '../core/people.js';
import { recordLines, type RecordLine } from '../core/record-stream.js';
import { spoofRefusal, type FaceRecord } from '../core/records.js';
import { isDetectorId, isRecognizerId, type RecognizerId } from '../models/catalogue.js';
import { embedPhotos, type Photo } from '../pipeline/photos.js';
import type { BuildSink } from '../recognition/backend.js';
import { assertSameHead, assertSameModel } from '../recognition/gallery.js';
import type { Head } from '../training/index.js';
import { projectRecord } from './heads.js';
import type { BuildOptions, BuildSummary } from './build-types.js';
import type { Facekit } from './facekit.js';
import { toPhoto } from './images.js';
import { representPlan } from './options.js';
import { isFaceRecord, isPhotoInput, type PhotoInput } from './stream.js';

/**
 * What a gallery is built from: a folder of people (DIR/<person>/*), a records file (.ndjson,
 * .jsonl, .json), photos with labels, or records (each with `label` and `embedding`), plain or as
 * the lines of a records stream.
 */
export type GallerySource = string | readonly PhotoInput[] | Iterable<FaceRecord | RecordLine> | AsyncIterable<FaceRecord | RecordLine>;

export type Source =
  | { kind: 'people'; folder: PeopleFolder }
  | { kind: 'photos'; photos: LabelledPhoto[] }
  | { kind: 'records'; lines: AsyncIterable<RecordLine>; where: string; model?: RecognizerId };

type LabelledPhoto = Photo & { label: string };

const RECORDS_FILE = /\.(ndjson|jsonl|json)$/i;

/** Look at a source: a folder is read, records are peeked at for their model (and then read from their start). */
export async function openSource(source: GallerySource, db: string): Promise<Source> {
  if (typeof source === 'string') {
    if (!existsSync(source)) throw new FacekitError('not_found', 'no such file or directory', source);
    if (statSync(source).isDirectory()) {
      // the gallery's own folder may sit inside DIR (e.g. `build-db . --db db/gallery.json`): not a person
      return { kind: 'people', folder: await readPeople(source, { exclude: dirname(db) }) };
    }
    if (!RECORDS_FILE.test(source)) throw new FacekitError('usage', 'build-db takes a folder of person folders (DIR/<person>/*.jpg), or records', source);
    if (!statSync(source).isFile()) throw new FacekitError('unreadable', 'not a regular file (a FIFO, device or socket); give a file, or - for stdin', source);
    return peekModel(recordLines(createReadStream(source, { highWaterMark: 1 << 20 }), source), source);
  }
  if (Array.isArray(source) && source.length > 0 && isPhotoInput(source[0])) {
    return {
      kind: 'photos',
      photos: (source as readonly PhotoInput[]).map((p) => {
        if (!isPhotoInput(p) || typeof p.label !== 'string' || p.label.trim() === '') throw new FacekitError('usage', 'each photo needs its person: { image, label }');
        return { ...toPhoto(p.image, p.name), label: p.label };
      }),
    };
  }
  return peekModel(asLines(source as Iterable<FaceRecord | RecordLine> | AsyncIterable<FaceRecord | RecordLine>), 'records');
}

async function* asLines(items: Iterable<FaceRecord | RecordLine> | AsyncIterable<FaceRecord | RecordLine>): AsyncGenerator<RecordLine> {
  let n = 0;
  for await (const item of items) {
    n++;
    yield isFaceRecord(item) ? { ok: true, record: item, where: `record ${n}`, line: n } : item;
  }
}

/**
 * The model of the first embedding in the records (read ahead at most 1000 lines), and the records
 * again from their start: a new gallery fed with records takes their model (a `db export` of a
 * resnet34 gallery imports as one).
 */
async function peekModel(lines: AsyncIterable<RecordLine>, where: string): Promise<Source> {
  const it = lines[Symbol.asyncIterator]();
  const seen: RecordLine[] = [];
  let model: string | undefined;
  let done = false;
  while (seen.length < 1000) {
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
  return { kind: 'records', lines: replay(), where, ...(model !== undefined && isRecognizerId(model) ? { model } : {}) };
}

interface PhotoContext extends Omit<BuildOptions, 'head'> {
  /** the gallery's projection head: each embedding goes in as its projection */
  projection?: Head;
  fail(image: string, code: string, message: string): void;
  warn(line: string): void;
  stop(): boolean;
}

/** Photos into a build, through the photo loop: hashed, skipped when in, embedded on every worker. */
export async function addPhotos(engine: Facekit, src: Extract<Source, { kind: 'people' | 'photos' }>, sink: BuildSink, summary: BuildSummary, c: PhotoContext): Promise<void> {
  let photos: LabelledPhoto[];
  if (src.kind === 'people') {
    const { dir, people } = src.folder;
    summary.people = people.length;
    for (const p of people) {
      if (p.images.length > 0) continue;
      summary.peopleWithoutPhotos.push(p.label);
      c.fail(join(dir, p.label), 'no_images', 'person folder holds no images');
    }
    photos = people.flatMap((p) => p.images.map((image) => ({ image, label: p.label })));
  } else {
    photos = src.photos;
    summary.people = new Set(photos.map((p) => p.label)).size;
  }
  const m = sink.meta;
  const plan = representPlan({
    model: m.model as RecognizerId, detector: isDetectorId(m.detector) ? m.detector : undefined, minScore: c.minScore, flip: m.flip,
    largestOnly: !c.allFaces, antiSpoof: c.antiSpoof,
  }, engine.maxPixels);
  const session = engine.session(photos.length);
  try {
    await embedPhotos(photos, {
      plan, session, stop: c.stop,
      skip: (_p, hash) => {
        summary.images++;
        const done = sink.isDone(hash);
        if (done === 'in') summary.skipped++;
        return done !== false;
      },
      unreadable: (p, err) => {
        summary.images++;
        c.fail(p.image, 'unreadable', err.message);
      },
      onProgress: (done, total) => c.onProgress?.({ done, total }),
      done: async (p, hash, embedded) => {
        const records = c.projection ? embedded.map((r) => projectRecord(r, c.projection!)) : embedded;
        const faces = records.filter((r) => r.embedding);
        const others = records.filter((r) => !r.embedding && !r.error && r.face !== null);
        const error = records.find((r) => r.error);
        if (faces.length === 0) {
          c.fail(p.image, error?.error?.code ?? 'no_face', error?.error?.message ?? 'no face found');
          return;
        }
        // allFaces: a photo's other faces go in; each one refused as a spoof is said
        for (const s of records.filter((r) => r.error?.code === 'spoof')) c.warn(`${p.image} face ${s.face}: ${s.error!.message}; left out`);
        for (const f of faces) await sink.accept({ entry: { label: p.label, image: p.image, hash, face: f.face ?? 0, box: f.box }, vector: f.embedding!.vector });
        if (others.length > 0) {
          summary.otherFaces += others.length;
          c.warn(`${p.image}: holds ${others.length + faces.length} faces; kept the largest as ${p.label} (--all-faces keeps all)`);
        }
      },
    });
  } finally {
    await session.close();
  }
}

/** Labelled represent records into a build, streamed: memory holds the gallery, never the input. */
export async function addRecords(src: Extract<Source, { kind: 'records' }>, sink: BuildSink, summary: BuildSummary,
  c: { allFaces: boolean; antiSpoof: boolean; fail(image: string, code: string, message: string): void; stop(): boolean }): Promise<void> {
  let images = 0;
  let lastImage: string | undefined;
  const labels = new Set<string>();
  for await (const item of src.lines) {
    if (c.stop()) break;
    if (!item.ok) {
      c.fail(item.where, item.error.code, item.error.message);
      continue;
    }
    const { record: r, where } = item;
    if (r.image !== lastImage) {
      images++;
      lastImage = r.image;
    }
    if (r.error) {
      c.fail(r.image, r.error.code, r.error.message);
      continue;
    }
    const refusal = c.antiSpoof ? spoofRefusal(r) : undefined;
    if (refusal && (c.allFaces || r.face === 0)) {
      c.fail(r.image, refusal.code, refusal.message);
      continue;
    }
    if (!c.allFaces && r.face !== 0) {
      if (r.face !== null) summary.otherFaces++;
      continue;
    }
    if (!r.embedding) {
      c.fail(where, 'missing_key', 'record has no "embedding" (run `facekit represent` first)');
      continue;
    }
    // Another model's vectors would not compare with the gallery's: refuse the whole input.
    assertSameModel(sink.meta, { model: r.embedding.model, dim: r.embedding.dim }, where);
    assertSameHead(sink.meta, r.embedding.head, where);
    if (!r.label) {
      c.fail(where, 'missing_key', 'record has no "label" (represent a DIR/<person>/ tree, or add "label")');
      continue;
    }
    labels.add(r.label);
    // Exported galleries carry each photo's hash; otherwise the photo's bytes, or its name.
    const hash = r.imageSha256 ?? (existsSync(r.image) ? await hashFile(r.image) : sha256(`path:${r.image}`));
    const done = sink.isDone(hash, r.face ?? 0);
    if (done) {
      // a photo's faces go in together: one of them in means all of them are (counted once)
      if (done === 'in' && (r.face ?? 0) === 0) summary.skipped++;
      continue;
    }
    await sink.accept({ entry: { label: r.label, image: r.image, hash, face: r.face ?? 0, box: r.box }, vector: r.embedding.vector });
  }
  if (images === 0 && summary.failures.length === 0 && !c.stop()) {
    throw new FacekitError('usage', 'holds no records (expected represent records with "embedding" and "label")', src.where);
  }
  summary.images = images;
  summary.people = labels.size;
}

async function hashFile(path: string): Promise<string> {
  try {
    return await fileSha256(path);
  } catch (err) {
    // a folder or a device named like an image: hashed by name, as a photo that is not there
    if (err instanceof FacekitError) return sha256(`path:${path}`);
    throw fsError(err, path);
  }
}
