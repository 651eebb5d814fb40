/** `facekit db`: look at and edit a gallery without a text editor. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { FacekitError } from '../../core/errors.js';
import { acquireLock, ANN_MIN_FACES, DEFAULT_GALLERY_PATH, loadGallery, readGalleryHeader, saveGallery, defaultThreshold, type GalleryFile, type IndexPolicy } from '../../api/recognition.js';
import { VERSION } from '../../core/version.js';
import { action, parseIndexPolicy } from '../common.js';
import { plainTable } from '../output.js';
import { registerTransfer } from './db-transfer.js';

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
        search: searchOf(h.file.index, h.count),
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

  registerTransfer(db);

  db.command('reindex')
    .description('rebuild the search index (or change how the gallery is searched)')
    .option('--db <file>', 'the gallery', DEFAULT_GALLERY_PATH)
    .option('--index <how>', `auto (an HNSW graph from ${ANN_MIN_FACES.toLocaleString('en')} faces) | exact | hnsw (default: as it is)`, parseIndexPolicy)
    .action(action(async (opts: { db: string; index?: IndexPolicy }) => edit(opts.db, (g) => {
      if (opts.index) g.indexPolicy = opts.index;
      g.ann = undefined; // built anew from the vectors when saved
      process.stderr.write(`facekit: ${opts.db}: ${g.wantsGraph() ? `building an HNSW graph of ${g.size} faces` : 'exact search, no graph'} (index: ${g.indexPolicy})\n`);
    }, { graph: false })));

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

/** How a gallery is searched, from its header, in words. */
function searchOf(index: GalleryFile['index'], faces: number): string {
  const policy = index?.policy ?? 'auto';
  const g = index?.graph;
  if (g) return `HNSW graph of ${g.count} faces, ${g.bytes < 2 ** 20 ? `${(g.bytes / 1024).toFixed(0)} KiB` : `${(g.bytes / 2 ** 20).toFixed(1)} MiB`} (index: ${policy})`;
  const wants = policy === 'hnsw' || (policy === 'auto' && faces >= ANN_MIN_FACES);
  return wants ? `exact scan: the graph is missing, \`facekit db reindex\` builds it (index: ${policy})` : `exact scan (index: ${policy})`;
}

function safeThreshold(model: string, metric: Parameters<typeof defaultThreshold>[1]): number | null {
  try {
    return defaultThreshold(model, metric);
  } catch {
    return null;
  }
}

/** Load, change, save atomically, under the gallery lock. */
async function edit(dbPath: string, change: (g: Awaited<ReturnType<typeof loadGallery>>) => void, opts: { graph?: boolean } = {}): Promise<number> {
  const release = acquireLock(dbPath);
  try {
    const g = await loadGallery(dbPath, opts);
    change(g);
    await saveGallery(g, dbPath, VERSION);
    return 0;
  } finally {
    release();
  }
}
