/** `facekit align`: aligned face crops (PNG), eyes level, on the model's template. */
import type { Command } from 'commander';
import { buildPlan, prepareDirs } from '../../api/pipeline.js';
import { action } from '../common.js';
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
    .option('--out-dir <dir>', 'where the aligned crops (PNG) go', 'facekit-out/aligned')
    .option('--no-rotate', 'crop the detector box only, without rotation (to compare)');
  addStageOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  $ facekit detect photo.jpg | facekit align -
  $ facekit align photo.jpg --out-dir crops/            (runs detect itself)
  $ facekit align photo.jpg --no-rotate --out-dir unrotated/`);
  cmd.action(action(async (args: string[], opts: AlignOptions) => {
    const plan = buildPlan({
      upTo: 'align', detector: opts.detector, minScore: opts.minScore, maxFaces: opts.maxFaces,
      skipDetect: opts.skipDetect, model: opts.model, rotate: opts.rotate, maxPixels: opts.maxPixels,
      alignDir: opts.outDir, });
    await prepareDirs(plan);
    return runStage(args, opts, 'align', plan);
  }));
}
