/** `facekit analyze`: age, gender, emotion and real-or-spoof of each face. */
import type { Command } from 'commander';
import {
  AGE_GENDER_MODEL_IDS, ANALYSIS_ACTIONS, DEFAULT_AGE_GENDER_MODEL, DEFAULT_EMOTION_MODEL, DEFAULT_SPOOF_MODEL,
  EMOTION_MODEL_IDS, SPOOF_MODEL_IDS, isAgeGenderModelId, isEmotionModelId, isSpoofModelId, parseActions,
  type AgeGenderModelId, type AnalysisAction, type EmotionModelId, type FaceRecord, type SpoofModelId,
} from '../../index.js';
import { FacekitError } from '../../core/errors.js';
import { action } from '../exit.js';
import { addDetectOptions, addEngineOptions, addFormatOptions, choice, detectChoice, parseNumber, wantsTable, type FormatOptions } from '../options.js';
import { plainTable, RecordWriter } from '../output.js';
import { runStage, type RecordSink, type StageOptions } from '../stage.js';

/** The stage options analyze has (no recognition model, no pre-aligned input). */
interface AnalyzeOptions extends Omit<StageOptions, 'model' | 'skipDetect'>, FormatOptions {
  actions: AnalysisAction[];
  ageGenderModel: AgeGenderModelId;
  emotionModel: EmotionModelId;
  spoofModel: SpoofModelId;
  spoofThreshold?: number;
}

function parseActionsOption(value: string): AnalysisAction[] {
  try {
    return parseActions(value);
  } catch (err) {
    if (err instanceof FacekitError) throw new FacekitError('usage', `--actions: ${err.message}`);
    throw err;
  }
}

const pct = (p: number) => `${Math.round(p * 100)}%`;

/** One row per face: what a person wants to read at a glance. */
export function analysisRow(r: FaceRecord): string[] {
  const face = r.face === null ? '-' : String(r.face);
  if (r.error) return [r.image, face, `error: ${r.error.message}`, '', '', ''];
  const a = r.analysis ?? {};
  return [
    r.image, face,
    a.age !== undefined ? a.age.toFixed(0) : '',
    a.gender !== undefined ? `${a.gender} ${pct(a.genderScore ?? 0)}` : '',
    a.dominantEmotion !== undefined ? `${a.dominantEmotion} ${pct(a.emotion?.[a.dominantEmotion] ?? 0)}` : '',
    a.spoof ? `${a.spoof.real ? 'real' : 'SPOOF'} ${a.spoof.score.toFixed(2)}` : '',
  ];
}

/** The records as a table, drawn when the command ends. */
class TableSink implements RecordSink {
  failures = 0;
  private readonly rows: string[][] = [];
  async write(r: FaceRecord): Promise<void> {
    if (r.error) this.failures++;
    this.rows.push(analysisRow(r));
  }
  async close(): Promise<void> {
    if (this.rows.length === 0) return;
    const t = plainTable(['image', 'face', 'age', 'gender', 'emotion', 'spoof']);
    t.push(...this.rows);
    process.stdout.write(t.toString() + '\n');
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('analyze')
    .description('estimate each face\'s age, gender, emotion and whether it is real or a spoof; adds "analysis"')
    .argument('<inputs...>', 'images, folders, - for an image on stdin, or detect / align records (file or -)')
    .option('--actions <list>', `what to estimate, comma-separated: ${ANALYSIS_ACTIONS.join(',')} (only their models load)`, parseActionsOption, [...ANALYSIS_ACTIONS])
    .option('--age-gender-model <id>', `age and gender model: ${AGE_GENDER_MODEL_IDS.join(' | ')}`,
      choice('--age-gender-model', isAgeGenderModelId, AGE_GENDER_MODEL_IDS), DEFAULT_AGE_GENDER_MODEL)
    .option('--emotion-model <id>', `emotion model: ${EMOTION_MODEL_IDS.join(' | ')}`, choice('--emotion-model', isEmotionModelId, EMOTION_MODEL_IDS), DEFAULT_EMOTION_MODEL)
    .option('--spoof-model <id>', `real-or-spoof model: ${SPOOF_MODEL_IDS.join(' | ')}`, choice('--spoof-model', isSpoofModelId, SPOOF_MODEL_IDS), DEFAULT_SPOOF_MODEL)
    .option('--spoof-threshold <t>', "realness score below which a face is a spoof (default: the model's own)", parseNumber('--spoof-threshold', { min: 0, max: 1 }));
  addFormatOptions(cmd, 'NDJSON records');
  addDetectOptions(cmd, { maxFaces: true, detector: 'detector used when given images: blazeface | ssd | tiny' })
    .option('-o, --out <file>', 'write NDJSON records to this file instead of stdout');
  addEngineOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  $ facekit analyze photo.jpg                        a table on a terminal, NDJSON records otherwise
  $ facekit analyze ./photos --actions age,gender --json
  $ facekit detect group.jpg | facekit analyze -
  $ facekit analyze selfie.jpg --actions spoof --spoof-model minifasnet

"analysis" holds age (years), gender ("woman" | "man") and genderScore, emotion (probability of
each of angry, disgust, fear, happy, sad, surprise, neutral) and dominantEmotion, and spoof
{score, real, threshold, model}: score is how likely the face is real, real is score >= threshold.
Exit code 0 when every image gave faces, 2 when one gave none or could not be read (its record
then holds "error"; the others are still processed).`);
  cmd.action(action(async (args: string[], opts: AnalyzeOptions) => {
    const analysis = {
      ...detectChoice(opts), actions: opts.actions, ageGenderModel: opts.ageGenderModel, emotionModel: opts.emotionModel,
      spoofModel: opts.spoofModel, spoofThreshold: opts.spoofThreshold,
    };
    const table = opts.out === undefined && wantsTable(opts);
    return runStage(args, opts, (engine, items, onProgress) => engine.analyzeEach(items, { ...analysis, onProgress }), {
      sink: table ? new TableSink() : new RecordWriter(opts.out),
    });
  }));
}
