/**
 * build-db into PostgreSQL: faces are committed in batches as they come (one transaction each),
 * so a crash or Ctrl-C loses at most the batch under way, the next run skips what is in, and
 * several build-db processes (on several machines) can add to one gallery at once.
 */
import { existsSync } from 'node:fs';
import { DEFAULT_METRIC, RECOGNIZERS, type Metric } from '../../api/models.js';
import { assertSameModel, defaultMetaFor, openDbGallery, openOrCreateDbGallery, type GalleryEntry, type PgGallery } from '../../api/recognition.js';
import { FacekitError } from '../../core/errors.js';
import { onInterrupt, warn } from '../common.js';
import type { BuildOptions } from './build-db.js';
import { collectFaces, galleryModel, type Summary } from './build-db-sources.js';

/** Faces per transaction: small enough that an interruption loses little, large enough to be fast. */
const BATCH = 500;

export async function buildInDatabase(input: string, fromRecords: boolean, opts: BuildOptions, summary: Summary,
  fail: (image: string, code: string, message: string) => void): Promise<{ interrupted: boolean; gallery: PgGallery }> {
  // An existing gallery fixes the model; a new one takes the options'.
  const existing = await openDbGallery(opts.db).catch((err: unknown) => {
    if (err instanceof FacekitError && err.code === 'not_found') return undefined;
    throw err;
  });
  const { model, records } = await galleryModel(input, fromRecords, opts, existing?.meta.model);
  const metric: Metric = (opts.metric as Metric | undefined) ?? existing?.meta.metric ?? DEFAULT_METRIC;
  if (existing) {
    await existing.client.close();
    assertSameModel(existing.meta, { model, dim: RECOGNIZERS[model].dim }, opts.db);
    if (existing.meta.flip !== opts.flip) {
      throw new FacekitError('model_mismatch', `gallery was built ${existing.meta.flip ? 'with' : 'without'} --flip; build it the same way`, opts.db);
    }
  }
  // A new gallery is loaded first and indexed after (15x faster than indexing face by face).
  const gallery = await openOrCreateDbGallery(opts.db, existing?.meta ?? defaultMetaFor(model, metric, opts.flip, opts.detector), { deferIndex: !existing });
  summary.model = gallery.meta.model;
  const signal = onInterrupt('interrupted: committing the faces under way, then stopping (what is committed stays)');
  try {
    const known = await gallery.hashes();
    let pending: { entry: GalleryEntry; vector: number[] }[] = [];
    const flush = async () => {
      const batch = pending;
      pending = [];
      // Another process may have added some of these meanwhile: they are skipped, not doubled.
      const added = await gallery.add(batch);
      summary.added += added;
      summary.skipped += batch.length - added;
    };
    await collectFaces(input, fromRecords, {
      meta: gallery.meta, model, opts, summary, fail,
      isDone: (hash) => (known.has(hash) ? 'in' : false),
      accept: async (entry, vector) => {
        pending.push({ entry, vector });
        if (pending.length >= BATCH) await flush();
      },
      stopped: signal.stopped,
    }, records);
    await flush();
    const interrupted = signal.stopped();
    if (opts.prune && !interrupted) {
      const gone: string[] = [];
      for await (const b of gallery.rows(10_000)) for (const e of b.entries) if (!existsSync(e.image)) gone.push(e.hash);
      summary.pruned = await gallery.removeImages([...new Set(gone)]);
    }
    // (an interrupted first build leaves it to the next run; meanwhile search scans exactly)
    if (!interrupted) {
      if (!existing) warn('building the HNSW index in PostgreSQL');
      // The graph of a large gallery is built far faster when it fits in memory: PostgreSQL's
      // default 64 MB made a million faces take over half an hour here; 1 GB, for this build only.
      await gallery.ensureIndex({ maintenanceWorkMem: '1GB' });
    }
    summary.galleryPeople = (await gallery.labels()).size;
    summary.galleryFaces = await gallery.count();
    return { interrupted, gallery };
  } finally {
    signal.off();
    await gallery.client.close();
  }
}
