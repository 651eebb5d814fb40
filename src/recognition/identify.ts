/**
 * Who is this? Each face's nearest identities in a gallery, and a match when the nearest is within
 * the threshold. One answer per face, used by `facekit verify`, the server and the library alike.
 */
import type { ErrorInfo } from '../core/errors.js';
import type { Box, FaceRecord } from '../core/records.js';
import type { Metric } from '../models/catalogue.js';
import { assertSameModel, type GalleryMeta, type InMemoryGallery, type Match } from './gallery.js';

export interface Candidate {
  label: string;
  distance: number;
  /** the gallery photo the nearest face of this person came from */
  image: string;
}

export interface FaceAnswer {
  image: string;
  face: number | null;
  box?: Box;
  /** best identity, or null when nobody in the gallery is close enough */
  identity: string | null;
  distance: number | null;
  threshold: number;
  metric: Metric;
  verdict: 'match' | 'unknown' | 'error';
  candidates: Candidate[];
  error?: ErrorInfo;
}

export interface IdentifyOptions {
  metric: Metric;
  threshold: number;
  topK: number;
}

/** Distances are reported to 4 decimals, as everywhere in facekit's output. */
export const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/** What identify needs of a gallery: its model, and its k nearest identities to a vector. */
export interface IdentitySearch {
  readonly meta: GalleryMeta;
  search(query: ArrayLike<number>, metric: Metric, k: number): Match[] | Promise<Match[]>;
}

/** Faces that failed earlier stages come back as verdict "error". */
export function identify(gallery: InMemoryGallery, faces: FaceRecord[], opts: IdentifyOptions): FaceAnswer[] {
  return faces.map((r) => answer(r, opts, (v) => gallery.search(v, opts.metric, opts.topK), gallery.meta));
}

/** The same, over a gallery whose search is asynchronous (PostgreSQL). */
export async function identifyAsync(gallery: IdentitySearch, faces: FaceRecord[], opts: IdentifyOptions): Promise<FaceAnswer[]> {
  const out: FaceAnswer[] = [];
  for (const r of faces) {
    const top = r.error || !r.embedding ? [] : await gallery.search(checked(gallery.meta, r).vector, opts.metric, opts.topK);
    out.push(answer(r, opts, () => top, gallery.meta));
  }
  return out;
}

function checked(meta: GalleryMeta, r: FaceRecord): NonNullable<FaceRecord['embedding']> {
  assertSameModel(meta, { model: r.embedding!.model, dim: r.embedding!.dim }, `${r.image} face ${r.face}`);
  return r.embedding!;
}

function answer(r: FaceRecord, opts: IdentifyOptions, search: (v: number[]) => Match[], meta: GalleryMeta): FaceAnswer {
  const { metric, threshold } = opts;
  const base = { image: r.image, face: r.face, box: r.box, threshold, metric };
  if (r.error || !r.embedding) {
    return { ...base, identity: null, distance: null, verdict: 'error', candidates: [], error: r.error ?? { code: 'no_face', message: 'no face found' } };
  }
  const top = search(checked(meta, r).vector);
  const best = top[0]!;
  const match = best.distance <= threshold;
  return {
    ...base,
    identity: match ? best.label : null,
    distance: round4(best.distance),
    verdict: match ? 'match' : 'unknown',
    candidates: top.map((m) => ({ label: m.label, distance: round4(m.distance), image: m.image })),
  };
}
