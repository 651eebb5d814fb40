/**
 * Represent: run a recognition network on a normalized face tensor and return its embedding.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { RECOGNIZERS, type RecognizerId, type RecognizerInfo } from '../models/catalogue.js';
import { FacekitError } from '../core/errors.js';
import { loadGraphModel, loadWeightMap, tf } from '../models/runtime.js';
import type { Embedding } from '../core/records.js';

export interface Recognizer {
  info: RecognizerInfo;
  /** Embeddings of a batch of normalized tensors, each [height, width, 3] float32 NHWC. */
  embed(batch: Float32Array[]): Promise<Float32Array[]>;
}

/* ---------------------------------------------------------------- dlib ResNet-34 (face-api weights) */

interface ConvLayer {
  filters: TfCore.Tensor4D;
  bias: TfCore.Tensor1D;
}

/**
 * face-api stores each conv as conv + bias followed by a per-channel scale layer. The scale is
 * folded into the filters once at load: (conv(x, W) + b) * s + c = conv(x, W * s) + (b * s + c),
 * which halves the element-wise work per layer.
 */
function foldConv(w: TfCore.NamedTensorMap, prefix: string): ConvLayer {
  const t = tf();
  const get = (name: string) => {
    const v = w[`${prefix}/${name}`];
    if (!v) throw new FacekitError('internal', `resnet34 weights lack ${prefix}/${name}`);
    return v;
  };
  return t.tidy(() => {
    const s = get('scale/weights') as TfCore.Tensor1D;
    const filters = t.mul(get('conv/filters'), s) as TfCore.Tensor4D;
    const bias = t.add(t.mul(get('conv/bias'), s), get('scale/biases')) as TfCore.Tensor1D;
    return { filters: t.keep(filters), bias: t.keep(bias) };
  });
}

const RESNET_BLOCKS = [
  'conv32_1', 'conv32_2', 'conv32_3', 'conv64_down', 'conv64_1', 'conv64_2', 'conv64_3',
  'conv128_down', 'conv128_1', 'conv128_2', 'conv256_down', 'conv256_1', 'conv256_2', 'conv256_down_out',
] as const;

async function loadResnet34(info: RecognizerInfo): Promise<Recognizer> {
  const file = info.files[0]!;
  const w = await loadWeightMap(file.pkg, file.file);
  const t = tf();
  const stem = foldConv(w, 'conv32_down');
  const blocks = RESNET_BLOCKS.map((name) => ({
    down: name.endsWith('_down') || name.endsWith('_down_out'),
    conv1: foldConv(w, `${name}/conv1`),
    conv2: foldConv(w, `${name}/conv2`),
  }));
  const fc = w.fc as TfCore.Tensor2D;

  const conv = (x: TfCore.Tensor4D, l: ConvLayer, stride: 1 | 2, pad: 'same' | 'valid') =>
    t.add(t.conv2d(x, l.filters, stride, pad), l.bias) as TfCore.Tensor4D;

  // Same graph as face-api's FaceRecognitionNet.forwardInput, minus its input normalisation
  // (that is the `dlib` scheme of the normalize stage).
  const forward = (x: TfCore.Tensor4D): TfCore.Tensor2D => {
    let out = t.relu(conv(x, stem, 2, 'valid'));
    out = t.maxPool(out, 3, 2, 'valid');
    for (const b of blocks) {
      let y = b.down ? t.relu(conv(out, b.conv1, 2, 'valid')) : t.relu(conv(out, b.conv1, 1, 'same'));
      y = conv(y, b.conv2, 1, 'same');
      let shortcut = out;
      if (b.down) {
        shortcut = t.avgPool(out, 2, 2, 'valid');
        if (shortcut.shape[1] !== y.shape[1] || shortcut.shape[2] !== y.shape[2]) {
          // face-api pads the convolved branch by one zero row and column when sizes are odd.
          y = t.pad(y, [[0, 0], [0, 1], [0, 1], [0, 0]]);
        }
        if (shortcut.shape[3] !== y.shape[3]) {
          shortcut = t.concat([shortcut, t.zerosLike(shortcut)], 3);
        }
      }
      out = t.relu(t.add(y, shortcut)) as TfCore.Tensor4D;
    }
    return t.matMul(t.mean(out, [1, 2]) as TfCore.Tensor2D, fc);
  };
  return {
    info,
    embed: (batch) => runBatch(batch, info, forward),
  };
}

/* ---------------------------------------------------------------- Human's FaceRes */

async function loadFaceres(info: RecognizerInfo): Promise<Recognizer> {
  const file = info.files[0]!;
  const model = await loadGraphModel(file.pkg, file.file);
  const t = tf();
  const forward = (x: TfCore.Tensor4D): TfCore.Tensor2D => {
    const outs = model.execute(x) as TfCore.Tensor[];
    const desc = outs.find((o) => o.shape[o.shape.length - 1] === info.dim);
    if (!desc) throw new FacekitError('internal', 'faceres gave no descriptor output');
    return t.reshape(desc, [x.shape[0], info.dim]) as TfCore.Tensor2D;
  };
  return { info, embed: (batch) => runBatch(batch, info, forward) };
}

async function runBatch(batch: Float32Array[], info: RecognizerInfo, forward: (x: TfCore.Tensor4D) => TfCore.Tensor2D): Promise<Float32Array[]> {
  const t = tf();
  const [w, h] = info.size;
  const per = w * h * 3;
  const flat = new Float32Array(batch.length * per);
  batch.forEach((b, i) => {
    if (b.length !== per) throw new FacekitError('bad_tensor', `tensor has ${b.length} values, ${info.id} needs ${h}x${w}x3 = ${per}`);
    flat.set(b, i * per);
  });
  const out = t.tidy(() => forward(t.tensor4d(flat, [batch.length, h, w, 3])));
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return batch.map((_, i) => data.slice(i * info.dim, (i + 1) * info.dim));
}

/* ---------------------------------------------------------------- public */

const loaders: Record<RecognizerId, (info: RecognizerInfo) => Promise<Recognizer>> = {
  resnet34: loadResnet34,
  faceres: loadFaceres,
};
const recognizers = new Map<RecognizerId, Promise<Recognizer>>();

export function loadRecognizer(id: RecognizerId): Promise<Recognizer> {
  let r = recognizers.get(id);
  if (!r) {
    r = loaders[id](RECOGNIZERS[id]);
    recognizers.set(id, r);
  }
  return r;
}

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
