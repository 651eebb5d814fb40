/**
 * faceplugin's fr_feature.onnx (from faceplugin-face-recognition-js), run on onnxruntime-node.
 * The graph takes one face at a time, NCHW: each normalized NHWC crop is transposed on the way in.
 */
import type { RecognizerInfo } from '../catalogue.js';
import { createSession } from '../ort.js';
import { modelPath } from '../runtime.js';
import { packBatch, type Recognizer } from './recognizer.js';

/** [h, w, 3] interleaved to [3, h, w] planes. */
export function toPlanar(hwc: Float32Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(plane * 3);
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[i] = hwc[j]!;
    out[plane + i] = hwc[j + 1]!;
    out[2 * plane + i] = hwc[j + 2]!;
  }
  return out;
}

export async function loadFaceplugin(info: RecognizerInfo): Promise<Recognizer> {
  const file = info.files[0]!;
  const session = await createSession(modelPath(file.pkg, file.file));
  const input = session.inputNames[0]!;
  const output = session.outputNames[0]!;
  const [w, h] = info.size;
  return {
    info,
    async embed(batch) {
      const out: Float32Array[] = [];
      for (const face of batch) {
        const res = await session.run({ [input]: { data: toPlanar(packBatch([face], info), w, h), dims: [1, 3, h, w] } });
        out.push(Float32Array.from(res[output]!.data.subarray(0, info.dim)));
      }
      return out;
    },
  };
}
