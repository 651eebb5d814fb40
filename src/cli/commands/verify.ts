/** `facekit verify`: who is this (against a gallery), or are these two the same person (1:1). */
import { createHash } from 'node:crypto';
import { existsSync, realpathSync} from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Command } from 'commander';
import { RECOGNIZERS, type RecognizerId } from '../../api/models.js';
import { assertSameModel, decideThreshold, DEFAULT_GALLERY_PATH, identifyAsync, isDbUrl, loadGallery, openDbGallery, PgGallery, type FaceAnswer, type InMemoryGallery } from '../../api/recognition.js';
import { DEFAULT_PLAN, defaultCacheDir, type PipelinePlan } from '../../api/pipeline.js';
import { buildDb } from './build-db.js';
import { FacekitError } from '../../core/errors.js';
import { errorRecord, spoofRefusal, type FaceRecord } from '../../core/records.js';
import {
  action, defaultDb, addCommonOptions, addWorkersOption, parseDetector, parseModel, parseNumber, readInputs, engineFor, warn,
  type BatchOptions, type ImageInput, type Input,
  parseMetricOption, plainTable, isDirectorySync,
} from '../common.js';

interface VerifyOptions extends BatchOptions {
  db?: string;
  threshold?: number;
  metric?: string;
  topK: number;
  json: boolean;
  model?: RecognizerId;
  detector: PipelinePlan['detector'];
  minScore: number;
  skipDetect: boolean;
  antiSpoof: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('verify')
    .description('who is this? each face of the query against the gallery (or two photos against each other)')
    .argument('<query...>', 'image(s), folder, represent records (file or -); or exactly two images for a 1:1 check')
    .option('--db <file|dir|url>', `the gallery (default $FACEKIT_DB or ${DEFAULT_GALLERY_PATH}; postgres://…?gallery=NAME for a database), or a folder of people (DIR/<person>/*.jpg) whose gallery is built and cached; giving it forces gallery mode`)
    .option('--threshold <t>', 'largest distance that counts as the same person (default: calibrated per model and metric)', parseNumber('--threshold', { min: 0 }))
    .option('--metric <name>', 'cosine | euclidean | euclidean_l2 (default: the gallery\'s)')
    .option('--top-k <k>', 'candidates to list per face', parseNumber('--top-k', { min: 1, integer: true }), 3)
    .option('--json', 'print JSON (one object per face) instead of a table', false)
    .option('--model <name>', '1:1 mode: recognition model (gallery mode uses the gallery\'s)', parseModel)
    .option('--detector <name>', 'blazeface | ssd | tiny', parseDetector, DEFAULT_PLAN.detector)
    .option('--min-score <s>', 'lowest detector confidence kept', parseNumber('--min-score', { min: 0, max: 1 }), DEFAULT_PLAN.minScore)
    .option('--skip-detect', 'queries are already aligned face crops (ArcFace 112x112 template)', false)
    .option('--anti-spoof', 'refuse faces the anti-spoofing model judges not real (a photo of a photo, a screen): error, exit code 2', false);
  addWorkersOption(addCommonOptions(cmd));
  cmd.addHelpText('after', `
Examples:
  $ facekit verify query.jpg                        against db/gallery.json
  $ facekit verify query.jpg --threshold 0.4 --top-k 5
  $ facekit verify a.jpg b.jpg                      1:1: same person?
  $ facekit represent q.jpg | facekit verify - --json
  $ facekit verify selfie.jpg --anti-spoof          refuse a photo of a photo or of a screen

Exit code: 0 when every queried face matched someone, 1 when one did not, 2 on error (with
--anti-spoof, also when a face looks like a spoof: "error": {"code": "spoof", ...}).`);
  cmd.action(action(async (args: string[], opts: VerifyOptions) => {
    parseMetricOption(opts.metric);
    const inputs = await readInputs(args);
    const pairMode = opts.db === undefined && inputs.length === 2 && inputs.every((i) => i.kind === 'image');
    return pairMode ? verifyPairMode(inputs as ImageInput[], opts) : verifyGallery(inputs, opts);
  }));
}

/**
 * A folder given as --db, as deepface's find(img, db_path=folder): its gallery is built (or
 * brought up to date, incrementally) in the cache folder, then searched.
 */
async function galleryForFolder(dir: string, opts: VerifyOptions): Promise<string> {
  const id = createHash('sha1').update(realpathSync(dir)).digest('hex').slice(0, 16);
  const db = join(defaultCacheDir(), 'galleries', id, 'gallery.json');
  const code = await buildDb(dir, {
    db, model: opts.model, detector: opts.detector, minScore: opts.minScore, metric: undefined, flip: true, allFaces: false,
    prune: true, json: false, workers: opts.workers, backend: opts.backend, maxPixels: opts.maxPixels, debug: opts.debug,
  }, true);
  if (code !== 0 && !existsSync(db)) throw new FacekitError('bad_gallery', 'could not build a gallery from this folder', dir);
  return db;
}

async function verifyGallery(inputs: Input[], opts: VerifyOptions): Promise<number> {
  const dbPath = opts.db !== undefined && isDirectorySync(opts.db) ? await galleryForFolder(opts.db, opts) : opts.db ?? defaultDb();
  // A database gallery is searched where it lives; a file gallery is loaded whole.
  const gallery = isDbUrl(dbPath) ? await openDbGallery(dbPath) : await loadGallery(dbPath);
  try {
    return await answerAll(inputs, opts, gallery, dbPath);
  } finally {
    if (gallery instanceof PgGallery) await gallery.client.close();
  }
}

