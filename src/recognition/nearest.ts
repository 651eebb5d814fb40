/**
 * The K nearest gallery entries to one embedding, photo by photo (not person by person as
 * identification ranks them): what "show me similar images" asks. An exact scan over the store's
 * rows, in batches, so it answers the same on every store; a similar-images gallery holds
 * thousands of pictures, where a scan of 1 280-d vectors takes milliseconds.
 */
import type { Metric } from '../models/catalogue.js';
import { distance } from '../stages/verification.js';
import type { GalleryBackend } from './backend.js';
import type { GalleryEntry } from './gallery.js';

export interface Neighbour {
  entry: GalleryEntry;
  distance: number;
}

export async function nearestEntries(backend: GalleryBackend, query: ArrayLike<number>, metric: Metric, k: number): Promise<Neighbour[]> {
  const dim = backend.meta.dim;
  const best: Neighbour[] = [];
  for await (const rows of backend.rows()) {
    rows.entries.forEach((entry, i) => {
      const d = distance(query, rows.vectors.subarray(i * dim, (i + 1) * dim), metric);
      if (best.length === k && d >= best[k - 1]!.distance) return;
      // insertion into a short sorted list: k is small
      let at = best.length;
      while (at > 0 && best[at - 1]!.distance > d) at--;
      best.splice(at, 0, { entry, distance: d });
      if (best.length > k) best.pop();
    });
  }
  return best;
}
