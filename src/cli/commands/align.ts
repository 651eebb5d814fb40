/** `facekit align`: aligned face crops (PNG), eyes level, on the model's template. */
import type { Command } from 'commander';
import { DEFAULT_ALIGN_DIR } from '../../index.js';
import { action } from '../exit.js';
import { detectChoice } from '../options.js';
import { addStageOptions, runStage, type StageOptions } from '../stage.js';

interface AlignOptions extends StageOptions {
  outDir: string;
  rotate: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('align')
    .description("rotate each face so the eyes are level and crop it to the recognition model's template; adds \"aligned\"")
    .argument('<inputs...>', 'detect records (file or - for stdin), or images / folders (detect runs first)')
    .option('--out-dir <dir>', 'where the aligned crops (PNG) go', DEFAULT_ALIGN_DIR)
    .option('--no-rotate', 'crop the detector box only, without rotation (to compare)');
  addStageOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  $ facekit detect photo.jpg | facekit align -
  $ facekit align photo.jpg --out-dir crops/            (runs detect itself)
  $ facekit align photo.jpg --no-rotate --out-dir unrotated/`);
  cmd.action(action(async (args: string[], opts: AlignOptions) => {
    const choice = { ...detectChoice(opts), upTo: 'align' as const, model: opts.model, skipDetect: opts.skipDetect, rotate: opts.rotate, alignDir: opts.outDir };
    return runStage(args, opts, (engine, items, onProgress) => engine.extractEach(items, { ...choice, onProgress }));
  }));
}
