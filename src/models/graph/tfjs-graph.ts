/**
 * A TensorFlow.js graph model (model.json + weight shards) read into the same plain graph as a
 * TFLite file (./tflite.ts), so that ./to-onnx.ts converts it for onnxruntime. It covers the
 * operators of Human's FaceMesh (_FusedConv2D with BiasAdd and Prelu, DepthwiseConv2dNative,
 * AddV2, Prelu, MaxPool, Pad, Sigmoid, Reshape, Identity); anything else is refused by name.
 * Weights are converted to TFLite's layouts (convolutions OHWI, depthwise [1, h, w, c * m]);
 * float16-quantized weights are expanded to float32. Activation shapes are inferred from the
 * input shape given (batch 1).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FacekitError } from '../../core/errors.js';
import { halfToFloat, type GraphOp, type GraphTensor, type Padding, type TfliteGraph } from './tflite.js';
import { transposeData } from './to-onnx.js';

interface TfjsNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; list?: { i?: string[]; s?: string[] }; type?: string }>;
}
interface WeightEntry { name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }
interface ModelJson {
  modelTopology: { node: TfjsNode[] };
  weightsManifest: { paths: string[]; weights: WeightEntry[] }[];
}

const text = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('utf8');
const ints = (n: TfjsNode, key: string): number[] => (n.attr?.[key]?.list?.i ?? []).map(Number);

/** The weights of a model.json, by name: float32 (dequantized) or int32. */
function readWeights(path: string, json: ModelJson): Map<string, { shape: number[]; data: Float32Array | Int32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array | Int32Array }>();
  for (const group of json.weightsManifest) {
    const buf = Buffer.concat(group.paths.map((p) => readFileSync(join(dirname(path), p))));
    const bytes = new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const view = new DataView(bytes.buffer);
    let offset = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const stored = w.quantization?.dtype ?? w.dtype;
      let data: Float32Array | Int32Array;
      if (stored === 'float16') data = Float32Array.from({ length: n }, (_, i) => halfToFloat(view.getUint16(offset + 2 * i, true)));
      else if (stored === 'float32') data = new Float32Array(bytes.slice(offset, offset + 4 * n).buffer);
      else if (stored === 'int32') data = new Int32Array(bytes.slice(offset, offset + 4 * n).buffer);
      else throw new FacekitError('unreadable', `${path}: weight ${w.name} is stored as ${stored}, which is not supported`);
      offset += n * (stored === 'float16' ? 2 : 4);
      out.set(w.name, { shape: w.shape, data });
    }
  }
  return out;
}

/**
 * Read a tfjs graph model as a plain graph whose input is [1, ...inputShape] NHWC, ending at the
 * nodes named `outputs`.
 */
