/** `facekit represent`: one embedding per face. */
import type { Command } from 'commander';
import { action } from '../exit.js';
import { detectChoice } from '../options.js';
import { addStageOptions, runStage, type StageOptions } from '../stage.js';

interface RepresentOptions extends StageOptions {
  flip: boolean;
  anyScheme: boolean;
  head?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('represent')
    .description('run the recognition model on each normalized face; adds "embedding" {model, dim, vector}')
    .argument('<inputs...>', 'normalize records (file or -), or images / folders (earlier stages run first; DIR/<person>/*.jpg sets "label")')
    .option('--no-flip', 'embed the face only, not also its mirror image (faster, slightly less accurate)')
    .option('--any-scheme', "embed tensors normalized with another scheme than the model's (for experiments)", false)
    .option('--head <dir>', 'a projection head from facekit train: each embedding becomes its 256-d projection (the model is the head\'s)');
  addStageOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  $ facekit represent photo.jpg
  $ facekit detect photo.jpg | facekit align - | facekit normalize - | facekit represent -
  $ facekit represent ./people --out people.ndjson       (label = folder name)
  $ facekit represent lfw/images --skip-detect           (pre-aligned 112x112 crops)
  $ facekit represent scan.png --head sig-head           (a head from facekit train)`);
  cmd.action(action(async (args: string[], opts: RepresentOptions) => {
    const choice = { ...detectChoice(opts), model: opts.model, skipDetect: opts.skipDetect, flip: opts.flip, anyScheme: opts.anyScheme, head: opts.head };
    return runStage(args, opts, (engine, items, onProgress) => engine.representEach(items, { ...choice, onProgress }));
  }));
}
