/** Synthetic gallery faces for store tests: a centre per person plus noise, seeded. */
import { gaussian, seededRandom } from '../../src/evaluation/projection/random.js';
import type { GalleryEntry } from '../../src/recognition/gallery.js';

export { gaussian, seededRandom };

/** n faces of `people` identities; `varied`: face numbers 0-2 and a box on every other face. */
export function syntheticFaces(n: number, dim: number, people: number, seed: number, opts: { prefix?: string; varied?: boolean } = {}) {
  const prefix = opts.prefix ?? 'img';
  const rand = seededRandom(seed);
  const centres = Array.from({ length: people }, () => Array.from({ length: dim }, () => rand() - 0.5));
  return Array.from({ length: n }, (_, i) => ({
    entry: {
      label: `p${i % people}`, image: `${prefix}${i}.jpg`, hash: `${prefix}h${i}`, face: opts.varied ? i % 3 : 0,
      ...(opts.varied && i % 2 ? { box: [i, 2, 30, 40] as [number, number, number, number] } : {}),
    } as GalleryEntry,
    vector: centres[i % people]!.map((c) => c + 0.6 * (rand() - 0.5)),
  }));
}
