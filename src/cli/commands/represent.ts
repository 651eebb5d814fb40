/** `facekit represent`: one embedding per face. */
import type { Command } from 'commander';
import { buildPlan } from '../../api/pipeline.js';
import { action } from '../common.js';
import { addStageOptions, runStage, type StageOptions } from '../stage.js';

interface RepresentOptions extends StageOptions {
  flip: boolean;
  anyScheme: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('represent')
    .description('run the recognition model on each normalized face; adds "embedding" {model, dim, vector}')
    .argument('<inputs...>', 'normalize records (file or -), or images / folders (earlier stages run first; DIR/<person>/*.jpg sets "label")')
    .option('--no-flip', 'embed the face only, not also its mirror image (faster, slightly less accurate)')
    .option('--any-scheme', "embed tensors normalized with another scheme than the model's (for experiments)", false);
  addStageOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  $ facekit represent photo.jpg
  $ facekit detect photo.jpg | facekit align - | facekit normalize - | facekit represent -
  $ facekit represent ./people --out people.ndjson       (label = folder name)
  $ facekit represent lfw/images --skip-detect           (pre-aligned 112x112 crops)`);
  cmd.action(action(async (args: string[], opts: RepresentOptions) => {
    const plan = buildPlan({
      upTo: 'represent', detector: opts.detector, minScore: opts.minScore, maxFaces: opts.maxFaces,
      skipDetect: opts.skipDetect, model: opts.model, flip: opts.flip,
      anyScheme: opts.anyScheme, maxPixels: opts.maxPixels,
    });
    return runStage(args, opts, 'represent', plan);
  }));
}
