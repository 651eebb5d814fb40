/** `facekit build-db`: a gallery of known people from DIR/<person>/* photos or labelled records. */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_METRIC, DEFAULT_RECOGNIZER, RECOGNIZERS, isMetric, type Metric, type RecognizerId } from '../../api/models.js';
import { DEFAULT_PLAN, type PipelinePlan } from '../../api/pipeline.js';
import { acquireLock, ANN_MIN_FACES, assertSameModel, defaultMetaFor, InMemoryGallery, isDbUrl, Journal, VectorRows, journalPath, loadGallery, readJournal, saveGallery, type GalleryEntry, type GalleryMeta, type IndexPolicy } from '../../api/recognition.js';
import { FacekitError, fsError } from '../../core/errors.js';
import { VERSION } from '../../core/version.js';
import { collectFaces, galleryModel, type Summary } from './build-db-sources.js';
import { buildInDatabase } from './build-db-database.js';
import {
  action, defaultDb, addCommonOptions, addWorkersOption, parseDetector, parseIndexPolicy, parseModel, parseNumber, onInterrupt, warn,
  type BatchOptions,
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
  /** refuse faces the anti-spoofing model judges not real (each such photo is a failure) */
  antiSpoof?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('build-db')
    .description('build or update a gallery of known people from DIR/<person>/* photos (or labelled represent records)')
    .argument('<input>', 'DIR with one folder per person, or a represent records file / - (records need "label")')
    .option('--db <file|url>', 'the gallery to create or update: a file, or postgres://user@host/dbname?gallery=NAME', defaultDb())
    .option('--model <name>', `recognition model (default: the gallery's, or ${DEFAULT_RECOGNIZER} for a new one)`, parseModel)
    .option('--detector <name>', 'blazeface | ssd | tiny', parseDetector, DEFAULT_PLAN.detector)
    .option('--min-score <s>', 'lowest detector confidence kept', parseNumber('--min-score', { min: 0, max: 1 }), DEFAULT_PLAN.minScore)
    .option('--metric <name>', 'distance the gallery is searched with: cosine | euclidean | euclidean_l2 (new galleries)')
    .option('--no-flip', 'embed faces without their mirror image (faster, slightly less accurate)')
    .option('--all-faces', 'add every face of a photo, not only the largest', false)
    .option('--prune', 'drop entries whose image files are gone', false)
    .option('--index <how>', `how the gallery is searched: auto (an HNSW graph from ${ANN_MIN_FACES.toLocaleString('en')} faces) | exact | hnsw (default: the gallery's, or auto)`, parseIndexPolicy)
    .option('--json', 'print the summary as JSON on stdout', false)
    .option('--anti-spoof', 'leave out faces the anti-spoofing model judges not real (a photo of a photo, a screen): a failed photo each, the others are added', false);
  addWorkersOption(addCommonOptions(cmd));
  cmd.addHelpText('after', `
Examples:
  $ facekit build-db ./artists                          -> db/gallery.json
  $ facekit build-db ./artists --db team.json --prune   (update: adds new photos, drops deleted ones)
  $ facekit represent ./artists | facekit build-db -    (from records)
  $ facekit build-db ./artists --anti-spoof             (no photos of photos or of screens)

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

  if (isDbUrl(opts.db)) return buildDbInDatabase(input, fromRecords, opts, quiet, t0);
  try {
    mkdirSync(dirname(opts.db), { recursive: true });
  } catch (err) {
    throw fsError(err, dirname(opts.db));
  }
  const release = acquireLock(opts.db);
  const signal = onInterrupt('interrupted: finishing the photos under way, then stopping (the previous gallery is kept)');
  const journal = new Journal(journalPath(opts.db));
  try {
    // An existing gallery fixes the model; a damaged one is never overwritten.
    const existing = existsSync(opts.db) ? await loadGallery(opts.db) : undefined;
    const { model, records } = await galleryModel(input, fromRecords, opts, existing?.meta.model);
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

    const summary = newSummary(opts.db, model);
    const fail = failWith(summary);

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

    await collectFaces(input, fromRecords, { meta, model, opts, summary, isDone, accept, fail, stopped: signal.stopped }, records);

    if (signal.stopped()) {
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
    signal.off();
    release();
  }
}

async function buildDbInDatabase(input: string, fromRecords: boolean, opts: BuildOptions, quiet: boolean, t0: number): Promise<number> {
  const summary = newSummary(opts.db, opts.model ?? DEFAULT_RECOGNIZER);
  const fail = failWith(summary);
  const { interrupted } = await buildInDatabase(input, fromRecords, opts, summary, fail);
  summary.seconds = Math.round((Date.now() - t0) / 100) / 10;
  if (interrupted) {
    warn(`stopped: ${summary.added} faces were committed to ${opts.db}; run build-db again to add the rest`);
    return 130;
  }
  report(summary, opts.json, quiet ? input : undefined);
  return summary.failures.length > 0 ? 2 : 0;
}

const newSummary = (db: string, model: string): Summary => ({
  db, model, people: 0, images: 0, added: 0, skipped: 0, resumed: 0, pruned: 0, otherFaces: 0,
  failures: [], peopleWithoutPhotos: [], galleryPeople: 0, galleryFaces: 0, seconds: 0,
});

const failWith = (summary: Summary) => (image: string, code: string, message: string) => {
  summary.failures.push({ image, code, message });
  warn(`${image}: ${message}`);
};

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
