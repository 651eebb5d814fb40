/**
 * Represent: run a recognition network on normalized face tensors and return their embeddings
 * (optionally averaged with the mirror image's). The networks themselves live in models/recognizers.
 */
import type { Recognizer } from '../models/recognizers/index.js';
import type { Embedding } from '../core/records.js';


/** Mirror an NHWC [h, w, 3] tensor left-right. */
export function flipHorizontal(data: Float32Array, width: number, height: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3, d = (y * width + (width - 1 - x)) * 3;
      out[d] = data[s]!; out[d + 1] = data[s + 1]!; out[d + 2] = data[s + 2]!;
    }
  }
  return out;
}

export interface RepresentOptions {
  /** Also embed the mirrored face and add the two (test-time augmentation). */
  flip: boolean;
}

/**
 * Embeddings of normalized tensors (each [h, w, 3]). With `flip`, the embedding is the sum of the
 * face's and its mirror image's, which is steadier against pose and lighting.
 */
export async function represent(rec: Recognizer, tensors: Float32Array[], opts: RepresentOptions): Promise<Embedding[]> {
  const [w, h] = rec.info.size;
  const inputs = opts.flip ? tensors.flatMap((x) => [x, flipHorizontal(x, w, h)]) : tensors;
  const outs = await rec.embed(inputs);
  return tensors.map((_, i) => {
    let v: Float32Array;
    if (opts.flip) {
      const a = outs[2 * i]!, b = outs[2 * i + 1]!;
      v = new Float32Array(a.length);
      for (let k = 0; k < a.length; k++) v[k] = (a[k]! + b[k]!) / 2;
    } else v = outs[i]!;
    return { model: rec.info.id, dim: rec.info.dim, vector: Array.from(v) };
  });
}
