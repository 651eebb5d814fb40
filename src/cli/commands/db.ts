/** `facekit db`: look at and edit a gallery without a text editor. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { FacekitError } from '../../core/errors.js';
import { acquireLock, ANN_MIN_FACES, isDbUrl, loadAnyGallery, loadGallery, openDbGallery, type PgGallery, readGalleryHeader, saveGallery, defaultThreshold, type GalleryFile, type IndexPolicy } from '../../api/recognition.js';
import { VERSION } from '../../core/version.js';
import { action, defaultDb, parseIndexPolicy } from '../common.js';
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
    .option('--db <file|url>', 'the gallery (a file, or postgres://…?gallery=NAME; default $FACEKIT_DB or db/gallery.json)', defaultDb())
    .option('--json', 'print JSON', false)
    .action(action(async (opts: { db: string; json: boolean }) => {
      const info = isDbUrl(opts.db) ? await dbInfo(opts.db) : await fileInfo(opts.db);
      if (opts.json) process.stdout.write(JSON.stringify(info, null, 2) + '\n');
      else {
        const t = plainTable([]);
        for (const [k, v] of Object.entries(info)) t.push({ [k]: String(v) });
        process.stdout.write(t.toString() + '\n');
      }
    }));

  db.command('list')
    .description('the people in a gallery and how many faces each has')
    .option('--db <file|url>', 'the gallery (a file, or postgres://…?gallery=NAME; default $FACEKIT_DB or db/gallery.json)', defaultDb())
    .option('--json', 'print JSON (every entry)', false)
    .action(action(async (opts: { db: string; json: boolean }) => {
      const g = await loadAnyGallery(opts.db);
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
    .option('--db <file|url>', 'the gallery (a file, or postgres://…?gallery=NAME; default $FACEKIT_DB or db/gallery.json)', defaultDb())
    .action(action(async (label: string, opts: { db: string }) => {
      const removed = (n: number) => {
        if (n === 0) throw new FacekitError('usage', `no one called "${label}" in the gallery (see \`facekit db list\`)`, opts.db);
        process.stderr.write(`facekit: removed ${label} (${n} faces) from ${opts.db}\n`);
      };
      return isDbUrl(opts.db) ? editDb(opts.db, async (g) => removed(await g.removePerson(label))) : edit(opts.db, (g) => removed(g.removePerson(label)));
    }));

  registerTransfer(db);

  db.command('reindex')
    .description('rebuild the search index (or change how the gallery is searched)')
    .option('--db <file|url>', 'the gallery (a file, or postgres://…?gallery=NAME; default $FACEKIT_DB or db/gallery.json)', defaultDb())
    .option('--index <how>', `auto (an HNSW graph from ${ANN_MIN_FACES.toLocaleString('en')} faces) | exact | hnsw (default: as it is)`, parseIndexPolicy)
    .action(action(async (opts: { db: string; index?: IndexPolicy }) => isDbUrl(opts.db) ? editDb(opts.db, async (g) => {
      await g.ensureIndex();
      process.stderr.write(`facekit: ${g.where}: PostgreSQL keeps its HNSW index up to date itself; it is there\n`);
    }) : edit(opts.db, (g) => {
      if (opts.index) g.indexPolicy = opts.index;
      g.ann = undefined; // built anew from the vectors when saved
      process.stderr.write(`facekit: ${opts.db}: ${g.wantsGraph() ? `building an HNSW graph of ${g.size} faces` : 'exact search, no graph'} (index: ${g.indexPolicy})\n`);
    }, { graph: false })));

  db.command('rename')
    .description('give a person another name')
    .argument('<old>', 'current label')
    .argument('<new>', 'new label')
    .option('--db <file|url>', 'the gallery (a file, or postgres://…?gallery=NAME; default $FACEKIT_DB or db/gallery.json)', defaultDb())
    .option('--merge', 'NEW already exists and is the same person: merge the two', false)
    .action(action(async (from: string, to: string, opts: { db: string; merge: boolean }) => {
      const renamed = (n: number): void => void process.stderr.write(`facekit: renamed ${from} to ${to} (${n} ${n === 1 ? 'face' : 'faces'})\n`);
      const how = { merge: opts.merge, where: opts.db };
      return isDbUrl(opts.db) ? editDb(opts.db, async (g) => renamed(await g.renamePerson(from, to, how))) : edit(opts.db, (g) => renamed(g.renamePerson(from, to, how)));
    }));
}

/** The header alone: a gallery of millions of faces answers at once. */
async function fileInfo(dbPath: string): Promise<Record<string, unknown>> {
  const h = await readGalleryHeader(dbPath);
  const inline = Array.isArray(h.file.entries) ? h.file.entries : undefined;
  const people = h.people ?? (inline ? new Set(inline.map((e) => e.label)).size : (await loadGallery(dbPath)).labels().size);
  return {
    db: dbPath, model: h.model, dim: h.dim, metric: h.metric, flip: h.flip, detector: h.detector,
    threshold: safeThreshold(h.model, h.metric), people, faces: h.count, created: h.created,
    search: searchOf(h.file.index, h.count),
  };
}

async function dbInfo(spec: string): Promise<Record<string, unknown>> {
  const g = await openDbGallery(spec);
  try {
    const m = g.meta;
    return {
      db: g.where, model: m.model, dim: m.dim, metric: m.metric, flip: m.flip, detector: m.detector,
      threshold: safeThreshold(m.model, m.metric), people: (await g.labels()).size, faces: await g.count(), created: g.created,
      search: 'PostgreSQL + pgvector (HNSW index)',
    };
  } finally {
    await g.client.close();
  }
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
    return defaultThreshold(model, metric, 'gallery');
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

/** A change to a database gallery: one transaction, no lock file. */
async function editDb(spec: string, change: (g: PgGallery) => Promise<void>): Promise<number> {
  const g = await openDbGallery(spec);
  try {
    await change(g);
    return 0;
  } finally {
    await g.client.close();
  }
}
