/** `facekit db`: look at and edit a gallery without a text editor. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { FacekitError } from '../../core/errors.js';
import { acquireLock, DEFAULT_GALLERY_PATH, loadGallery, readGalleryHeader, saveGallery, defaultThreshold } from '../../api/recognition.js';
import { VERSION } from '../../core/version.js';
import { action } from '../common.js';
import { plainTable } from '../output.js';

export function register(program: Command): void {
  const db = program
    .command('db')
    .description('see and edit a gallery: info, list, remove, rename')
    .addHelpText('after', `
Examples:
  $ facekit db info
  $ facekit db list --db team.json
  $ facekit db remove bob_dylan
  $ facekit db rename "bob dylan" bob_dylan`);

  db.command('info')
    .description('model, metric, threshold, people and faces of a gallery')
    .option('--db <file>', 'the gallery', DEFAULT_GALLERY_PATH)
    .option('--json', 'print JSON', false)
    .action(action(async (opts: { db: string; json: boolean }) => {
      // The header alone: a gallery of millions of faces answers at once.
      const h = await readGalleryHeader(opts.db);
      const inline = Array.isArray(h.file.entries) ? h.file.entries : undefined;
      const people = h.people ?? (inline ? new Set(inline.map((e) => e.label)).size : (await loadGallery(opts.db)).labels().size);
      const info = {
        db: opts.db, model: h.model, dim: h.dim, metric: h.metric, flip: h.flip, detector: h.detector,
        threshold: safeThreshold(h.model, h.metric), people, faces: h.count, created: h.created,
      };
      if (opts.json) process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      else {
        const t = plainTable([]);
        for (const [k, v] of Object.entries(info)) t.push({ [k]: String(v) });
        process.stdout.write(t.toString() + '\n');
      }
    }));

  db.command('list')
    .description('the people in a gallery and how many faces each has')
    .option('--db <file>', 'the gallery', DEFAULT_GALLERY_PATH)
    .option('--json', 'print JSON (every entry)', false)
    .action(action(async (opts: { db: string; json: boolean }) => {
      const g = await loadGallery(opts.db);
      if (opts.json) {
        process.stdout.write(JSON.stringify(g.entries.map((e) => ({ ...e, missing: !existsSync(e.image) })), null, 1) + '\n');
        return;
      }
      const t = plainTable(['person', 'faces', 'photos']);
      const by = new Map<string, string[]>();
      for (const e of g.entries) by.set(e.label, [...(by.get(e.label) ?? []), e.image]);
      for (const [label, images] of [...by].sort()) t.push([label, images.length, images.map((i) => i.split('/').pop()).join('\n')]);
      process.stdout.write(t.toString() + '\n');
    }));

  db.command('remove')
    .description('remove a person (every face with this label)')
    .argument('<label>', 'the person')
    .option('--db <file>', 'the gallery', DEFAULT_GALLERY_PATH)
    .action(action(async (label: string, opts: { db: string }) => edit(opts.db, (g) => {
      const n = g.removePerson(label);
      if (n === 0) throw new FacekitError('usage', `no one called "${label}" in the gallery (see \`facekit db list\`)`, opts.db);
      process.stderr.write(`facekit: removed ${label} (${n} faces) from ${opts.db}\n`);
    })));

  db.command('rename')
    .description('give a person another name')
    .argument('<old>', 'current label')
    .argument('<new>', 'new label')
    .option('--db <file>', 'the gallery', DEFAULT_GALLERY_PATH)
    .option('--merge', 'NEW already exists and is the same person: merge the two', false)
    .action(action(async (from: string, to: string, opts: { db: string; merge: boolean }) => edit(opts.db, (g) => {
      const n = g.renamePerson(from, to, { merge: opts.merge, where: opts.db });
      process.stderr.write(`facekit: renamed ${from} to ${to} (${n} ${n === 1 ? 'face' : 'faces'})\n`);
    })));
}

function safeThreshold(model: string, metric: Parameters<typeof defaultThreshold>[1]): number | null {
  try {
    return defaultThreshold(model, metric);
  } catch {
    return null;
  }
}

/** Load, change, save atomically, under the gallery lock. */
async function edit(dbPath: string, change: (g: Awaited<ReturnType<typeof loadGallery>>) => void): Promise<number> {
  const release = acquireLock(dbPath);
  try {
    const g = await loadGallery(dbPath);
    change(g);
    await saveGallery(g, dbPath, VERSION);
    return 0;
  } finally {
    release();
  }
}