export function readTfjsGraph(path: string, inputShape: [number, number, number], outputs: readonly string[]): TfliteGraph {
  const json = JSON.parse(readFileSync(path, 'utf8')) as ModelJson;
  const weights = readWeights(path, json);
  const tensors: GraphTensor[] = [];
  const index = new Map<string, number>();
  const add = (name: string, t: Omit<GraphTensor, 'name'>): number => {
    tensors.push({ name, ...t });
    index.set(name, tensors.length - 1);
    return tensors.length - 1;
  };
  const constant = (name: string, shape?: number[], data?: Float32Array): number => {
    const w = weights.get(name);
    if (!w) throw new FacekitError('unreadable', `${path}: ${name} is neither a weight nor computed before use`);
    return add(`${name}${shape ? '/tflite' : ''}`, { shape: shape ?? w.shape, type: w.data instanceof Int32Array ? 'int32' : 'float32', data: data ?? w.data });
  };
  const ops: GraphOp[] = [];
  const shapeOf = (i: number): number[] => tensors[i]!.shape;
  const value = (name: string): number => index.get(name.split(':')[0]!) ?? constant(name);

  for (const n of json.modelTopology.node) {
    if (n.op === 'Const') continue;
    const inputs = n.input ?? [];
    const where = `${path}: ${n.op} ${n.name}`;
    const padding = (): Padding => (text(n.attr?.padding?.s) === 'VALID' ? 'valid' : 'same');
    const stride = (): [number, number] => [ints(n, 'strides')[1] ?? 1, ints(n, 'strides')[2] ?? 1];
    const spatial = (x: number, k: [number, number], s: [number, number], p: Padding, out: number): number[] => {
      const [, h, w] = shapeOf(x) as [number, number, number, number];
      const size = (d: number, kk: number, ss: number) => (p === 'same' ? Math.ceil(d / ss) : Math.floor((d - kk) / ss) + 1);
      return [1, size(h, k[0], s[0]), size(w, k[1], s[1]), out];
    };
    switch (n.op) {
      case 'Placeholder':
        add(n.name, { shape: [1, ...inputShape], type: 'float32' });
        break;
      case 'Identity':
        index.set(n.name, value(inputs[0]!));
        break;
      case '_FusedConv2D':
      case 'DepthwiseConv2dNative': {
        const x = value(inputs[0]!);
        const w = weights.get(inputs[1]!);
        if (!w) throw new FacekitError('unreadable', `${where}: no weights`);
        const [kh, kw, cin, m] = w.shape as [number, number, number, number];
        const depthwise = n.op === 'DepthwiseConv2dNative';
        // tfjs: HWIO for conv2d, [h, w, c, multiplier] for depthwise; TFLite: OHWI, [1, h, w, c * m]
        const filter = depthwise
          ? constant(inputs[1]!, [1, kh, kw, cin * m], w.data as Float32Array)
          : (() => { const t = transposeData(w.data as Float32Array, w.shape, [3, 0, 1, 2]); return constant(inputs[1]!, t.shape, t.data); })();
        const fused = (n.attr?.fused_ops?.list?.s ?? []).map(text);
        if (fused.some((f) => f !== 'BiasAdd' && f !== 'Prelu')) throw new FacekitError('unreadable', `${where}: fused ${fused.join('+')} is not supported`);
        const bias = fused.includes('BiasAdd') ? value(inputs[2]!) : -1;
        const options = { padding: padding(), stride: stride(), dilation: [ints(n, 'dilations')[1] ?? 1, ints(n, 'dilations')[2] ?? 1] as [number, number], activation: 'none' as const };
        const outShape = spatial(x, [kh, kw], options.stride, options.padding, depthwise ? cin * m : m);
        const conv = add(fused.includes('Prelu') ? `${n.name}/conv` : n.name, { shape: outShape, type: 'float32' });
        ops.push(depthwise
          ? { op: 'DEPTHWISE_CONV_2D', inputs: [x, filter, bias], outputs: [conv], depthMultiplier: m, ...options }
          : { op: 'CONV_2D', inputs: [x, filter, bias], outputs: [conv], ...options });
        if (fused.includes('Prelu')) ops.push({ op: 'PRELU', inputs: [conv, value(inputs[3]!)], outputs: [add(n.name, { shape: outShape, type: 'float32' })] });
        break;
      }
      case 'AddV2':
      case 'Prelu': {
        const [a, b] = [value(inputs[0]!), value(inputs[1]!)];
        const out = add(n.name, { shape: shapeOf(a), type: 'float32' });
        ops.push(n.op === 'AddV2' ? { op: 'ADD', inputs: [a, b], outputs: [out], activation: 'none' } : { op: 'PRELU', inputs: [a, b], outputs: [out] });
        break;
      }
      case 'Sigmoid': {
        const x = value(inputs[0]!);
        ops.push({ op: 'LOGISTIC', inputs: [x], outputs: [add(n.name, { shape: shapeOf(x), type: 'float32' })] });
        break;
      }
      case 'MaxPool': {
        const x = value(inputs[0]!);
        const filter: [number, number] = [ints(n, 'ksize')[1] ?? 1, ints(n, 'ksize')[2] ?? 1];
        const out = add(n.name, { shape: spatial(x, filter, stride(), padding(), shapeOf(x)[3]!), type: 'float32' });
        ops.push({ op: 'MAX_POOL_2D', inputs: [x], outputs: [out], padding: padding(), stride: stride(), filter, activation: 'none' });
        break;
      }
      case 'Pad': {
        const x = value(inputs[0]!);
        const pads = value(inputs[1]!);
        const p = tensors[pads]!.data as Int32Array;
        const out = add(n.name, { shape: shapeOf(x).map((d, i) => d + p[2 * i]! + p[2 * i + 1]!), type: 'float32' });
        ops.push({ op: 'PAD', inputs: [x, pads], outputs: [out] });
        break;
      }
      case 'Reshape': {
        const x = value(inputs[0]!);
        const target = [...(tensors[value(inputs[1]!)]!.data as Int32Array)];
        const total = shapeOf(x).reduce((a, b) => a * b, 1);
        const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        const shape = target.map((d) => (d === -1 ? total / known : d));
        ops.push({ op: 'RESHAPE', inputs: [x], outputs: [add(n.name, { shape, type: 'float32' })], newShape: shape });
        break;
      }
      default:
        throw new FacekitError('unreadable', `${where} is not supported`);
    }
  }
  const input = tensors.findIndex((t) => t.data === undefined);
  const outs = outputs.map((o) => {
    const i = index.get(o);
    if (i === undefined) throw new FacekitError('unreadable', `${path} has no node ${o}`);
    return i;
  });
  return { tensors, ops, inputs: [input], outputs: outs, description: `tfjs graph ${path}` };
}