async function answerAll(inputs: Input[], opts: VerifyOptions, gallery: InMemoryGallery | PgGallery, dbPath: string): Promise<number> {
  const size = gallery instanceof PgGallery ? await gallery.count() : gallery.size;
  if (size === 0) throw new FacekitError('bad_gallery', 'gallery is empty', dbPath);
  if (opts.model && opts.model !== gallery.meta.model) assertSameModel(gallery.meta, { model: opts.model, dim: RECOGNIZERS[opts.model].dim }, dbPath);
  const metric = parseMetricOption(opts.metric, gallery.meta.metric)!;
  const decision = decideThreshold(gallery.meta.model, metric, opts.threshold, 'gallery');
  if (decision.warning) warn(decision.warning);
  const ask = { metric, threshold: decision.threshold, topK: opts.topK };
  const out = new AnswerPrinter(opts.json);

  // Records stream in and are answered one by one; images go through the pipeline on every core.
  for (const input of inputs) {
    if (input.kind !== 'records') continue;
    let seen = 0;
    for await (const item of input.lines) {
      seen++;
      let face: FaceRecord;
      if (!item.ok) {
        warn(item.error.line());
        face = errorRecord(input.source, { code: item.error.code, message: `line ${item.line}: ${item.error.message}` });
        await out.add(await identifyAsync(gallery, [face], ask), true);
        continue;
      } else if (!item.record.error && !item.record.embedding) {
        face = { ...item.record, error: { code: 'missing_key', message: `${item.where}: record has no "embedding" (run \`facekit represent\` first)` } };
      } else face = item.record;
      const refusal = opts.antiSpoof && !face.error ? spoofRefusal(face) : undefined;
      if (refusal) face = { ...face, error: refusal };
      await out.add(await identifyAsync(gallery, [face], ask));
    }
    if (seen === 0) {
      warn(`${input.source}: holds no records`);
      out.errors++;
    }
  }
  const engine = engineFor(opts);
  const plan = engine.plan({
    upTo: 'represent', model: gallery.meta.model, detector: opts.detector, minScore: opts.minScore, skipDetect: opts.skipDetect, flip: gallery.meta.flip,
    refuseSpoofs: opts.antiSpoof,
  });
  const images = inputs.filter((i): i is ImageInput => i.kind === 'image');
  await engine.runImages(images.map((i) => ({ image: i.path, plan, bytes: i.bytes })), {
    onResult: async (_job, records) => out.add(await identifyAsync(gallery, records, ask)),
  });
  await out.end();
  if (out.errors > 0) return 2;
  return out.unknown === 0 ? 0 : 1;
}

/**
 * Answers as they come: NDJSON lines at once (--json), or tables of up to 200 rows, so that a long
 * stream of queries neither waits for its end nor fills memory.
 */
class AnswerPrinter {
  private rows: FaceAnswer[] = [];
  errors = 0;
  unknown = 0;

  constructor(private readonly json: boolean) {}

  /** `told`: the errors among these were reported on stderr already. */
  async add(answers: FaceAnswer[], told = false): Promise<void> {
    for (const a of answers) {
      if (a.verdict === 'error') {
        this.errors++;
        if (!told) warn(`${a.image}: ${a.error?.message}`);
      } else if (a.verdict !== 'match') this.unknown++;
      if (this.json) {
        if (!process.stdout.write(JSON.stringify(a) + '\n')) await once(process.stdout, 'drain');
      } else {
        this.rows.push(a);
        if (this.rows.length >= 200) await this.flush();
      }
    }
  }

  async end(): Promise<void> {
    if (this.rows.length > 0) await this.flush();
  }

  private async flush(): Promise<void> {
    const t = plainTable(['query', 'face', 'identity', 'distance', 'threshold', 'verdict', 'candidates']);
    for (const a of this.rows) {
      const cands = a.candidates.map((c) => `${c.label} ${c.distance.toFixed(3)}`).join('\n');
      t.push([
        a.image, a.face ?? '-', a.identity ?? (a.verdict === 'error' ? '-' : 'unknown'),
        a.distance === null ? '-' : a.distance.toFixed(4), `${a.threshold} (${a.metric})`,
        a.verdict === 'error' ? `error: ${a.error?.message}` : a.verdict, cands,
      ]);
    }
    this.rows = [];
    if (!process.stdout.write(t.toString() + '\n')) await once(process.stdout, 'drain');
  }
}

async function verifyPairMode(inputs: ImageInput[], opts: VerifyOptions): Promise<number> {
  const engine = engineFor(opts);
  const [a, b] = inputs as [ImageInput, ImageInput];
  const result = await engine.verify(a.bytes ?? a.path, b.bytes ?? b.path, {
    model: opts.model, metric: parseMetricOption(opts.metric), threshold: opts.threshold,
    detector: opts.detector, minScore: opts.minScore, skipDetect: opts.skipDetect, names: [a.path, b.path],
    antiSpoof: opts.antiSpoof,
  });
  for (const w of result.warnings) warn(w);
  const { faces: _faces, warnings: _warnings, ...answer } = result;
  if (opts.json) process.stdout.write(JSON.stringify(answer) + '\n');
  else {
    const t = plainTable(['image 1', 'image 2', 'distance', 'threshold', 'verdict']);
    t.push([answer.image1, answer.image2, answer.distance.toFixed(4), `${answer.threshold} (${answer.metric})`, answer.verified ? 'same person' : 'different people']);
    process.stdout.write(t.toString() + '\n');
  }
  return answer.verified ? 0 : 1;
}


