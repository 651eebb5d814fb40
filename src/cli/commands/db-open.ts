/**
 * A gallery to read through, batch by batch, whatever holds it (`db export`, tsne, eval).
 */
import { loadGallery, type GalleryEntry, type GalleryMeta } from '../../api/recognition.js';

export interface GalleryReader {
  meta: GalleryMeta;
  /** the entries in order, with their vectors (rows of meta.dim floats) */
  batches(): AsyncIterable<{ entries: GalleryEntry[]; vectors: Float32Array }>;
  close(): Promise<void>;
}

export async function openGalleryReader(spec: string): Promise<GalleryReader> {
  const g = await loadGallery(spec);
  return {
    meta: g.meta,
    async *batches() {
      for (let i = 0; i < g.size; i += 10_000) {
        const end = Math.min(g.size, i + 10_000);
        yield { entries: g.entries.slice(i, end), vectors: g.vectors.subarray(i * g.meta.dim, end * g.meta.dim) };
      }
    },
    close: async () => undefined,
  };
}
