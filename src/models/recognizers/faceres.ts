/** Human's FaceRes (HSE-asavchenko): a graph model whose 1024-d descriptor output is the embedding. */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { RecognizerInfo } from '../catalogue.js';
import { FacekitError } from '../../core/errors.js';
import { loadGraphModel, tf } from '../runtime.js';
import { runBatch, type Recognizer } from './recognizer.js';

export async function loadFaceres(info: RecognizerInfo): Promise<Recognizer> {
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
