/**
 * What every recognition network offers: a batch of normalized face tensors in, one embedding per
 * face out. Each net lives in its own module beside this one, loaded once per process.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { RecognizerInfo } from '../catalogue.js';
import { FacekitError } from '../../core/errors.js';
import { tf } from '../runtime.js';

export interface Recognizer {
  info: RecognizerInfo;
  /** Embeddings of a batch of normalized tensors, each [height, width, 3] float32 NHWC. */
  embed(batch: Float32Array[]): Promise<Float32Array[]>;
}

/** Pack [h, w, 3] tensors into one NHWC batch, checking each one's size. */
export function packBatch(batch: Float32Array[], info: RecognizerInfo): Float32Array {
  const [w, h] = info.size;
  const per = w * h * 3;
  const flat = new Float32Array(batch.length * per);
  batch.forEach((b, i) => {
    if (b.length !== per) throw new FacekitError('bad_tensor', `tensor has ${b.length} values, ${info.id} needs ${h}x${w}x3 = ${per}`);
    flat.set(b, i * per);
  });
  return flat;
}

/** Run `forward` on a batch of [h, w, 3] tensors and split its [n, dim] output per face. */
export async function runBatch(batch: Float32Array[], info: RecognizerInfo, forward: (x: TfCore.Tensor4D) => TfCore.Tensor2D): Promise<Float32Array[]> {
  const t = tf();
  const [w, h] = info.size;
  const flat = packBatch(batch, info);
  const out = t.tidy(() => forward(t.tensor4d(flat, [batch.length, h, w, 3])));
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return batch.map((_, i) => data.slice(i * info.dim, (i + 1) * info.dim));
}
