/**
 * A TFLite model (a FlatBuffer, schema.fbs) read into a plain graph: tensors with shape, type and
 * constant data, and operators with their builtin options. It covers the operators facekit's
 * TFLite recognizers use (MobileFaceNet: CONV_2D, DEPTHWISE_CONV_2D, ADD, SUB, MUL, RELU, ABS,
 * RESHAPE) plus PRELU, which fuse.ts makes out of the RELU/ABS/SUB/MUL/ADD pattern, and those of
 * MTCNN's ONet (NEG, MAX_POOL_2D, FULLY_CONNECTED); anything else is refused by name, so a changed
 * model file fails at load, not with wrong numbers. A graph can be read up to chosen outputs only
 * (ONet's landmarks), leaving out the operators that only the other outputs need.
 * Constant weights stored as float16 or as affine-quantized integers are dequantized to float32.
 */
import { FacekitError } from '../../core/errors.js';
import { rootTable, type FlatTable } from './flatbuffer.js';

export type Activation = 'none' | 'relu' | 'relu_n1_to_1' | 'relu6' | 'tanh';
export type Padding = 'same' | 'valid';

/** The builtin operator codes of schema.fbs this reader knows. */
const BUILTIN_NAMES: Record<number, string> = {
  0: 'ADD', 3: 'CONV_2D', 4: 'DEPTHWISE_CONV_2D', 9: 'FULLY_CONNECTED', 14: 'LOGISTIC', 17: 'MAX_POOL_2D', 18: 'MUL', 19: 'RELU',
  22: 'RESHAPE', 34: 'PAD', 41: 'SUB', 54: 'PRELU', 59: 'NEG', 101: 'ABS',
};
/** TensorType of schema.fbs. */
const TENSOR_TYPES: Record<number, string> = {
  0: 'float32', 1: 'float16', 2: 'int32', 3: 'uint8', 4: 'int64', 5: 'string', 6: 'bool', 7: 'int16', 9: 'int8', 10: 'float64',
};
const ACTIVATIONS: Record<number, Activation> = { 0: 'none', 1: 'relu', 2: 'relu_n1_to_1', 3: 'relu6', 4: 'tanh' };

export interface GraphTensor {
  name: string;
  /** Shape as stored; dimension 0 of activations is the batch the model was exported with. */
  shape: number[];
  /** Element type as stored in the file ('float32', 'int32', ...). */
  type: string;
  /** Constant data: float tensors (dequantized when stored otherwise) or int32 (shapes). */
  data?: Float32Array | Int32Array;
}

interface OpBase {
  /** Tensor indices; -1 is an optional input left out. */
  inputs: number[];
  outputs: number[];
}

export interface ConvOptions {
  padding: Padding;
  /** [height, width] */
  stride: [number, number];
  dilation: [number, number];
  activation: Activation;
}

export type GraphOp =
  | (OpBase & { op: 'CONV_2D' } & ConvOptions)
  | (OpBase & { op: 'DEPTHWISE_CONV_2D'; depthMultiplier: number } & ConvOptions)
  | (OpBase & { op: 'ADD' | 'SUB' | 'MUL'; activation: Activation })
  | (OpBase & { op: 'RELU' | 'ABS' | 'PRELU' | 'NEG' | 'LOGISTIC' })
  /** inputs: the activation, constant int32 paddings [rank, 2] (before, after per dimension, NHWC) */
  | (OpBase & { op: 'PAD' })
  | (OpBase & { op: 'MAX_POOL_2D'; padding: Padding; stride: [number, number]; filter: [number, number]; activation: Activation })
  | (OpBase & { op: 'FULLY_CONNECTED'; activation: Activation })
  | (OpBase & { op: 'RESHAPE'; newShape: number[] | undefined });

export type OpName = GraphOp['op'];

export interface TfliteGraph {
  tensors: GraphTensor[];
  ops: GraphOp[];
  inputs: number[];
  outputs: number[];
  description: string | undefined;
}

function activationOf(code: number, where: string): Activation {
  const a = ACTIVATIONS[code];
  if (!a) throw new FacekitError('unreadable', `${where}: fused activation ${code} is not supported`);
  return a;
}

