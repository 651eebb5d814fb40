/**
 * What detect, align, normalize, represent and analyze share: inputs (images, folders, records,
 * stdin) become one verb's stream, its records go out as NDJSON (or a table), errors are said on
 * stderr, and the exit code says whether every input went through.
 */
import type { Command } from 'commander';
import { DEFAULT_RECOGNIZER, type FaceRecord, type RecognizerId, type StreamItem } from '../index.js';
import { InputStream, readInputs, type Input } from './inputs.js';
import { addDetectOptions, addEngineOptions, addModelOption, engineFor, MODEL_CHOICES, type CommonOptions, type DetectChoice } from './options.js';
import { progressBar, RecordWriter, warn } from './output.js';
import type { Facekit } from '../index.js';

export interface StageOptions extends CommonOptions, DetectChoice {
  /** undefined with --subject image: the subject's own */
  model?: RecognizerId;
  skipDetect: boolean;
  out?: string;
}

/** Options for the stages before this one, used when the input is images. */
export function addStageOptions(cmd: Command): Command {
  addModelOption(cmd, `recognition model whose template / input this prepares: ${MODEL_CHOICES}`, DEFAULT_RECOGNIZER);
  addDetectOptions(cmd, { maxFaces: true, detector: 'detector used when given images: blazeface | ssd | tiny' });
  cmd
    .option('--skip-detect', 'inputs are already aligned face crops (ArcFace 112x112 template, as the LFW crops): no detector', false)
    .option('-o, --out <file>', 'write records to this file instead of stdout');
  return addEngineOptions(cmd);
}

/** Where a stage's records go: NDJSON (RecordWriter), or a table for people (analyze). */
export interface RecordSink {
  write(r: FaceRecord): Promise<void>;
  close(): Promise<void>;
  /** records written that hold an error */
  readonly failures: number;
}

/**
 * Run a verb over the command's inputs and write what it yields. Returns the exit code: 0, or 2
 * when an input failed (an error record) or held no records.
 */
export async function runStage(
  args: string[], opts: CommonOptions & { out?: string },
  verb: (engine: Facekit, items: StreamItem[] | AsyncIterable<StreamItem>, onProgress: (p: { done: number; total?: number }) => void) => AsyncIterable<FaceRecord>,
  o: { sink?: RecordSink; extra?: ConstructorParameters<typeof InputStream>[1]; inputs?: Input[] } = {},
): Promise<number> {
  const inputs = o.inputs ?? await readInputs(args);
  const engine = engineFor(opts);
  const writer: RecordSink = o.sink ?? new RecordWriter(opts.out);
  const stream = new InputStream(inputs, o.extra);
  const images = inputs.filter((i) => i.kind === 'image').length;
  const bar = progressBar();
  // the number of images is known here, also when they come mixed with records
  const onProgress = (p: { done: number }) => bar.update({ done: p.done, total: images });
  try {
    for await (const r of verb(engine, stream.items(), onProgress)) {
      if (r.error && !stream.told.has(r.error)) warn(`${r.image}${r.face !== null && r.face !== undefined ? ` face ${r.face}` : ''}: ${r.error.message}`);
      await writer.write(r);
    }
  } finally {
    bar.end();
    await engine.close();
  }
  await writer.close();
  return writer.failures + stream.empty > 0 ? 2 : 0;
}
