/**
 * What align, normalize and represent share: given images they run the stages before them
 * themselves (on every core); given records they carry each record one stage further.
 */
import type { Command } from 'commander';
import { DEFAULT_RECOGNIZER } from '../api/models.js';
import { DEFAULT_PLAN, type PipelinePlan, type StageName, type ImageJob } from '../api/pipeline.js';
import { errorRecord, type FaceRecord } from '../core/records.js';
import {
  addCommonOptions, addWorkersOption, labelFor, MODEL_CHOICES, parseDetector, parseModel, parseNumber, Progress, readInputs,
  RecordWriter, engineFor, warn, type BatchOptions, type ImageInput, type Input,
} from './common.js';

export interface StageOptions extends BatchOptions {
  detector: PipelinePlan['detector'];
  minScore: number;
  maxFaces: number;
  model: PipelinePlan['model'];
  skipDetect: boolean;
  out?: string;
}

/** Options for the stages before this one, used when the input is images. */
export function addStageOptions(cmd: Command): Command {
  cmd
    .option('--model <name>', `recognition model whose template / input this prepares: ${MODEL_CHOICES}`, parseModel, DEFAULT_RECOGNIZER)
    .option('--detector <name>', 'detector used when given images: blazeface | ssd | tiny', parseDetector, DEFAULT_PLAN.detector)
    .option('--min-score <s>', 'lowest detector confidence kept', parseNumber('--min-score', { min: 0, max: 1 }), DEFAULT_PLAN.minScore)
    .option('--max-faces <n>', 'most faces per image', parseNumber('--max-faces', { min: 1, integer: true }), DEFAULT_PLAN.maxFaces)
    .option('--skip-detect', 'inputs are already aligned face crops (ArcFace 112x112 template, as the LFW crops): no detector', false)
    .option('-o, --out <file>', 'write records to this file instead of stdout');
  return addWorkersOption(addCommonOptions(cmd));
}

/** Where a stage's records go: NDJSON (RecordWriter), or a table for people (analyze). */
export interface RecordSink {
  write(r: FaceRecord): Promise<void>;
  close(): Promise<void>;
  /** records written that hold an error */
  readonly failures: number;
}

/**
 * Run `stage` (and the stages before it, for image inputs) over all inputs, writing records as
 * NDJSON (or to `sink`). Returns the exit code: 0, or 2 when any input failed.
 */
export async function runStage(args: string[], opts: StageOptions, stage: StageName, plan: PipelinePlan,
  onRecord?: (r: FaceRecord) => FaceRecord, sink?: RecordSink): Promise<number> {
  const inputs: Input[] = await readInputs(args);
  const engine = engineFor(opts);
  const writer: RecordSink = sink ?? new RecordWriter(opts.out);
  let failures = 0;
  const emit = async (r: FaceRecord): Promise<void> => {
    const out = onRecord ? onRecord(r) : r;
    if (out.error) warn(`${out.image}${out.face !== null && out.face !== undefined ? ` face ${out.face}` : ''}: ${out.error.message}`);
    await writer.write(out);
  };

  const images = inputs.filter((i): i is ImageInput => i.kind === 'image');
  const progress = new Progress(images.length);
  const labelOf = new Map(images.map((i) => [i.path, labelFor(i)]));
  const withLabel = (r: FaceRecord): FaceRecord => {
    const label = labelOf.get(r.image);
    return label !== undefined && r.label === undefined ? { ...r, label } : r;
  };

  // Records are carried on as they arrive: the records of one image come together (its pixels
  // are decoded once for all its faces), and each image's group goes out as soon as it is done.
  for (const input of inputs) {
    if (input.kind !== 'records') continue;
    let group: FaceRecord[] = [];
    const flush = async () => {
      const g = group;
      group = [];
      if (g.length) for (const r of await engine.runRecords(g, plan, stage)) await emit(r);
    };
    let seen = 0;
    for await (const item of input.lines) {
      seen++;
      if (!item.ok) {
        await flush();
        warn(item.error.line());
        await writer.write(errorRecord(input.source, { code: item.error.code, message: `line ${item.line}: ${item.error.message}` }));
        continue;
      }
      if (group.length > 0 && group[0]!.image !== item.record.image) await flush();
      group.push(item.record);
    }
    await flush();
    if (seen === 0) {
      warn(`${input.source}: holds no records`);
      failures++;
    }
  }
  const jobs: ImageJob[] = images.map((i) => ({ image: i.path, plan, bytes: i.bytes }));
  await engine.runImages(jobs, {
    onResult: async (_job, records) => {
      progress.tick();
      for (const r of records) await emit(withLabel(r));
    },
    onCrash: (job, stack) => { if (opts.debug) process.stderr.write(`${job.image}: ${stack}\n`); },
  });
  progress.end();
  await writer.close();
  return writer.failures + failures > 0 ? 2 : 0;
}

