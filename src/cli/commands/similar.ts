/** `facekit similar`: the gallery photos nearest to a query photo (Gallery.similar), nearest first. */
import type { Command } from 'commander';
import { Gallery, FacekitError, type Metric, type SimilarAnswer } from '../../index.js';
import { action } from '../exit.js';
import { readInputs } from '../inputs.js';
import { addEfSearchOption, addEngineOptions, addFormatOptions, defaultDb, engineFor, parseMetric, parseNumber, wantsTable, type CommonOptions, type FormatOptions } from '../options.js';
import { plainTable, warn } from '../output.js';

interface SimilarCliOptions extends CommonOptions, FormatOptions {
  db: string;
  top: number;
  metric?: Metric;
  threshold?: number;
  efSearch?: number;
}

export function register(program: Command): void {
  const cmd = program
    .command('similar')
    .description('the gallery photos most like a query photo, nearest first, with their category (any gallery: images or faces)')
    .argument('<query...>', 'image file(s), or - for an image on stdin')
    .option('--db <file|url>', 'the gallery (default $FACEKIT_DB or db/gallery.json)', defaultDb())
    .option('--top <k>', 'photos to list', parseNumber('--top', { min: 1, max: 1000, integer: true }), 5)
    .option('--metric <name>', 'cosine | euclidean | euclidean_l2 (default: the gallery\'s)', parseMetric)
    .option('--threshold <t>', 'largest distance counted as similar (default: calibrated for the gallery\'s model)', parseNumber('--threshold', { min: 0 }));
  addEfSearchOption(cmd);
  addFormatOptions(cmd, 'JSON: one object per query');
  addEngineOptions(cmd);
  cmd.addHelpText('after', `
Examples:
  $ facekit build-db ./products --subject image --db products.json
  $ facekit similar guitar.jpg --db products.json --top 5
  $ facekit similar guitar.jpg --db products.json --json | jq '.matches[0].label'

Exit code: 0 when the nearest photo is within the threshold, 1 when none is, 2 on error.`);
  cmd.action(action(async (args: string[], opts: SimilarCliOptions) => {
    const json = !wantsTable(opts);
    const inputs = await readInputs(args);
    const engine = engineFor(opts);
    let worst = 0;
    try {
      const gallery = await Gallery.open(opts.db, { engine, ...(opts.efSearch !== undefined ? { efSearch: opts.efSearch } : {}) });
      try {
        for (const input of inputs) {
          if (input.kind !== 'image') throw new FacekitError('usage', 'similar takes images (a record file is not a query here)', input.source);
          try {
            const answer = await gallery.similar(input.bytes ?? input.path, { name: input.path, top: opts.top, metric: opts.metric, threshold: opts.threshold, onWarn: warn });
            print(answer, json);
            worst = Math.max(worst, answer.matches[0]?.similar ? 0 : 1);
          } catch (err) {
            // one bad query of several is said and the others go on
            if (!(err instanceof FacekitError) || inputs.length === 1 || err.code === 'usage') throw err;
            warn(`${err.where ?? input.path}: ${err.message}`);
            worst = 2;
          }
        }
      } finally {
        await gallery.close();
      }
    } finally {
      await engine.close();
    }
    return worst;
  }));
}

function print(a: SimilarAnswer, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(a) + '\n');
    return;
  }
  process.stdout.write(`${a.image}: nearest ${a.matches.length} (${a.model}, ${a.metric}, similar within ${a.threshold})\n`);
  const t = plainTable(['rank', 'label', 'distance', 'similar', 'image']);
  for (const m of a.matches) t.push([m.rank, m.label, m.distance.toFixed(4), m.similar ? 'yes' : 'no', m.image]);
  process.stdout.write(t.toString() + '\n');
}
