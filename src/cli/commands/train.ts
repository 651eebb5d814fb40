/** `facekit train`: a head on a recognizer's embeddings (train), its report beside the untrained embedding's. */
import type { Command } from 'commander';
import { HEAD_KINDS, FacekitError, train, type HeadKind, type Metric, type RecognizerId, type Subject, type TrainSummary } from '../../index.js';
import { action } from '../exit.js';
import {
  addDetectOptions, addEngineOptions, addFormatOptions, choice, engineFor, MODEL_CHOICES, parseModel, parseNumber, wantsTable, type CommonOptions, type DetectChoice, type FormatOptions,
} from '../options.js';
import { onInterrupt, plainTable, progressBar, warn } from '../output.js';

interface TrainCliOptions extends CommonOptions, FormatOptions, DetectChoice {
  out?: string;
  head?: HeadKind;
  subject?: Subject;
  model?: RecognizerId;
  flip?: boolean;
  epochs: number;
  checkpointEvery: number;
  resume: boolean;
  seed: number;
  maxPairs: number;
  learningRate: number;
  metric: Metric;
  anchor?: string;
  positive?: string;
  negative?: string;
}

const parseHead = choice<HeadKind>('--head', (s): s is HeadKind => (HEAD_KINDS as readonly string[]).includes(s), HEAD_KINDS);

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a small head (siamese or projection) on a recognizer\'s embeddings of labelled classes, and report it beside the untrained embedding')
    .argument('[dir]', 'a folder of classes: DIR/<class>/*.jpg (people, signers, categories)')
    .option('--out <dir>', 'the head\'s folder (head.json, weights.bin, checkpoint/)')
    .option('--head <kind>', 'siamese (L1 distance + sigmoid, on pairs) | projection (a 256-d embedding trained on the classes); default siamese', parseHead)
    .option('--anchor <dir>', 'the seed\'s layout: anchor/ (with --positive and --negative; the i-th file of each make a triplet)')
    .option('--positive <dir>', 'the same class as the anchor of the same rank')
    .option('--negative <dir>', 'another class than the anchor of the same rank')
    .option('--model <name>', `recognizer whose embeddings the head learns on: ${MODEL_CHOICES} (default: the subject's)`, parseModel)
    .option('--no-flip', 'embed without the mirror image')
    .option('--epochs <n>', 'epochs in all (a resumed run goes on up to this many)', parseNumber('--epochs', { min: 1, max: 100_000, integer: true }), 30)
    .option('--checkpoint-every <n>', 'write a checkpoint every N epochs', parseNumber('--checkpoint-every', { min: 1, integer: true }), 10)
    .option('--resume', 'go on from the checkpoint in --out (same photos and options)', false)
    .option('--seed <n>', 'seeds the split, the pairs and the weights', parseNumber('--seed', { min: 0, integer: true }), 1)
    .option('--max-pairs <n>', 'pairs per split (half of them same-class)', parseNumber('--max-pairs', { min: 4, integer: true }), 2000)
    .option('--learning-rate <r>', 'Adam\'s step size', parseNumber('--learning-rate', { min: 1e-6, max: 1 }), 0.001)
    .option('--metric <name>', 'the untrained embedding\'s distance in the report: cosine | euclidean_l2', choice<Metric>('--metric', (s): s is Metric => s === 'cosine' || s === 'euclidean_l2', ['cosine', 'euclidean_l2']), 'cosine');
  addDetectOptions(cmd);
  addFormatOptions(cmd, 'JSON: the report');
  addEngineOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  $ facekit train ./signatures --subject image --out sig-head           a siamese head, by signer
  $ facekit train ./artists --head projection --out artists-projection  on face embeddings
  $ facekit train --anchor anchor --positive positive --negative negative --subject image --out seed-head
  $ facekit train ./signatures --subject image --out sig-head --epochs 60 --resume   (go on)

