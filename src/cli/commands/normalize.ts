/** `facekit normalize`: the model's input tensor of each aligned face, as .npy. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { RECOGNIZERS, type SchemeId } from '../../api/models.js';
import { buildPlan, artifactStem, prepareDirs, isSchemeId, previewTensor, SCHEMES } from '../../api/pipeline.js';
import { FacekitError } from '../../core/errors.js';
import { encodePng } from '../../core/image.js';
import { writeFileAtomic } from '../../core/files.js';
import { decodeNpy } from '../../core/npy.js';
import { readFile } from 'node:fs/promises';
import type { FaceRecord } from '../../core/records.js';
import { action, warn } from '../common.js';
import { addStageOptions, runStage, type StageOptions } from '../stage.js';

interface NormalizeOptions extends StageOptions {
  outDir: string;
  scheme?: string;
  preview?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('normalize')
    .description('turn aligned crops into the model\'s input tensor (.npy, float32, numpy-readable); adds "normalized"')
    .argument('<inputs...>', 'align records (file or - for stdin), or images / folders (detect and align run first)')
    .option('--out-dir <dir>', 'where the .npy tensors go', 'facekit-out/normalized')
    .option('--scheme <name>', `pixel scaling: ${Object.keys(SCHEMES).join(' | ')} (default: the model's own)`)
    .option('--preview <dir>', 'also write a viewable PNG of each tensor and of each channel');
  addStageOptions(cmd);
  cmd.addHelpText('after', `
Schemes:
${Object.values(SCHEMES).map((s) => `  ${s.id.padEnd(8)} ${s.description}`).join('\n')}

Examples:
  $ facekit detect photo.jpg | facekit align - | facekit normalize -
  $ facekit normalize photo.jpg --scheme facenet --preview preview/`);
  cmd.action(action(async (args: string[], opts: NormalizeOptions) => {
    const model = RECOGNIZERS[opts.model];
    let scheme: SchemeId = model.scheme;
    if (opts.scheme !== undefined) {
      if (!isSchemeId(opts.scheme)) throw new FacekitError('usage', `--scheme must be one of ${Object.keys(SCHEMES).join(', ')}; got "${opts.scheme}"`);
      scheme = opts.scheme;
      if (scheme !== model.scheme) warn(`scheme "${scheme}" is not what ${model.id} was trained with ("${model.scheme}"); its embeddings of these tensors will be off`);
    }
    const plan = buildPlan({
      upTo: 'normalize', detector: opts.detector, minScore: opts.minScore, maxFaces: opts.maxFaces,
      skipDetect: opts.skipDetect, model: opts.model, scheme, maxPixels: opts.maxPixels, normDir: opts.outDir,
    });
    await prepareDirs(plan);
    if (opts.preview) await mkdir(opts.preview, { recursive: true });
    const previews: Promise<void>[] = [];
    const code = await runStage(args, opts, 'normalize', plan, (r: FaceRecord) => {
      if (opts.preview && r.normalized && !r.error) previews.push(writePreview(r, opts.preview));
      return r;
    });
    await Promise.all(previews);
    return code;
  }));
}

/** What the model "sees": the tensor stretched back to 0..255, plus one grey image per channel. */
async function writePreview(r: FaceRecord, dir: string): Promise<void> {
  const n = r.normalized!;
  const arr = decodeNpy(await readFile(n.path), n.path);
  const [, h, w] = arr.shape as [number, number, number, number];
  const { rgb, channels } = previewTensor(arr.data, w, h);
  const stem = artifactStem(r.image, r.face ?? 0);
  await writeFileAtomic(join(dir, `${stem}.png`), await encodePng(rgb));
  const names = ['R', 'G', 'B'];
  for (let c = 0; c < 3; c++) await writeFileAtomic(join(dir, `${stem}-${names[c]}.png`), await encodePng(channels[c]!));
}
