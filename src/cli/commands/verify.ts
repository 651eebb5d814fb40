/** `facekit verify`: who is this (against a gallery), or are these two the same person (1:1). */
import type { Command } from 'commander';
import Table from 'cli-table3';
import { RECOGNIZERS, isMetric, type Metric, type RecognizerId } from '../../models/catalogue.js';
import { FacekitError } from '../../core/errors.js';
import { assertSameModel, loadGallery, type Gallery, type Match } from '../../recognition/gallery.js';
import { DEFAULT_PLAN, type PipelinePlan } from '../../pipeline/run.js';
import { runJobs } from '../../pipeline/pool.js';
import type { FaceRecord } from '../../core/records.js';
import { defaultThreshold, verifyPair } from '../../stages/verification.js';
import {
  action, addCommonOptions, addWorkersOption, parseDetector, parseModel, parseNumber, readInputs, useBackend, warn,
  type BatchOptions, type ImageInput, type Input,
} from '../common.js';
import { DEFAULT_DB } from './build-db.js';

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
}

export interface FaceAnswer {
  image: string;
  face: number | null;
  box?: number[];
  /** best identity, or null when nobody in the gallery is close enough */
  identity: string | null;
  distance: number | null;
  threshold: number;
  metric: Metric;
  verdict: 'match' | 'unknown' | 'error';
  candidates: { label: string; distance: number; image: string }[];
  error?: { code: string; message: string };
}

export function register(program: Command): void {
  const cmd = program
    .command('verify')
    .description('who is this? each face of the query against the gallery (or two photos against each other)')
    .argument('<query...>', 'image(s), folder, represent records (file or -); or exactly two images for a 1:1 check')
    .option('--db <file>', `the gallery (default ${DEFAULT_DB}); giving it forces gallery mode`)
    .option('--threshold <t>', 'largest distance that counts as the same person (default: calibrated per model and metric)', parseNumber('--threshold', { min: 0 }))
    .option('--metric <name>', 'cosine | euclidean | euclidean_l2 (default: the gallery\'s)')
    .option('--top-k <k>', 'candidates to list per face', parseNumber('--top-k', { min: 1, integer: true }), 3)
    .option('--json', 'print JSON (one object per face) instead of a table', false)
    .option('--model <name>', '1:1 mode: recognition model (gallery mode uses the gallery\'s)', parseModel)
    .option('--detector <name>', 'blazeface | ssd | tiny', parseDetector, DEFAULT_PLAN.detector)
    .option('--min-score <s>', 'lowest detector confidence kept', parseNumber('--min-score', { min: 0, max: 1 }), DEFAULT_PLAN.minScore)
    .option('--skip-detect', 'queries are already aligned face crops (ArcFace 112x112 template)', false);
  addWorkersOption(addCommonOptions(cmd));
  cmd.addHelpText('after', `
Examples:
  $ facekit verify query.jpg                        against db/gallery.json
  $ facekit verify query.jpg --threshold 0.4 --top-k 5
  $ facekit verify a.jpg b.jpg                      1:1: same person?
  $ facekit represent q.jpg | facekit verify - --json

Exit code: 0 when every queried face matched someone, 1 when one did not, 2 on error.`);
  cmd.action(action(async (args: string[], opts: VerifyOptions) => {
    if (opts.metric !== undefined && !isMetric(opts.metric)) {
      throw new FacekitError('usage', `--metric must be one of cosine, euclidean, euclidean_l2; got "${opts.metric}"`);
    }
    const inputs = await readInputs(args);
    const pairMode = opts.db === undefined && inputs.length === 2 && inputs.every((i) => i.kind === 'image');
    return pairMode ? verifyPairMode(inputs as ImageInput[], opts) : verifyGallery(inputs, opts);
  }));
}

/** Embeddings of every face in the inputs (images run the pipeline; records must hold embeddings). */
async function embed(inputs: Input[], opts: VerifyOptions, model: RecognizerId, flip: boolean, largestOnly = false): Promise<FaceRecord[]> {
  const plan: PipelinePlan = {
    ...DEFAULT_PLAN, upTo: 'represent', model, detector: opts.detector, minScore: opts.minScore, skipDetect: opts.skipDetect,
    scheme: RECOGNIZERS[model].scheme, flip, maxPixels: opts.maxPixels, largestOnly,
  };
  const out: FaceRecord[] = [];
  const images: ImageInput[] = [];
  for (const input of inputs) {
    if (input.kind === 'records') {
      for (const { record, where } of input.records) {
        if (!record.error && !record.embedding) {
          out.push({ ...record, error: { code: 'missing_key', message: `${where}: record has no "embedding" (run \`facekit represent\` first)` } });
        } else out.push(record);
      }
    } else images.push(input);
  }
  useBackend(opts);
  await runJobs(images.map((i) => ({ image: i.path, plan, bytes: i.bytes })), {
    workers: opts.workers,
    backend: opts.backend,
    onResult: (_job, records) => { out.push(...records); },
  });
  return out;
}

/**
 * Who is each face? The nearest identities in the gallery, and a match when the nearest is within
 * the threshold. Faces that failed earlier stages come back as verdict "error". Used by the CLI
 * and the server alike.
 */
