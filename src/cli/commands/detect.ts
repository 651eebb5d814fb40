/** `facekit detect`: faces, boxes and landmarks as NDJSON. */
import { basename, dirname, extname, join, relative } from 'node:path';
import type { Command } from 'commander';
import { ensureDir } from '../../core/files.js';
import { FacekitError } from '../../core/errors.js';
import { readInputs, type ImageInput } from '../inputs.js';
import { action } from '../exit.js';
import { addDetectOptions, addEngineOptions, detectChoice, parseNumber, type CommonOptions, type DetectChoice } from '../options.js';
import { runStage } from '../stage.js';

interface DetectOptions extends CommonOptions, DetectChoice {
  mesh: boolean;
  annotate?: string;
  crops?: string;
  margin: number;
  out?: string;
}

const IMAGE_OUT = /\.(jpe?g|png|webp)$/i;

export function register(program: Command): void {
  const cmd = program
    .command('detect')
    .description('find faces: box, score and landmarks per face, as NDJSON (one record per face, largest first)')
    .argument('<inputs...>', 'images, folders, or - for an image or data: URL on stdin');
  addDetectOptions(cmd, { maxFaces: true })
    .option('--mesh', "add the detector's full point set (468 for blazeface, 68 for ssd/tiny)", false)
    .option('--annotate <out>', 'draw boxes, landmarks and scores: an image file for one input, else a folder')
    .option('--crops <dir>', 'write each face crop here (the record gets "crop")')
    .option('--margin <m>', 'crop margin around the box, as a share of its size', parseNumber('--margin', { min: 0, max: 2 }), 0.2)
    .option('-o, --out <file>', 'write records to this file instead of stdout');
  addEngineOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  $ facekit detect photo.jpg
  $ facekit detect group.jpg --annotate group-faces.jpg --crops faces/
  $ facekit detect ./photos --detector ssd --out faces.ndjson
  $ base64 -w0 photo.jpg | facekit detect -

Exit code 0 when every image gave a face, 2 when one did not or could not be read
(its record then holds "error"; the others are still processed).`);
  cmd.action(action(async (args: string[], opts: DetectOptions) => {
    const inputs = await readInputs(args);
    if (inputs.some((i) => i.kind === 'records')) throw new FacekitError('usage', 'detect takes images, not records (records already hold detections)');
    const images = inputs as ImageInput[];
    // One image: --annotate names the output image. Several: it names a folder.
    const annotateIsFile = opts.annotate !== undefined && images.length === 1 && IMAGE_OUT.test(opts.annotate);
    if (opts.annotate) await ensureDir(annotateIsFile ? dirname(opts.annotate) : opts.annotate);
    const annotatePath = (img: ImageInput): string | undefined => {
      if (!opts.annotate) return undefined;
      if (annotateIsFile) return opts.annotate;
      const rel = img.root ? relative(img.root, img.path) : basename(img.path);
      const flat = rel.replace(/[\\/]/g, '__');
      return join(opts.annotate, IMAGE_OUT.test(flat) ? flat : `${basename(flat, extname(flat))}.jpg`);
    };
    const choice = { ...detectChoice(opts), mesh: opts.mesh, cropsDir: opts.crops, cropMargin: opts.margin };
    return runStage(args, opts, (engine, items, onProgress) => engine.detectEach(items, { ...choice, onProgress }), {
      inputs, extra: (img) => { const a = annotatePath(img); return a ? { annotate: a } : {}; },
    });
  }));
}