The classes are split 70/30 (no class on both sides); the report is measured on the held-out
classes, beside the untrained embedding's distance at its best threshold on the same pairs: a head
trained on few classes does not always beat a strong embedding, and the report shows it. Ctrl-C
writes a checkpoint (exit 130); --resume goes on from it. Exit code 2 on bad input.`);
  cmd.action(action(async (dir: string | undefined, opts: TrainCliOptions) => run(dir, opts)));
}

async function run(dir: string | undefined, opts: TrainCliOptions): Promise<number> {
  const table = wantsTable(opts);
  if (!opts.out) throw new FacekitError('usage', '--out <dir> is needed: the folder the head is written to');
  const triplet = [opts.anchor, opts.positive, opts.negative];
  if (triplet.some((t) => t !== undefined) && (triplet.some((t) => t === undefined) || dir !== undefined)) {
    throw new FacekitError('usage', 'give a folder of classes, or all three of --anchor, --positive and --negative');
  }
  if (dir === undefined && opts.anchor === undefined) throw new FacekitError('usage', 'give a folder of classes (DIR/<class>/*.jpg), or --anchor, --positive and --negative');
  const source = dir ?? { anchor: opts.anchor!, positive: opts.positive!, negative: opts.negative! };
  const engine = engineFor(opts);
  const interrupt = onInterrupt('interrupted: stopping after this batch and writing a checkpoint');
  const bar = progressBar();
  try {
    const summary = await train(source, {
      out: opts.out, head: opts.head, subject: opts.subject, model: opts.model, detector: opts.detector, minScore: opts.minScore, flip: opts.flip,
      epochs: opts.epochs, checkpointEvery: opts.checkpointEvery, resume: opts.resume, seed: opts.seed, maxPairs: opts.maxPairs, learningRate: opts.learningRate,
      baselineMetric: opts.metric === 'euclidean_l2' ? 'euclidean_l2' : 'cosine', engine, signal: interrupt.signal, onProgress: bar.update, onWarn: warn,
      onEpoch: (p) => {
        bar.end();
        warn(`epoch ${p.epoch}/${p.epochs}: loss ${p.loss.toFixed(4)} (${p.seconds.toFixed(1)} s)`);
      },
    });
    bar.end();
    if (table) printReport(summary);
    else process.stdout.write(JSON.stringify(summary) + '\n');
    return 0;
  } finally {
    interrupt.off();
    await engine.close();
  }
}

function printReport(s: TrainSummary): void {
  const f = (v: number) => v.toFixed(4);
  const h = s.head, b = s.baseline;
  process.stdout.write(`${s.kind} head on ${s.recognizer} (${s.subject}) -> ${s.dir}\n`
    + `${s.images} photos; classes ${s.classes.train.length} to train, ${s.classes.test.length} held out; pairs ${s.pairs.train} to train, ${s.pairs.test} held out; `
    + `${s.epochs} epochs in ${s.seconds} s on ${s.backend}\n`);
  const t = plainTable(['held-out pairs', `${s.kind} head`, `untrained ${s.recognizer} (${b.metric})`]);
  t.push(['threshold', `${f(h.threshold)} (${s.kind === 'siamese' ? 'p(same) >=' : 'cosine <='}; from the train split)`, `${f(b.threshold)} (best on these pairs)`]);
  t.push(['accuracy', f(h.accuracy), f(b.accuracy)]);
  t.push(['precision', f(h.precision), f(b.precision)]);
  t.push(['recall', f(h.recall), f(b.recall)]);
  t.push(['F1', f(h.f1), f(b.f1)]);
  t.push(['ROC AUC', f(h.auc), f(b.auc)]);
  t.push(['best accuracy', f(h.bestAccuracy), f(b.accuracy)]);
  process.stdout.write(t.toString() + '\n');
  const better = h.auc > b.auc;
  process.stdout.write(better ? `the head separates the held-out classes better (AUC ${f(h.auc)} vs ${f(b.auc)})\n`
    : `the untrained embedding separates the held-out classes as well or better (AUC ${f(b.auc)} vs ${f(h.auc)}): keep it\n`);
}
