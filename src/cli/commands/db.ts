/** `facekit db`: look at and edit a gallery without a text editor (any store: Gallery.open). */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ANN_MIN_FACES, type IndexPolicy } from '../../index.js';
import { FacekitError } from '../../core/errors.js';
import { action } from '../exit.js';
import { addDbOption, addFormatOptions, parseIndexPolicy, thousands, wantsTable, type FormatOptions } from '../options.js';
import { plainTable } from '../output.js';
import { registerTransfer, withGallery } from './db-transfer.js';

export function register(program: Command): void {
  const db = program
    .command('db')
    .description('see, check and edit a gallery: info, list, check, remove, rename, reindex, export, import')
    .addHelpText('after', `
Examples:
  $ facekit db info
  $ facekit db list --db team.json
  $ facekit db remove bob_dylan
  $ facekit db rename "bob dylan" bob_dylan
  $ facekit db check --db big.json
  $ facekit db reindex --index hnsw
  $ facekit db export > faces.ndjson; facekit db import faces.ndjson --db copy.json`);

  addFormatOptions(addDbOption(db.command('info').description('model, metric, threshold, people and faces of a gallery')))
    .action(action(async (opts: { db: string } & FormatOptions) => {
      const table = wantsTable(opts);
      const info = await withGallery(opts.db, (g) => g.info());
      if (!table) process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      else {
        const t = plainTable([]);
        for (const [k, v] of Object.entries(info)) t.push({ [k]: String(v) });
        process.stdout.write(t.toString() + '\n');
      }
    }));

  addFormatOptions(addDbOption(db.command('list').description('the people in a gallery and how many faces each has')), 'JSON: one object per person, with each face\'s photo')
    .action(action(async (opts: { db: string } & FormatOptions) => {
      const table = wantsTable(opts);
      const entries = await withGallery(opts.db, (g) => g.list());
      // one row per person, as the table shows them: name, faces, and each face's photo
      const by = new Map<string, typeof entries>();
      for (const e of entries) by.set(e.label, [...(by.get(e.label) ?? []), e]);
      const people = [...by].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      if (!table) {
        const rows = people.map(([label, es]) => ({
          label, faces: es.length,
          photos: es.map((e) => ({ image: e.image, face: e.face, hash: e.hash, ...(e.box ? { box: e.box } : {}), missing: !existsSync(e.image) })),
        }));
        process.stdout.write(JSON.stringify(rows, null, 1) + '\n');
        return;
      }
      const t = plainTable(['person', 'faces', 'photos']);
      for (const [label, es] of people) t.push([label, es.length, es.map((e) => e.image.split('/').pop()).join('\n')]);
      process.stdout.write(t.toString() + '\n');
    }));

  addDbOption(db.command('remove').description('remove a person (every face with this label)').argument('<label>', 'the person'))
    .action(action(async (label: string, opts: { db: string }) => {
      const n = await withGallery(opts.db, (g) => g.remove(label));
      if (n === 0) throw new FacekitError('usage', `no one called "${label}" in the gallery (see \`facekit db list\`)`, opts.db);
      process.stderr.write(`facekit: removed ${label} (${n} faces) from ${opts.db}\n`);
    }));

  addFormatOptions(addDbOption(db.command('check').description('read every byte of a gallery against its checksums (a load checks a large one only in part)')))
    .action(action(async (opts: { db: string } & FormatOptions) => {
      const report = await withGallery(opts.db, (g) => g.check());
      if (!wantsTable(opts)) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(report.checked.map((l) => `ok  ${l}`).join('\n') + '\n');
    }));

  registerTransfer(db);

  addDbOption(db.command('reindex').description('rebuild the search index (or change how the gallery is searched)'))
    .option('--index <how>', `auto (an HNSW graph from ${thousands(ANN_MIN_FACES)} faces) | exact | hnsw (default: as it is)`, parseIndexPolicy)
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
