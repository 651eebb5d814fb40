/**
 * A TFLite graph as an ONNX model onnxruntime runs, with a dynamic batch dimension.
 *
 * Layout: TFLite is NHWC with OHWI convolution weights, ONNX's Conv is NCHW with OIHW weights. One
 * Transpose turns the NHWC input into NCHW, the weights are transposed here once, and every 4-D
 * activation stays NCHW; a Transpose back is added only where an operator depends on the element
 * order (a RESHAPE of a map larger than 1x1, a 4-D graph output). TF's 'SAME' padding is
 * asymmetric for even strides (the extra row and column go at the bottom and right), so pads are
 * computed from the input size the model was exported with.
 */
import { FacekitError } from '../../core/errors.js';
import { encodeOnnxModel, type OnnxNode, type OnnxTensor } from './onnx-proto.js';
import type { Activation, ConvOptions, GraphTensor, TfliteGraph } from './tflite.js';

const OPSET = 13;
const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

/** TF's explicit pads for one spatial dimension: [before, after]. */
export function tfPads(size: number, kernel: number, stride: number, dilation: number, padding: 'same' | 'valid'): [number, number] {
  if (padding === 'valid') return [0, 0];
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Permute a dense array's axes (out[...] = in[perm...]), e.g. OHWI weights to OIHW. */
export function transposeData(data: Float32Array, shape: number[], perm: number[]): { data: Float32Array; shape: number[] } {
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const strides = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const index = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < index.length; k++) src += index[k]! * strides[k]!;
    out[o] = data[src]!;
    for (let k = index.length - 1; k >= 0; k--) {
      if (++index[k]! < outShape[k]!) break;
      index[k] = 0;
    }
  }
  return { data: out, shape: outShape };
}

type Layout = 'nhwc' | 'nchw';

export interface OnnxConversion {
  bytes: Uint8Array;
  inputName: string;
  /** the first output's name (the only one, for most graphs) */
  outputName: string;
  /** every output's name, in the graph's order */
  outputNames: string[];
  /** A name that changes with the source model and the converter (set when it went through the cache folder). */
  key?: string;
  /** Number of ONNX nodes of each type, for tests and reports. */
  nodeCounts: Map<string, number>;
}

export interface ConvertOptions {
  /**
   * How a PRELU becomes ONNX: 'relu-min' is relu(x) + slope * min(x, 0) (the default: on
   * onnxruntime's CPU provider, one thread, MobileFaceNet ran about 30% faster this way than with
   * its PRelu operator, whose per-channel broadcast is slow); 'PRelu' is the one operator.
   */
  prelu?: 'relu-min' | 'PRelu';
}

/**
 * Convert a single-input TFLite graph whose input is NHWC float32. The batch
 * dimension (dimension 0, as exported) becomes the symbolic 'N' of the ONNX input and output.
 */
