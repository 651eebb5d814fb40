/** `facekit db`: look at and edit a gallery without a text editor (any store: Gallery.open). */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ANN_MIN_FACES, type IndexPolicy } from '../../index.js';
import { FacekitError } from '../../core/errors.js';
import { action } from '../exit.js';
import { addDbOption, parseIndexPolicy } from '../options.js';
import { plainTable } from '../output.js';
import { registerTransfer, withGallery } from './db-transfer.js';

export function register(program: Command): void {
  const db = program
    .command('db')
    .description('see and edit a gallery: info, list, remove, rename, reindex, export, import')
    .addHelpText('after', `
Examples:
  $ facekit db info
  $ facekit db list --db team.json
  $ facekit db remove bob_dylan
  $ facekit db rename "bob dylan" bob_dylan
  $ facekit db reindex --index hnsw
  $ facekit db export > faces.ndjson; facekit db import faces.ndjson --db copy.json`);

  addDbOption(db.command('info').description('model, metric, threshold, people and faces of a gallery'))
    .option('--json', 'print JSON', false)
    .action(action(async (opts: { db: string; json: boolean }) => {
      const info = await withGallery(opts.db, (g) => g.info());
      if (opts.json) process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      else {
        const t = plainTable([]);
        for (const [k, v] of Object.entries(info)) t.push({ [k]: String(v) });
        process.stdout.write(t.toString() + '\n');
      }
    }));

  addDbOption(db.command('list').description('the people in a gallery and how many faces each has'))
    .option('--json', 'print JSON (every entry)', false)
    .action(action(async (opts: { db: string; json: boolean }) => {
      const entries = await withGallery(opts.db, (g) => g.list());
      if (opts.json) {
        process.stdout.write(JSON.stringify(entries.map((e) => ({ ...e, missing: !existsSync(e.image) })), null, 1) + '\n');
        return;
      }
      const t = plainTable(['person', 'faces', 'photos']);
      const by = new Map<string, string[]>();
      for (const e of entries) by.set(e.label, [...(by.get(e.label) ?? []), e.image]);
      for (const [label, images] of [...by].sort()) t.push([label, images.length, images.map((i) => i.split('/').pop()).join('\n')]);
      process.stdout.write(t.toString() + '\n');
    }));

  addDbOption(db.command('remove').description('remove a person (every face with this label)').argument('<label>', 'the person'))
    .action(action(async (label: string, opts: { db: string }) => {
      const n = await withGallery(opts.db, (g) => g.remove(label));
      if (n === 0) throw new FacekitError('usage', `no one called "${label}" in the gallery (see \`facekit db list\`)`, opts.db);
      process.stderr.write(`facekit: removed ${label} (${n} faces) from ${opts.db}\n`);
    }));

  registerTransfer(db);

  addDbOption(db.command('reindex').description('rebuild the search index (or change how the gallery is searched)'))
    .option('--index <how>', `auto (an HNSW graph from ${ANN_MIN_FACES.toLocaleString('en')} faces) | exact | hnsw (default: as it is)`, parseIndexPolicy)
    .action(action(async (opts: { db: string; index?: IndexPolicy }) => withGallery(opts.db, async (g) => {
      const done = await g.reindex(opts.index);
      process.stderr.write(`facekit: ${g.location}: ${done}\n`);
    })));

  addDbOption(db.command('rename').description('give a person another name').argument('<old>', 'current label').argument('<new>', 'new label'))
    .option('--merge', 'NEW already exists and is the same person: merge the two', false)
    .action(action(async (from: string, to: string, opts: { db: string; merge: boolean }) => {
      const n = await withGallery(opts.db, (g) => g.rename(from, to, { merge: opts.merge }));
      process.stderr.write(`facekit: renamed ${from} to ${to} (${n} ${n === 1 ? 'face' : 'faces'})\n`);
    }));
}
