/**
 * dlib's ResNet-34 face descriptor, run from face-api's weights (face_recognition_model) with our
 * own forward pass: the same graph as face-api's FaceRecognitionNet, with its scale layers folded
 * into the convolutions once at load.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { RecognizerInfo } from '../catalogue.js';
import { FacekitError } from '../../core/errors.js';
import { loadWeightMap, tf } from '../runtime.js';
import { runBatch, type Recognizer } from './recognizer.js';

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

export async function loadResnet34(info: RecognizerInfo): Promise<Recognizer> {
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
