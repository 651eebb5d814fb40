/** `facekit verify`: who is this (against a gallery: Gallery.identifyMany), or are these two the same person (verify). */
import { once } from 'node:events';
import type { Command } from 'commander';
import { DEFAULT_GALLERY_PATH, FacekitError, Gallery, subjectOf, folderGallery, type DetectorId, type FaceAnswer, type Metric, type RecognizerId, type Subject } from '../../index.js';
import { action } from '../exit.js';
import { isDirectorySync } from '../../core/files.js';
import { InputStream, readInputs, type ImageInput, type Input } from '../inputs.js';
import { addDetectOptions, addEfSearchOption, addEngineOptions, addFormatOptions, defaultDb, engineFor, parseMetric, parseModel, parseNumber, wantsTable, type CommonOptions, type FormatOptions } from '../options.js';
import { plainTable, warn } from '../output.js';

interface VerifyOptions extends CommonOptions, FormatOptions {
  subject?: Subject;
  db?: string;
  threshold?: number;
  metric?: Metric;
  topK: number;
  model?: RecognizerId;
  detector: DetectorId;
  minScore: number;
  skipDetect: boolean;
  antiSpoof: boolean;
  head?: string;
  efSearch?: number;
}

export function register(program: Command): void {
  const cmd = program
    .command('verify')
    .description('who is this? each face of the query against the gallery (or two photos against each other)')
    .argument('<query...>', 'image(s), folder, represent records (file or -); or exactly two images for a 1:1 check')
    .option('--db <file|dir|url>', `the gallery (default $FACEKIT_DB or ${DEFAULT_GALLERY_PATH}; postgres://…?gallery=NAME for a database), or a folder of people (DIR/<person>/*.jpg) whose gallery is built and cached; giving it forces gallery mode`)
    .option('--threshold <t>', 'largest distance that counts as the same person (default: calibrated per model and metric)', parseNumber('--threshold', { min: 0 }))
    .option('--metric <name>', 'cosine | euclidean | euclidean_l2 (default: the gallery\'s)', parseMetric)
    .option('--top-k <k>', 'candidates to list per face', parseNumber('--top-k', { min: 1, integer: true }), 3)
    .option('--model <name>', '1:1 mode: recognition model (gallery mode uses the gallery\'s)', parseModel)
    .option('--head <dir>', '1:1 mode: a head from facekit train decides (siamese: its probability; projection: cosine of the projections), at its trained threshold');
  addEfSearchOption(cmd);
  addDetectOptions(cmd)
    .option('--skip-detect', 'queries are already aligned face crops (ArcFace 112x112 template)', false)
    .option('--anti-spoof', 'refuse faces the anti-spoofing model judges not real (a photo of a photo, a screen): error, exit code 2', false);
  addFormatOptions(cmd, 'JSON: one object per face');
  addEngineOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  $ facekit verify query.jpg                        against db/gallery.json
  $ facekit verify query.jpg --threshold 0.9 --top-k 5      (mobilefacenet's gallery threshold is 0.98)
  $ facekit verify a.jpg b.jpg                      1:1: same person?
  $ facekit represent q.jpg | facekit verify - --json
  $ facekit verify selfie.jpg --anti-spoof          refuse a photo of a photo or of a screen

Exit code: 0 when every queried face matched someone, 1 when one did not, 2 on error (with
--anti-spoof, also when a face looks like a spoof: "error": {"code": "spoof", ...}).`);
  cmd.action(action(async (args: string[], opts: VerifyOptions) => {
    opts.json = !wantsTable(opts);
    const inputs = await readInputs(args);
    const pairMode = opts.db === undefined && inputs.length === 2 && inputs.every((i) => i.kind === 'image');
    if (!pairMode && opts.head !== undefined) throw new FacekitError('usage', '--head decides 1:1 (verify A.jpg B.jpg --head DIR); a gallery does not take a head yet');
    return pairMode ? verifyPairMode(inputs as ImageInput[], opts) : verifyGallery(inputs, opts);
  }));
}

async function verifyGallery(inputs: Input[], opts: VerifyOptions): Promise<number> {
  const engine = engineFor(opts);
  try {
    let db = opts.db ?? defaultDb();
    if (opts.db !== undefined && isDirectorySync(opts.db)) {
      // a folder of people, as deepface's find(img, db_path=folder): its gallery is built in the cache, then searched
      const { location, summary: s } = await folderGallery(opts.db, { subject: opts.subject, model: opts.model, detector: opts.detector, minScore: opts.minScore, engine, onWarn: warn });
      const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
      warn(`gallery of ${opts.db}: ${n(s.galleryPeople, 'person', 'people')}, ${n(s.galleryFaces, 'face')} (${s.added} new, ${s.pruned} gone; kept in ${s.db})`);
      db = location;
    }
    const gallery = await Gallery.open(db, { engine, ...(opts.efSearch !== undefined ? { efSearch: opts.efSearch } : {}) });
    try {
      const stream = new InputStream(inputs);
      const out = new AnswerPrinter(opts.json, stream.told);
      const answers = gallery.identifyMany(stream.items(), {
        model: opts.model, metric: opts.metric, threshold: opts.threshold, topK: opts.topK, detector: opts.detector, minScore: opts.minScore,
        skipDetect: opts.skipDetect, antiSpoof: opts.antiSpoof, onWarn: warn,
      });
      for await (const a of answers) await out.add(a);
      await out.end();
      if (out.errors + stream.empty > 0) return 2;
      return out.unknown === 0 ? 0 : 1;
    } finally {
      await gallery.close();
    }
  } finally {
    await engine.close();
  }
}

/**
 * Answers as they come: NDJSON lines at once (--json), or tables of up to 200 rows, so that a long
 * stream of queries neither waits for its end nor fills memory.
 */
class AnswerPrinter {
  private rows: FaceAnswer[] = [];
  errors = 0;
  unknown = 0;

  /** `told`: errors already said on stderr (bad record lines) */
  constructor(private readonly json: boolean, private readonly told: WeakSet<object>) {}

  async add(a: FaceAnswer): Promise<void> {
    if (a.verdict === 'error') {
      this.errors++;
      if (!a.error || !this.told.has(a.error)) warn(`${a.image}: ${a.error?.message}`);
    } else if (a.verdict !== 'match') this.unknown++;
    if (this.json) {
      if (!process.stdout.write(JSON.stringify(a) + '\n')) await once(process.stdout, 'drain');
    } else {
      this.rows.push(a);
      if (this.rows.length >= 200) await this.flush();
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

/** Whole pictures (signatures, products) are not people. */
const isImageModel = (model: string): boolean => subjectOf(model) === 'image';

async function verifyPairMode(inputs: ImageInput[], opts: VerifyOptions): Promise<number> {
  const engine = engineFor(opts);
  const [a, b] = inputs as [ImageInput, ImageInput];
  try {
    const result = await engine.verify(a.bytes ?? a.path, b.bytes ?? b.path, {
      model: opts.model, metric: opts.metric, threshold: opts.threshold,
      detector: opts.detector, minScore: opts.minScore, skipDetect: opts.skipDetect, names: [a.path, b.path],
      antiSpoof: opts.antiSpoof, head: opts.head,
    });
    for (const w of result.warnings) warn(w);
    const { faces: _faces, facesFound: _found, warnings: _warnings, ...answer } = result;
    if (opts.json) process.stdout.write(JSON.stringify(answer) + '\n');
    else {
      const t = plainTable(['image 1', 'image 2', 'distance', 'threshold', 'verdict']);
      t.push([answer.image1, answer.image2, answer.distance.toFixed(4), `${answer.threshold} (${answer.metric})`, answer.verified ? (isImageModel(answer.model) ? 'same' : 'same person') : (isImageModel(answer.model) ? 'different' : 'different people')]);
      process.stdout.write(t.toString() + '\n');
    }
    return answer.verified ? 0 : 1;
  } finally {
    await engine.close();
  }
}
