/** `facekit build-db`: a gallery of known people from DIR/<person>/* photos or labelled records. */
import { fileSha256, sha256 } from '../../core/files.js';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_METRIC, DEFAULT_RECOGNIZER, RECOGNIZERS, isMetric, type Metric, type RecognizerId } from '../../api/models.js';
import { buildPlan, DEFAULT_PLAN, type PipelinePlan, type ImageJob } from '../../api/pipeline.js';
import { acquireLock, ANN_MIN_FACES, DEFAULT_GALLERY_PATH, assertSameModel, defaultMetaFor, InMemoryGallery, Journal, VectorRows, journalPath, loadGallery, readJournal, saveGallery, type GalleryEntry, type GalleryMeta, type IndexPolicy } from '../../api/recognition.js';
import { FacekitError, fsError } from '../../core/errors.js';
import { isImagePath, listImages } from '../../core/image.js';
import { VERSION } from '../../core/version.js';
import {
  action, addCommonOptions, addWorkersOption, parseDetector, parseIndexPolicy, parseModel, parseNumber, Progress, readInputs, engineFor, warn,
  type BatchOptions, isDirectorySync,
} from '../common.js';



export interface BuildOptions extends BatchOptions {
  db: string;
  model?: RecognizerId;
  detector: PipelinePlan['detector'];
  minScore: number;
  metric?: string;
  flip: boolean;
  allFaces: boolean;
  prune: boolean;
  json: boolean;
  index?: IndexPolicy;
  /** the input is records whatever its name (`db import`) */
  records?: boolean;
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



interface Summary {
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

export function register(program: Command): void {
  const cmd = program
    .command('build-db')
    .description('build or update a gallery of known people from DIR/<person>/* photos (or labelled represent records)')
    .argument('<input>', 'DIR with one folder per person, or a represent records file / - (records need "label")')
    .option('--db <file>', 'the gallery to create or update', DEFAULT_GALLERY_PATH)
    .option('--model <name>', 'recognition model (default: the gallery\'s, or resnet34 for a new one)', parseModel)
    .option('--detector <name>', 'blazeface | ssd | tiny', parseDetector, DEFAULT_PLAN.detector)
    .option('--min-score <s>', 'lowest detector confidence kept', parseNumber('--min-score', { min: 0, max: 1 }), DEFAULT_PLAN.minScore)
    .option('--metric <name>', 'distance the gallery is searched with: cosine | euclidean | euclidean_l2 (new galleries)')
    .option('--no-flip', 'embed faces without their mirror image (faster, slightly less accurate)')
    .option('--all-faces', 'add every face of a photo, not only the largest', false)
    .option('--prune', 'drop entries whose image files are gone', false)
    .option('--index <how>', `how the gallery is searched: auto (an HNSW graph from ${ANN_MIN_FACES.toLocaleString('en')} faces) | exact | hnsw (default: the gallery's, or auto)`, parseIndexPolicy)
    .option('--json', 'print the summary as JSON on stdout', false);
  addWorkersOption(addCommonOptions(cmd));
  cmd.addHelpText('after', `
Examples:
  $ facekit build-db ./artists                          -> db/gallery.json
  $ facekit build-db ./artists --db team.json --prune   (update: adds new photos, drops deleted ones)
  $ facekit represent ./artists | facekit build-db -    (from records)

Running it again adds only photos not already in (by content). An interrupted build keeps what it
finished in <db>.partial and the next run resumes from there; the previous gallery stays intact
until the new one is complete. Exit code 2 when any photo failed (the others are added).`);
  cmd.action(action(async (input: string, opts: BuildOptions) => buildDb(input, opts)));
}

/**
 * Build or update the gallery at opts.db from `input`. `quiet`: one summary line instead of two
 * (verify --db DIR builds its gallery this way).
 */
export async function buildDb(input: string, opts: BuildOptions, quiet = false): Promise<number> {
  const t0 = Date.now();
  if (opts.metric !== undefined && !isMetric(opts.metric)) {
    throw new FacekitError('usage', `--metric must be one of cosine, euclidean, euclidean_l2; got "${opts.metric}"`);
  }
  const fromRecords = opts.records === true || input === '-' || /\.(ndjson|jsonl|json)$/i.test(input);
  if (!fromRecords && !existsSync(input)) throw new FacekitError('not_found', 'no such file or directory', input);
  if (!fromRecords && !statSync(input).isDirectory()) {
    throw new FacekitError('usage', 'build-db takes a folder of person folders (DIR/<person>/*.jpg), or records', input);
  }

  try {
    mkdirSync(dirname(opts.db), { recursive: true });
  } catch (err) {
    throw fsError(err, dirname(opts.db));
  }
  const release = acquireLock(opts.db);
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    warn('interrupted: finishing the photos under way, then stopping (the previous gallery is kept)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const journal = new Journal(journalPath(opts.db));
  try {
    // An existing gallery fixes the model; a damaged one is never overwritten.
    const existing = existsSync(opts.db) ? await loadGallery(opts.db) : undefined;
    const model: RecognizerId = opts.model ?? (existing?.meta.model as RecognizerId | undefined) ?? DEFAULT_RECOGNIZER;
    const metric: Metric = (opts.metric as Metric | undefined) ?? existing?.meta.metric ?? DEFAULT_METRIC;
    const meta: GalleryMeta = existing ? { ...existing.meta } : defaultMetaFor(model, metric, opts.flip, opts.detector);
    if (existing) {
      assertSameModel(existing.meta, { model, dim: RECOGNIZERS[model].dim }, opts.db);
      if (existing.meta.flip !== opts.flip) {
        throw new FacekitError('model_mismatch', `gallery was built ${existing.meta.flip ? 'with' : 'without'} --flip; build it the same way`, opts.db);
      }
    }
    const gallery = existing ?? new InMemoryGallery(meta);
    if (opts.index) gallery.indexPolicy = opts.index;

    const summary: Summary = {
      db: opts.db, model, people: 0, images: 0, added: 0, skipped: 0, resumed: 0, pruned: 0, otherFaces: 0,
      failures: [], peopleWithoutPhotos: [], galleryPeople: 0, galleryFaces: 0, seconds: 0,
    };
    const fail = (image: string, code: string, message: string) => {
      summary.failures.push({ image, code, message });
      warn(`${image}: ${message}`);
    };

    // What an earlier, interrupted run finished.
    const resumed = readJournal(opts.db, meta);
    const known = gallery.hashes();
    // What this run adds: entries, and their vectors packed in blocks (no array per face).
    const pendingEntries: GalleryEntry[] = [];
    const pendingRows = new VectorRows(meta.dim);
    const pendingKeys = new Set<string>();
    resumed.entries.forEach((entry, i) => {
      if (known.has(entry.hash) && !opts.allFaces) return;
      pendingKeys.add(`${entry.hash}#${entry.face}`);
      pendingEntries.push(entry);
      pendingRows.push(resumed.rows.row(i));
    });
    summary.resumed = pendingEntries.length;
    // Photos in the gallery count as "already in"; photos an interrupted run finished count as
    // "resumed" (once), never as both.
    const isDone = (hash: string): 'in' | 'resumed' | false => (known.has(hash) ? 'in' : pendingKeys.has(`${hash}#0`) ? 'resumed' : false);

    const accept = (entry: GalleryEntry, vector: number[]) => {
      journal.append({ meta, entry, vector });
      pendingEntries.push(entry);
      pendingRows.push(vector, entry.image);
      summary.added++;
    };

    if (fromRecords) {
      await addFromRecords(input, meta, opts, summary, isDone, accept, fail);
    } else {
      const people = await peopleIn(input, opts.db);
      summary.people = people.length;
      for (const p of people) if (p.images.length === 0) {
        summary.peopleWithoutPhotos.push(p.label);
        fail(join(input, p.label), 'no_images', 'person folder holds no images');
      }
      const todo: { label: string; image: string; hash: string }[] = [];
      for (const p of people) {
        for (const image of p.images) {
          summary.images++;
          let hash: string;
          try {
            hash = await fileSha256(image);
          } catch (err) {
            fail(image, 'unreadable', err instanceof FacekitError ? err.message : String(err));
            continue;
          }
          const done = isDone(hash);
          if (done === 'in') summary.skipped++;
          else if (!done) todo.push({ label: p.label, image, hash });
        }
      }
      const engine = engineFor(opts);
      const plan = buildPlan({
        upTo: 'represent', model, detector: meta.detector as PipelinePlan['detector'], minScore: opts.minScore,
        flip: meta.flip, maxPixels: opts.maxPixels, largestOnly: !opts.allFaces,
      });
      const jobs: ImageJob[] = todo.map((t) => ({ image: t.image, plan }));
      const byImage = new Map(todo.map((t) => [t.image, t]));
      const progress = new Progress(jobs.length);
      await engine.runImages(jobs, {
        shouldStop: () => interrupted,
        onResult: (job, records) => {
          progress.tick();
          const t = byImage.get(job.image)!;
          const faces = records.filter((r) => r.embedding);
          const others = records.filter((r) => !r.embedding && !r.error && r.face !== null);
          const error = records.find((r) => r.error);
          if (faces.length === 0) {
            fail(job.image, error?.error?.code ?? 'no_face', error?.error?.message ?? 'no face found');
            return;
          }
          for (const f of faces) {
            accept({ label: t.label, image: job.image, hash: t.hash, face: f.face ?? 0, box: f.box }, f.embedding!.vector);
          }
          if (others.length > 0) {
            summary.otherFaces += others.length;
            warn(`${job.image}: holds ${others.length + faces.length} faces; kept the largest as ${t.label} (--all-faces keeps all)`);
          }
        },
        onCrash: (job, stack) => { if (opts.debug) process.stderr.write(`${job.image}: ${stack}\n`); },
      });
      progress.end();
    }

    if (interrupted) {
      journal.close();
      warn(`stopped: ${summary.added + summary.resumed} faces are kept in ${journalPath(opts.db)}; run build-db again to resume`);
      return 130;
    }

    gallery.addRows(pendingEntries, pendingRows);
    if (opts.prune) summary.pruned = gallery.filter((e) => existsSync(e.image));
    if (gallery.wantsGraph() && !gallery.ann && !quiet) warn(`building the search index (an HNSW graph) of ${gallery.size.toLocaleString('en')} faces`);
    await saveGallery(gallery, opts.db, VERSION);
    journal.remove();

    summary.galleryPeople = gallery.labels().size;
    summary.galleryFaces = gallery.size;
    summary.seconds = Math.round((Date.now() - t0) / 100) / 10;
    report(summary, opts.json, quiet ? input : undefined);
    return summary.failures.length > 0 ? 2 : 0;
  } finally {
    journal.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    release();
  }
}

/** Labelled represent records (from a file or stdin) into the gallery. */
async function addFromRecords(input: string, meta: GalleryMeta, opts: BuildOptions, summary: Summary,
  isDone: (hash: string) => 'in' | 'resumed' | false, accept: (e: GalleryEntry, v: number[]) => void,
  fail: (image: string, code: string, message: string) => void): Promise<void> {
  const [recs] = await readInputs([input], { recordsOnly: opts.records });
  if (!recs || recs.kind !== 'records') throw new FacekitError('usage', 'expected represent records (NDJSON with "embedding" and "label")', input);
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
    accept({ label: r.label, image: r.image, hash, face: r.face ?? 0, box: r.box }, r.embedding.vector);
  }
  if (images === 0 && summary.failures.length === 0) throw new FacekitError('usage', 'holds no records (expected represent records with "embedding" and "label")', input === '-' ? 'stdin' : input);
  summary.images = images;
  summary.people = labels.size;
}

const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function report(s: Summary, json: boolean, quietFor?: string): void {
  if (json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    return;
  }
  if (quietFor !== undefined) {
    process.stderr.write(`facekit: gallery of ${quietFor}: ${count(s.galleryPeople, 'person', 'people')}, ${count(s.galleryFaces, 'face')}` +
      ` (${s.added} new, ${s.pruned} gone; kept in ${s.db})\n`);
    return;
  }
  const lines = [
    `gallery ${s.db}: ${count(s.galleryPeople, 'person', 'people')}, ${count(s.galleryFaces, 'face')} (${s.model})`,
    `this run: ${count(s.images, 'photo')} of ${count(s.people, 'person', 'people')} in ${s.seconds}s: ${count(s.added, 'face')} added` +
      `${s.skipped ? `, ${s.skipped} already in` : ''}${s.resumed ? `, ${s.resumed} resumed from an interrupted run` : ''}` +
      `${s.pruned ? `, ${s.pruned} pruned` : ''}${s.otherFaces ? `, ${count(s.otherFaces, 'other face')} left out` : ''}`,
  ];
  if (s.failures.length) {
    const byCode = new Map<string, number>();
    for (const f of s.failures) byCode.set(f.code, (byCode.get(f.code) ?? 0) + 1);
    lines.push(`failed: ${s.failures.length} (${[...byCode].map(([c, n]) => `${n} ${c}`).join(', ')})`);
  }
  process.stderr.write(lines.map((l) => `facekit: ${l}`).join('\n') + '\n');
}

