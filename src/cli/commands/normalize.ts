/** `facekit normalize`: the model's input tensor of each aligned face, as .npy. */
import type { Command } from 'commander';
import { DEFAULT_NORM_DIR, RECOGNIZERS, SCHEMES, SUBJECT_DEFAULTS, isSchemeId, type SchemeId } from '../../index.js';
import { FacekitError } from '../../core/errors.js';
import { action } from '../exit.js';
import { detectChoice } from '../options.js';
import { warn } from '../output.js';
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
    .option('--out-dir <dir>', 'where the .npy tensors go', DEFAULT_NORM_DIR)
    .option('--scheme <name>', `pixel scaling: ${Object.keys(SCHEMES).join(' | ')} (default: the model's own)`)
    .option('--preview <dir>', 'also write a viewable PNG of each tensor and of each channel (the scheme\'s value range from black to white, written under it)');
  addStageOptions(cmd);
  cmd.addHelpText('after', `
Schemes:
${Object.values(SCHEMES).map((s) => `  ${s.id.padEnd(8)} ${s.description}`).join('\n')}

Examples:
  $ facekit detect photo.jpg | facekit align - | facekit normalize -
  $ facekit normalize photo.jpg --scheme facenet --preview preview/`);
  cmd.action(action(async (args: string[], opts: NormalizeOptions) => {
    const model = RECOGNIZERS[opts.model ?? SUBJECT_DEFAULTS[opts.subject ?? 'face'].model];
    let scheme: SchemeId = model.scheme;
    if (opts.scheme !== undefined) {
      if (!isSchemeId(opts.scheme)) throw new FacekitError('usage', `--scheme must be one of ${Object.keys(SCHEMES).join(', ')}; got "${opts.scheme}"`);
      scheme = opts.scheme;
      if (scheme !== model.scheme) warn(`scheme "${scheme}" is not what ${model.id} was trained with ("${model.scheme}"); its embeddings of these tensors will be off`);
    }
    const choice = {
      ...detectChoice(opts), upTo: 'normalize' as const, model: opts.model, skipDetect: opts.skipDetect, scheme, normDir: opts.outDir, previewDir: opts.preview,
    };
    return runStage(args, opts, (engine, items, onProgress) => engine.extractEach(items, { ...choice, onProgress }));
  }));
}
