/**
 * Who is this? Each face's nearest identities in a gallery, and a match when the nearest is within
 * the threshold. One answer per face, used by `facekit verify`, the server and the library alike.
 */
import type { ErrorInfo } from '../core/errors.js';
import type { Box, FaceRecord } from '../core/records.js';
import type { Metric } from '../models/catalogue.js';
import { assertSameModel, type InMemoryGallery, type Match } from './gallery.js';

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

/** Faces that failed earlier stages come back as verdict "error". */
export function identify(gallery: InMemoryGallery, faces: FaceRecord[], opts: IdentifyOptions): FaceAnswer[] {
  const { metric, threshold, topK } = opts;
  return faces.map((r) => {
    const base = { image: r.image, face: r.face, box: r.box, threshold, metric };
    if (r.error || !r.embedding) {
      return { ...base, identity: null, distance: null, verdict: 'error', candidates: [], error: r.error ?? { code: 'no_face', message: 'no face found' } };
    }
    assertSameModel(gallery.meta, { model: r.embedding.model, dim: r.embedding.dim }, `${r.image} face ${r.face}`);
    const top: Match[] = gallery.search(r.embedding.vector, metric, topK);
    const best = top[0]!;
    const match = best.distance <= threshold;
    return {
      ...base,
      identity: match ? best.label : null,
      distance: round4(best.distance),
      verdict: match ? 'match' : 'unknown',
      candidates: top.map((m) => ({ label: m.label, distance: round4(m.distance), image: m.image })),
    };
  });
}