export function tfliteToOnnx(graph: TfliteGraph, name = 'converted', opts: ConvertOptions = {}): OnnxConversion {
  const preluAs = opts.prelu ?? 'relu-min';
  if (graph.inputs.length !== 1 || graph.outputs.length === 0) throw new FacekitError('unreadable', `${name}: only graphs with one input convert`);
  const inputIndex = graph.inputs[0]!;
  const tensor = (i: number): GraphTensor => graph.tensors[i]!;
  const batch = tensor(inputIndex).shape[0]!;
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const used = new Set<string>();
  const unique = (base: string): string => {
    let n = base;
    for (let k = 1; used.has(n); k++) n = `${base}_${k}`;
    used.add(n);
    return n;
  };
  const baseName = graph.tensors.map((t) => unique(t.name));

  // Activations: where each tflite tensor lives in the ONNX graph, per layout (made on demand).
  const values = new Map<number, Partial<Record<Layout, string>>>();
  const produced = (i: number, layout: Layout): string => {
    const n = layout === 'nhwc' ? baseName[i]! : unique(`${baseName[i]}/nchw`);
    values.set(i, { [layout]: n });
    return n;
  };
  const transpose = (from: string, perm: number[], to: string): void => {
    nodes.push({ op: 'Transpose', inputs: [from], outputs: [to], attributes: { perm } });
  };
  const activation = (i: number, layout: Layout): string => {
    const v = values.get(i);
    if (!v) throw new FacekitError('internal', `${name}: tensor ${tensor(i).name} is used before it is computed`);
    const have = v[layout];
    if (have) return have;
    const n = layout === 'nhwc' ? baseName[i]! : unique(`${baseName[i]}/nchw`);
    transpose(layout === 'nhwc' ? v.nchw! : v.nhwc!, layout === 'nhwc' ? NCHW_TO_NHWC : NHWC_TO_NCHW, n);
    v[layout] = n;
    return n;
  };
  const layoutOf = (i: number): Layout => (values.get(i)?.nchw ? 'nchw' : 'nhwc');
  const initializer = (base: string, dims: number[], data: Float32Array | number[]): string => {
    const n = unique(base);
    initializers.push({ name: n, dims, data });
    return n;
  };
  /** A constant operand of an element-wise op with an NCHW activation: rank 4, transposed. */
  const constantNchw = (i: number): string => {
    const t = tensor(i);
    const data = t.data as Float32Array;
    if (t.shape.length > 4) throw new FacekitError('unreadable', `${name}: constant ${t.name} has rank ${t.shape.length}`);
    const shape = [...new Array<number>(4 - t.shape.length).fill(1), ...t.shape];
    const moved = transposeData(data, shape, NHWC_TO_NCHW);
    return initializer(baseName[i]!, moved.shape, moved.data);
  };
  const constantPlain = (i: number): string => initializer(baseName[i]!, tensor(i).shape, tensor(i).data as Float32Array);
  const floatData = (i: number): Float32Array => {
    const d = tensor(i).data;
    if (!(d instanceof Float32Array)) throw new FacekitError('unreadable', `${name}: ${tensor(i).name} should be constant float data`);
    return d;
  };

  /** Push `node` writing `out`, followed by its fused activation when it has one. */
  const emit = (node: Omit<OnnxNode, 'outputs'>, act: Activation, out: string): void => {
    if (act === 'none') {
      nodes.push({ ...node, outputs: [out] });
      return;
    }
    const pre = unique(`${out}/pre_${act}`);
    nodes.push({ ...node, outputs: [pre] });
    if (act === 'relu') nodes.push({ op: 'Relu', inputs: [pre], outputs: [out] });
    else if (act === 'tanh') nodes.push({ op: 'Tanh', inputs: [pre], outputs: [out] });
    else {
      const [lo, hi] = act === 'relu6' ? [0, 6] : [-1, 1];
      const min = initializer(`${out}/min`, [], Float32Array.of(lo));
      const max = initializer(`${out}/max`, [], Float32Array.of(hi));
      nodes.push({ op: 'Clip', inputs: [pre, min, max], outputs: [out] });
    }
  };

  const conv = (x: number, w: number, b: number, out: number, o: ConvOptions, depthwise: boolean): void => {
    const [, h, wd, cin] = tensor(x).shape as [number, number, number, number];
    const ws = tensor(w).shape as [number, number, number, number];
    // TFLite: CONV_2D weights [O, kh, kw, I]; DEPTHWISE_CONV_2D [1, kh, kw, I * multiplier].
    const weights = depthwise ? transposeData(floatData(w), ws, [3, 0, 1, 2]) : transposeData(floatData(w), ws, [0, 3, 1, 2]);
    const [kh, kw] = [ws[1], ws[2]];
    const [top, bottom] = tfPads(h, kh, o.stride[0], o.dilation[0], o.padding);
    const [left, right] = tfPads(wd, kw, o.stride[1], o.dilation[1], o.padding);
    const inputs = [activation(x, 'nchw'), initializer(baseName[w]!, weights.shape, weights.data)];
    if (b >= 0) inputs.push(initializer(baseName[b]!, [tensor(b).shape[0]!], floatData(b)));
    const attributes = { kernel_shape: [kh, kw], strides: o.stride, dilations: o.dilation, pads: [top, left, bottom, right], group: depthwise ? cin : 1 };
    emit({ op: 'Conv', inputs, name: baseName[out]!, attributes }, o.activation, produced(out, 'nchw'));
  };

  let zero: string | undefined;
  produced(inputIndex, 'nhwc');
  for (const op of graph.ops) {
    const out = op.outputs[0]!;
    switch (op.op) {
      case 'CONV_2D':
      case 'DEPTHWISE_CONV_2D':
        conv(op.inputs[0]!, op.inputs[1]!, op.inputs[2] ?? -1, out, op, op.op === 'DEPTHWISE_CONV_2D');
        break;
      case 'ADD':
      case 'SUB':
      case 'MUL': {
        const [a, b] = op.inputs as [number, number];
        const isConst = (i: number) => tensor(i).data !== undefined;
        // NCHW when any activation operand is NCHW (4-D); then constants are made NCHW too.
        const layout: Layout = [a, b].some((i) => !isConst(i) && layoutOf(i) === 'nchw') ? 'nchw' : 'nhwc';
        const operand = (i: number) => (isConst(i) ? (layout === 'nchw' ? constantNchw(i) : constantPlain(i)) : activation(i, layout));
        const inputs = [operand(a), operand(b)];
        emit({ op: op.op === 'ADD' ? 'Add' : op.op === 'SUB' ? 'Sub' : 'Mul', inputs }, op.activation, produced(out, layout));
        break;
      }
      case 'RELU':
      case 'ABS':
      case 'NEG':
      case 'LOGISTIC': {
        const layout = layoutOf(op.inputs[0]!);
        const onnxOp = { RELU: 'Relu', ABS: 'Abs', NEG: 'Neg', LOGISTIC: 'Sigmoid' }[op.op];
        nodes.push({ op: onnxOp, inputs: [activation(op.inputs[0]!, layout)], outputs: [produced(out, layout)] });
        break;
      }
      case 'PAD': {
        // constant zeros; ONNX wants [all befores, all afters] in the activation's layout
        const x = op.inputs[0]!;
        const p = tensor(op.inputs[1]!).data;
        const rank = tensor(x).shape.length;
        const layout: Layout = rank === 4 ? layoutOf(x) : 'nhwc';
        const order = rank === 4 && layout === 'nchw' ? NHWC_TO_NCHW : [...Array(rank).keys()];
        if (!p) throw new FacekitError('unreadable', `${name}: PAD ${tensor(out).name} has no constant paddings`);
        const pads = [...order.map((d) => Number(p[2 * d])), ...order.map((d) => Number(p[2 * d + 1]))];
        const padsName = initializer(`${baseName[out]}/pads`, [pads.length], pads);
        nodes.push({ op: 'Pad', inputs: [activation(x, layout), padsName], outputs: [produced(out, layout)] });
        break;
      }
      case 'MAX_POOL_2D': {
        const [, h, wd] = tensor(op.inputs[0]!).shape as [number, number, number, number];
        const [top, bottom] = tfPads(h, op.filter[0], op.stride[0], 1, op.padding);
        const [left, right] = tfPads(wd, op.filter[1], op.stride[1], 1, op.padding);
        const attributes = { kernel_shape: op.filter, strides: op.stride, pads: [top, left, bottom, right] };
        emit({ op: 'MaxPool', inputs: [activation(op.inputs[0]!, 'nchw')], attributes }, op.activation, produced(out, 'nchw'));
        break;
      }
      case 'FULLY_CONNECTED': {
        // TFLite flattens the input in NHWC order; weights are [units, inputs] (Gemm with transB)
        const x = op.inputs[0]!;
        const inShape = tensor(x).shape;
        const spatial1 = inShape.length === 4 && inShape[1] === 1 && inShape[2] === 1;
        const source = inShape.length === 2 ? activation(x, layoutOf(x)) : spatial1 && layoutOf(x) === 'nchw' ? activation(x, 'nchw') : activation(x, 'nhwc');
        const [units, size] = tensor(op.inputs[1]!).shape as [number, number];
        const flat = unique(`${baseName[out]}/flat`);
        nodes.push({ op: 'Reshape', inputs: [source, initializer(`${baseName[out]}/flat_shape`, [2], [-1, size])], outputs: [flat] });
        const inputs = [flat, initializer(baseName[op.inputs[1]!]!, [units, size], floatData(op.inputs[1]!))];
        if ((op.inputs[2] ?? -1) >= 0) inputs.push(initializer(baseName[op.inputs[2]!]!, [units], floatData(op.inputs[2]!)));
        emit({ op: 'Gemm', inputs, attributes: { transB: 1 } }, op.activation, produced(out, 'nhwc'));
        break;
      }
      case 'PRELU': {
        const layout = layoutOf(op.inputs[0]!);
        const slope = layout === 'nchw' ? constantNchw(op.inputs[1]!) : constantPlain(op.inputs[1]!);
        const x = activation(op.inputs[0]!, layout);
        if (preluAs === 'PRelu') nodes.push({ op: 'PRelu', inputs: [x, slope], outputs: [produced(out, layout)] });
        else {
          zero ??= initializer('zero', [], Float32Array.of(0));
          const [r, m, ms] = ['relu', 'min', 'scaled'].map((k) => unique(`${baseName[out]}/${k}`)) as [string, string, string];
          nodes.push({ op: 'Relu', inputs: [x], outputs: [r] }, { op: 'Min', inputs: [x, zero], outputs: [m] }, { op: 'Mul', inputs: [m, slope], outputs: [ms] });
          nodes.push({ op: 'Add', inputs: [r, ms], outputs: [produced(out, layout)] });
        }
        break;
      }
      case 'RESHAPE': {
        const x = op.inputs[0]!;
        const inShape = tensor(x).shape;
        const outShape = tensor(out).shape;
        if (inShape[0] !== batch || outShape[0] !== batch) throw new FacekitError('unreadable', `${name}: RESHAPE ${tensor(out).name} changes the batch dimension`);
        // A map of 1x1 has the same element order in NCHW and NHWC: no transpose back needed.
        const spatial1 = inShape.length === 4 && inShape[1] === 1 && inShape[2] === 1;
        const source = spatial1 && layoutOf(x) === 'nchw' ? activation(x, 'nchw') : activation(x, 'nhwc');
        const shape = initializer(`${baseName[out]}/shape`, [outShape.length], [-1, ...outShape.slice(1)]);
        nodes.push({ op: 'Reshape', inputs: [source, shape], outputs: [produced(out, 'nhwc')] });
        break;
      }
    }
  }
  const outputNames = graph.outputs.map((i) => activation(i, 'nhwc'));
  const bytes = encodeOnnxModel({
    nodes, initializers, graphName: name, opset: OPSET, producer: 'facekit',
    docString: `converted from TFLite (${graph.description ?? 'no description'}) by facekit`,
    inputs: [{ name: baseName[inputIndex]!, shape: ['N', ...tensor(inputIndex).shape.slice(1)] }],
    outputs: graph.outputs.map((i, k) => ({ name: outputNames[k]!, shape: ['N', ...tensor(i).shape.slice(1)] })),
  });
  const nodeCounts = new Map<string, number>();
  for (const n of nodes) nodeCounts.set(n.op, (nodeCounts.get(n.op) ?? 0) + 1);
  return { bytes, inputName: baseName[inputIndex]!, outputName: outputNames[0]!, outputNames, nodeCounts };
}