function convOptions(t: FlatTable | undefined, depthwise: boolean, where: string): ConvOptions {
  // Conv2DOptions: padding, stride_w, stride_h, fused_activation_function, dilation_w, dilation_h.
  // DepthwiseConv2DOptions has depth_multiplier at index 3 and the rest shifted by one.
  const shift = depthwise ? 1 : 0;
  const padding = t?.int8(0) ?? 0;
  if (padding !== 0 && padding !== 1) throw new FacekitError('unreadable', `${where}: padding ${padding} is not supported`);
  return {
    padding: padding === 0 ? 'same' : 'valid',
    stride: [t?.int32(2) ?? 1, t?.int32(1) ?? 1],
    dilation: [t?.int32(5 + shift, 1) ?? 1, t?.int32(4 + shift, 1) ?? 1],
    activation: activationOf(t?.int8(3 + shift) ?? 0, where),
  };
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** A constant tensor's bytes as float32 (dequantized) or int32, copied out of the file. */
function constantData(bytes: Uint8Array, type: string, shape: number[], quant: FlatTable | undefined, name: string): Float32Array | Int32Array {
  const copy = bytes.slice(); // aligned, and independent of the file's buffer
  const view = new DataView(copy.buffer);
  if (type === 'float32') return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  if (type === 'int32') return new Int32Array(copy.buffer, 0, copy.byteLength / 4);
  if (type === 'float16') return Float32Array.from({ length: copy.byteLength / 2 }, (_, i) => halfToFloat(view.getUint16(2 * i, true)));
  if (type === 'int8' || type === 'uint8') {
    // QuantizationParameters: scale (2), zero_point (3), quantized_dimension (6); per axis or per tensor.
    const scale = quant?.float32s(2) ?? [];
    const zero = quant?.int64s(3) ?? [];
    if (scale.length === 0) throw new FacekitError('unreadable', `tensor ${name}: ${type} data without quantization scale`);
    const axis = quant?.int32(6) ?? 0;
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const channels = shape[axis] ?? 1;
    return Float32Array.from({ length: copy.byteLength }, (_, i) => {
      const q = type === 'int8' ? view.getInt8(i) : view.getUint8(i);
      const c = scale.length === 1 ? 0 : Math.floor(i / inner) % channels;
      return (q - (zero[c] ?? zero[0] ?? 0)) * scale[c]!;
    });
  }
  throw new FacekitError('unreadable', `tensor ${name}: constant data of type ${type} is not supported`);
}

function readOp(op: FlatTable, name: string, inputs: number[], outputs: number[]): GraphOp {
  const options = op.table(4); // builtin_options
  const where = `operator ${name}`;
  switch (name) {
    case 'CONV_2D':
      return { op: 'CONV_2D', inputs, outputs, ...convOptions(options, false, where) };
    case 'DEPTHWISE_CONV_2D':
      return { op: 'DEPTHWISE_CONV_2D', inputs, outputs, depthMultiplier: options?.int32(3, 1) ?? 1, ...convOptions(options, true, where) };
    case 'ADD':
    case 'SUB':
    case 'MUL':
      return { op: name, inputs, outputs, activation: activationOf(options?.int8(0) ?? 0, where) };
    case 'RELU':
    case 'ABS':
    case 'PRELU':
    case 'NEG':
    case 'LOGISTIC':
    case 'PAD':
      return { op: name, inputs, outputs };
    case 'MAX_POOL_2D': {
      // Pool2DOptions: padding, stride_w, stride_h, filter_width, filter_height, fused_activation_function
      const padding = options?.int8(0) ?? 0;
      if (padding !== 0 && padding !== 1) throw new FacekitError('unreadable', `${where}: padding ${padding} is not supported`);
      return {
        op: 'MAX_POOL_2D', inputs, outputs, padding: padding === 0 ? 'same' : 'valid',
        stride: [options?.int32(2) ?? 1, options?.int32(1) ?? 1], filter: [options?.int32(4) ?? 1, options?.int32(3) ?? 1],
        activation: activationOf(options?.int8(5) ?? 0, where),
      };
    }
    case 'FULLY_CONNECTED':
      // FullyConnectedOptions: fused_activation_function, weights_format (0: default), keep_num_dims
      if ((options?.int8(1) ?? 0) !== 0) throw new FacekitError('unreadable', `${where}: shuffled weights are not supported`);
      return { op: 'FULLY_CONNECTED', inputs, outputs, activation: activationOf(options?.int8(0) ?? 0, where) };
    case 'RESHAPE':
      return { op: 'RESHAPE', inputs, outputs, newShape: options?.has(0) ? options.int32s(0) : undefined };
    default:
      throw new FacekitError('unreadable', `${where} is not supported`);
  }
}

/**
 * Read a .tflite file's first subgraph. `what` names the file in errors. With `outputs` (tensor
 * names), the graph ends at those tensors: only the operators they depend on are read.
 */
export function readTflite(bytes: Uint8Array, what = 'TFLite model', outputs?: readonly string[]): TfliteGraph {
  const model = rootTable(bytes, 'TFL3', what);
  const codes = model.tables(1).map((c) => Math.max(c.int8(0), c.int32(3))); // deprecated_builtin_code, builtin_code
  const buffers = model.tables(4);
  const subgraph = model.tables(2)[0];
  if (!subgraph) throw new FacekitError('unreadable', `${what} has no subgraph`);

  const tensors: GraphTensor[] = subgraph.tables(0).map((t, i) => {
    const name = t.string(3) ?? `tensor_${i}`;
    const type = TENSOR_TYPES[t.uint8(1)] ?? `type ${t.uint8(1)}`;
    const shape = t.int32s(0);
    const buffer = buffers[t.uint32(2)];
    // Buffer: data (0), or offset (1) + size (2) into the file for models over 2 GB.
    let bytesOf = buffer?.bytes(0) ?? new Uint8Array(0);
    const offset = buffer?.uint64(1) ?? 0;
    if (bytesOf.byteLength === 0 && offset > 1) bytesOf = bytes.subarray(offset, offset + (buffer?.uint64(2) ?? 0));
    const tensor: GraphTensor = { name, shape, type };
    if (bytesOf.byteLength > 0) tensor.data = constantData(bytesOf, type, shape, t.table(4), name);
    return tensor;
  });

  let opTables = subgraph.tables(3);
  let graphOutputs = subgraph.int32s(2);
  if (outputs) {
    graphOutputs = outputs.map((n) => {
      const i = tensors.findIndex((t) => t.name === n);
      if (i < 0) throw new FacekitError('unreadable', `${what} has no tensor ${n}`);
      return i;
    });
    // walk back from the outputs: an operator is kept when a kept operator (or an output) reads what it writes
    const needed = new Set(graphOutputs);
    const keep = new Array<boolean>(opTables.length).fill(false);
    for (let i = opTables.length - 1; i >= 0; i--) {
      if (!opTables[i]!.int32s(2).some((t) => needed.has(t))) continue;
      keep[i] = true;
      for (const t of opTables[i]!.int32s(1)) if (t >= 0) needed.add(t);
    }
    opTables = opTables.filter((_, i) => keep[i]);
  }
  const ops = opTables.map((op, i) => {
    const code = codes[op.uint32(0)];
    const name = code === undefined ? undefined : BUILTIN_NAMES[code];
    if (name === undefined) throw new FacekitError('unreadable', `${what}: operator ${i} (builtin code ${code ?? '?'}) is not supported`);
    return readOp(op, name, op.int32s(1), op.int32s(2));
  });
  return { tensors, ops, inputs: subgraph.int32s(1), outputs: graphOutputs, description: model.string(3) };
}

/** The operators a graph uses, with how often, in first-use order (for reports and tests). */
export function opCounts(graph: TfliteGraph): Map<OpName, number> {
  const counts = new Map<OpName, number>();
  for (const op of graph.ops) counts.set(op.op, (counts.get(op.op) ?? 0) + 1);
  return counts;
}