export function identify(gallery: Gallery, faces: FaceRecord[], opts: { metric: Metric; threshold: number; topK: number }): FaceAnswer[] {
  const { metric, threshold, topK } = opts;
  return faces.map((r) => {
    const base = { image: r.image, face: r.face, box: r.box, threshold, metric };
    if (r.error || !r.embedding) {
      return { ...base, identity: null, distance: null, verdict: 'error', candidates: [], error: r.error ?? { code: 'no_face', message: 'no face found' } };
    }
    assertSameModel(gallery.meta, { model: r.embedding.model, dim: r.embedding.dim }, `${r.image} face ${r.face}`);
    const top: Match[] = gallery.search(r.embedding.vector, metric, topK);
    const best = top[0]!;
    const match = best.distance <= threshold;
    return {
      ...base,
      identity: match ? best.label : null,
      distance: round(best.distance),
      verdict: match ? 'match' : 'unknown',
      candidates: top.map((m) => ({ label: m.label, distance: round(m.distance), image: m.image })),
    };
  });
}

async function verifyGallery(inputs: Input[], opts: VerifyOptions): Promise<number> {
  const dbPath = opts.db ?? DEFAULT_DB;
  const gallery = await loadGallery(dbPath);
  if (gallery.size === 0) throw new FacekitError('bad_gallery', 'gallery is empty', dbPath);
  if (opts.model && opts.model !== gallery.meta.model) assertSameModel(gallery.meta, { model: opts.model, dim: RECOGNIZERS[opts.model].dim }, dbPath);
  const metric = (opts.metric as Metric | undefined) ?? gallery.meta.metric;
  const threshold = opts.threshold ?? defaultThreshold(gallery.meta.model, metric);
  const faces = await embed(inputs, opts, gallery.meta.model as RecognizerId, gallery.meta.flip);

  const answers = identify(gallery, faces, { metric, threshold, topK: opts.topK });
  printAnswers(answers, opts.json);
  if (answers.some((a) => a.verdict === 'error')) return 2;
  return answers.every((a) => a.verdict === 'match') ? 0 : 1;
}

async function verifyPairMode(inputs: ImageInput[], opts: VerifyOptions): Promise<number> {
  const model = opts.model ?? (DEFAULT_PLAN.model as RecognizerId);
  const metric = (opts.metric as Metric | undefined) ?? 'euclidean_l2';
  const threshold = opts.threshold ?? defaultThreshold(model, metric);
  // 1:1 compares the largest face of each photo: the others need no embedding.
  const faces = await embed(inputs, opts, model, DEFAULT_PLAN.flip, true);
  const first = (image: string) => faces.find((f) => f.image === image && (f.embedding || f.error));
  const a = first(inputs[0]!.path), b = first(inputs[1]!.path);
  for (const f of [a, b]) {
    if (!f || !f.embedding) {
      throw new FacekitError(f?.error?.code === 'no_face' || !f ? 'no_face' : 'bad_record', f?.error?.message ?? 'no face found', f?.image ?? inputs[0]!.path);
    }
  }
  const crowded = new Set(faces.filter((f) => f.face !== null && f.face > 0 && !f.error).map((f) => f.image));
  for (const image of crowded) warn(`${image}: holds more than one face; comparing the largest`);
  const v = verifyPair(a!.embedding!.vector, b!.embedding!.vector, metric, threshold);
  const result = {
    image1: a!.image, image2: b!.image, verified: v.same, distance: round(v.distance), threshold, metric, model,
    similarity: round(v.similarity),
  };
  if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    const t = plainTable(['image 1', 'image 2', 'distance', 'threshold', 'verdict']);
    t.push([a!.image, b!.image, result.distance.toFixed(4), `${threshold} (${metric})`, v.same ? 'same person' : 'different people']);
    process.stdout.write(t.toString() + '\n');
  }
  return v.same ? 0 : 1;
}

const round = (v: number) => Math.round(v * 1e4) / 1e4;

export function plainTable(head: string[]): Table.Table {
  // Colours only on a terminal: piped output stays plain text.
  const tty = Boolean(process.stdout.isTTY);
  return new Table({ head, style: tty ? {} : { head: [], border: [] } });
}

function printAnswers(answers: FaceAnswer[], json: boolean): void {
  for (const a of answers) if (a.verdict === 'error') warn(`${a.image}: ${a.error?.message}`);
  if (json) {
    for (const a of answers) process.stdout.write(JSON.stringify(a) + '\n');
    return;
  }
  const t = plainTable(['query', 'face', 'identity', 'distance', 'threshold', 'verdict', 'candidates']);
  for (const a of answers) {
    const cands = a.candidates.map((c) => `${c.label} ${c.distance.toFixed(3)}`).join('\n');
    t.push([
      a.image, a.face ?? '-', a.identity ?? (a.verdict === 'error' ? '-' : 'unknown'),
      a.distance === null ? '-' : a.distance.toFixed(4), `${a.threshold} (${a.metric})`,
      a.verdict === 'error' ? `error: ${a.error?.message}` : a.verdict, cands,
    ]);
  }
  process.stdout.write(t.toString() + '\n');
}
