/** `facekit build-db`: a gallery of known people from DIR/<person>/* photos or labelled records (buildGallery). */
import type { Command } from 'commander';
import { ANN_MIN_FACES, DEFAULT_RECOGNIZER, buildGallery, subjectOf, type BuildSummary, type DetectorId, type GallerySource, type IndexPolicy, type Metric, type RecognizerId, type Subject } from '../../index.js';
import { FacekitError } from '../../core/errors.js';
import { action } from '../exit.js';
import { readInputs } from '../inputs.js';
import { addDbOption, addDetectOptions, addEngineOptions, addModelOption, engineFor, parseIndexPolicy, parseMetric, thousands, type CommonOptions } from '../options.js';
import { onInterrupt, progressBar, warn } from '../output.js';

export interface BuildOptions extends CommonOptions {
  subject?: Subject;
  head?: string;
  db: string;
  model?: RecognizerId;
  detector: DetectorId;
  minScore: number;
  metric?: Metric;
  flip: boolean;
  allFaces: boolean;
  prune: boolean;
  json: boolean;
  index?: IndexPolicy;
  /** the input is records whatever its name (`db import`) */
  records?: boolean;
  antiSpoof?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('build-db')
    .description('build or update a gallery of known people from DIR/<person>/* photos (or labelled represent records)')
    .argument('<input>', 'DIR with one folder per person, or a represent records file / - (records need "label")');
  addDbOption(cmd, 'the gallery to create or update: a file, or postgres://user@host/dbname?gallery=NAME');
  addModelOption(cmd, `recognition model (default: the gallery's, or ${DEFAULT_RECOGNIZER} for a new one)`);
  addDetectOptions(cmd)
    .option('--metric <name>', 'distance the gallery is searched with: cosine | euclidean | euclidean_l2 (new galleries)', parseMetric)
    .option('--no-flip', 'embed faces without their mirror image (faster, slightly less accurate)')
    .option('--head <dir>', 'a projection head from facekit train: the gallery holds its 256-d projections and records the head (file galleries)')
    .option('--all-faces', 'add every face of a photo, not only the largest', false)
    .option('--prune', 'drop entries whose image files are gone', false)
    .option('--index <how>', `how the gallery is searched: auto (an HNSW graph from ${thousands(ANN_MIN_FACES)} faces) | exact | hnsw (default: the gallery's, or auto)`, parseIndexPolicy)
    .option('--json', 'print the summary as JSON on stdout', false)
    .option('--anti-spoof', 'leave out faces the anti-spoofing model judges not real (a photo of a photo, a screen): a failed photo each, the others are added', false);
  addEngineOptions(cmd);
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

/** Build or update the gallery at opts.db from `input`: the summary on stderr (or --json), the exit code. */
export async function buildDb(input: string, opts: BuildOptions): Promise<number> {
  const source = await sourceOf(input, opts.records === true);
  const engine = engineFor(opts);
  const interrupt = onInterrupt('interrupted: finishing the work under way, then stopping (what is finished is kept)');
  const bar = progressBar();
  try {
    const summary = await buildGallery(source, {
      db: opts.db, subject: opts.subject, head: opts.head, model: opts.model, detector: opts.detector, minScore: opts.minScore, metric: opts.metric, flip: opts.flip,
      allFaces: opts.allFaces, prune: opts.prune, index: opts.index, antiSpoof: opts.antiSpoof, engine,
      signal: interrupt.signal, onProgress: bar.update, onWarn: warn,
    });
    bar.end();
    if (summary.stopped !== undefined) {
      warn(`stopped: ${summary.stopped}; run build-db again to go on from there`);
      return 130;
    }
    report(summary, opts.json);
    return summary.failures.length > 0 ? 2 : 0;
  } finally {
    interrupt.off();
    await engine.close();
  }
}

/** `-` (stdin) and `db import FILE` are records whatever their name; a folder or a records file goes as its path. */
async function sourceOf(input: string, records: boolean): Promise<GallerySource> {
  if (input !== '-' && !records) return input;
  const [recs] = await readInputs([input], { recordsOnly: true });
  if (!recs || recs.kind !== 'records') throw new FacekitError('usage', 'expected represent records (NDJSON with "embedding" and "label")', input);
  return recs.lines;
}

const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function report(s: BuildSummary, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    return;
  }
  // an any-image gallery holds pictures of categories, not faces of people
  const image = subjectOf(s.model) === 'image';
  const [who, whom, what] = image ? ['category', 'categories', 'image'] : ['person', 'people', 'face'];
  const lines = [
    `gallery ${s.db}: ${count(s.galleryPeople, who, whom)}, ${count(s.galleryFaces, what)} (${s.model})`,
    `this run: ${count(s.images, 'photo')} of ${count(s.people, who, whom)} in ${s.seconds}s: ${count(s.added, what)} added` +
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
