/**
 * buildGallery: a gallery of known people from a folder of people (`DIR/<person>/*`), photos with
 * labels, or labelled represent records, into any store (a file, PGlite, PostgreSQL, memory).
 * Incremental (photos already in, by content, are skipped), journaled and resumable (file
 * galleries), committed in batches (databases). `facekit build-db` and `facekit db import` are
 * this verb; so is `verify --db DIR`.
 */
import { DEFAULT_METRIC, RECOGNIZERS, subjectOf, type RecognizerId, type Subject } from '../models/catalogue.js';
import { subjectSettings } from '../pipeline/plan.js';
import type { Head } from '../training/index.js';
import { checkHeadModel, galleryHeadOf, headOfGallery, headRecognizer, headTag, openHead, requireProjection } from './heads.js';
import { FacekitError } from '../core/errors.js';
import type { BuildSink, GalleryBackend } from '../recognition/backend.js';
import { assertSameHead, assertSameModel, DEFAULT_GALLERY_PATH, defaultMetaFor, type GalleryMeta } from '../recognition/gallery.js';
import { openBackend } from '../recognition/store/open.js';
import type { BuildOptions, BuildSummary } from './build-types.js';
import { addPhotos, addRecords, openSource, type GallerySource, type Source } from './gallery-sources.js';
import { sharedEngine } from './shared.js';

/** Build or update the gallery at `opts.db` from `source`. Resolves with the summary, also when stopped by the signal. */
export async function buildGallery(source: GallerySource, opts: BuildOptions = {}): Promise<BuildSummary> {
  const db = opts.db ?? DEFAULT_GALLERY_PATH;
  const src = await openSource(source, db);
  const existing = await openBackend(db).catch((err: unknown) => {
    if (err instanceof FacekitError && err.code === 'not_found') return undefined;
    throw err;
  });
  try {
    const head = opts.head !== undefined ? await openHead(opts.head) : existing ? await headOfGallery(existing.meta, existing.location) : undefined;
    if (head && opts.head !== undefined) requireProjection(head, 'a gallery');
    if (existing && opts.head !== undefined) assertSameHead(existing.meta, headTag(head!), existing.location);
    const given = opts.model ?? (existing?.meta.model as RecognizerId | undefined) ?? (src.kind === 'records' ? src.model : undefined) ?? (head ? headRecognizer(head) : undefined);
    if (head) checkHeadModel(head, given ?? headRecognizer(head));
    if (existing && opts.subject !== undefined) assertSubject(existing.meta, opts.subject, existing.location);
    const s = subjectSettings({ subject: opts.subject, model: given, detector: opts.detector, flip: opts.flip ?? existing?.meta.flip });
    const meta = existing ? existing.meta : defaultMetaFor(s.model, opts.metric ?? DEFAULT_METRIC, s.flip, s.detector, head ? galleryHeadOf(head) : undefined);
    checkSettings(meta, { model: s.model, flip: s.flip, ...(head ? { dim: head.outputDim } : {}) }, existing?.location ?? db);
    const backend = existing ?? await openBackend(db, { create: meta });
    try {
      return await buildInto(backend, src, opts, head);
    } finally {
      if (!existing) await backend.close();
    }
  } finally {
    await existing?.close();
  }
}

/** A gallery holds faces or whole images (its model says which): one clear line when they would mix. */
export function assertSubject(meta: GalleryMeta, subject: Subject, where: string): void {
  const holds = subjectOf(meta.model);
  if (holds && holds !== subject) {
    throw new FacekitError('model_mismatch', `gallery holds ${holds === 'face' ? 'faces' : 'whole images'} (${meta.model}), not ${subject === 'face' ? 'faces' : 'whole images'}: give another gallery (--db) for them`, where);
  }
}

/** An existing gallery fixes the model and the mirror averaging: a build must match both. */
export function checkSettings(meta: GalleryMeta, want: { model: string; flip: boolean; dim?: number }, where: string): void {
  const dim = want.dim ?? RECOGNIZERS[want.model as RecognizerId]?.dim ?? -1;
  assertSameModel(meta, { model: want.model, dim }, where);
  if (meta.flip !== want.flip) throw new FacekitError('model_mismatch', `gallery was built ${meta.flip ? 'with' : 'without'} --flip; build it the same way`, where);
}

/** Add a source's faces to an open gallery, as a build (journal or batches), and finish it. */
export async function buildInto(backend: GalleryBackend, src: Source, opts: BuildOptions, head?: Head): Promise<BuildSummary> {
  const t0 = Date.now();
  const engine = opts.engine ?? sharedEngine();
  const warn = opts.onWarn ?? (() => undefined);
  const summary: BuildSummary = {
    db: backend.location, model: backend.meta.model, people: 0, images: 0, added: 0, skipped: 0, resumed: 0, pruned: 0, otherFaces: 0,
    failures: [], peopleWithoutPhotos: [], galleryPeople: 0, galleryFaces: 0, seconds: 0,
  };
  const fail = (image: string, code: string, message: string) => {
    summary.failures.push({ image, code, message });
    warn(`${image}: ${message}`);
  };
  const sink: BuildSink = await backend.build({ meta: backend.meta, index: opts.index, allFaces: opts.allFaces ?? false });
  summary.model = sink.meta.model;
  summary.resumed = sink.resumed;
  try {
    const stop = () => opts.signal?.aborted === true;
    if (src.kind === 'records') await addRecords(src, sink, summary, { allFaces: opts.allFaces ?? false, antiSpoof: opts.antiSpoof ?? false, fail, stop });
    else await addPhotos(engine, src, sink, summary, { ...opts, fail, warn, stop, ...(head ? { projection: head } : {}) });
  } catch (err) {
    // another model's embeddings refuse the whole input: nothing of it stays; any other failure
    // keeps what is finished for the next run
    if (err instanceof FacekitError && err.code === 'model_mismatch') await sink.discard();
    else await sink.keep();
    throw err;
  }
  await sink.flush();
  summary.added = sink.counts.added;
  summary.skipped += sink.counts.alreadyIn;
  if (opts.signal?.aborted) {
    summary.stopped = await sink.keep();
  } else if (sink.created && summary.added === 0 && summary.resumed === 0) {
    // every photo or record failed: no empty gallery is left behind
    await sink.discard();
  } else {
    const done = await sink.finish({ prune: opts.prune ?? false, note: warn });
    summary.pruned = done.pruned;
    summary.galleryPeople = done.people;
    summary.galleryFaces = done.faces;
  }
  summary.seconds = Math.round((Date.now() - t0) / 100) / 10;
  return summary;
}

export type { GallerySource, BuildOptions, BuildSummary };
