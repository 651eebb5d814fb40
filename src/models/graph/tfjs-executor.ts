/**
 * Runs a TFLite graph (as read by tflite.ts) with TensorFlow.js ops, NHWC as in the file: the
 * fallback where onnxruntime-node cannot load. A convolution followed by a PReLU or a fused ReLU
 * that nothing else reads runs as one fused tfjs op (the WASM backend fuses bias and activation
 * into its convolution kernel), which saves a pass over each activation map.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { FacekitError } from '../../core/errors.js';
import { tf } from '../runtime.js';
import type { Activation, GraphOp, TfliteGraph } from './tflite.js';

type FusedActivation = 'linear' | 'relu' | 'relu6' | 'prelu';

export interface TfjsExecutor {
  /** [n, h, w, c] in, the graph's (first) output out (batch first); call inside tf.tidy. */
  forward(x: TfCore.Tensor4D): TfCore.Tensor;
  /** Every output of the graph, in its order; call inside tf.tidy. */
  forwardAll(x: TfCore.Tensor4D): TfCore.Tensor[];
  /** Free the weight tensors. */
  dispose(): void;
}

/** How many operators read each tensor (graph outputs count as one more reader). */
function readerCounts(graph: TfliteGraph): number[] {
  const n = new Array<number>(graph.tensors.length).fill(0);
  for (const op of graph.ops) for (const i of op.inputs) if (i >= 0) n[i]!++;
  for (const i of graph.outputs) n[i]!++;
  return n;
}

function applyActivation(t: typeof TfCore, x: TfCore.Tensor, act: Activation): TfCore.Tensor {
  switch (act) {
    case 'none': return x;
    case 'relu': return t.relu(x);
    case 'relu6': return t.relu6(x);
    case 'relu_n1_to_1': return t.clipByValue(x, -1, 1);
    case 'tanh': return t.tanh(x);
  }
}

/**
 * Build the executor: weights become tfjs tensors once (convolution filters re-laid out as tfjs
 * wants them). Needs the tfjs backend started (runtime.initBackend).
 */
export function tfjsExecutor(graph: TfliteGraph): TfjsExecutor {
  const t = tf();
  if (graph.inputs.length !== 1 || graph.outputs.length === 0) throw new FacekitError('unreadable', 'only graphs with one input run');
  const weights = new Map<number, TfCore.Tensor>();
  const constant = (i: number, layout?: 'conv' | 'depthwise'): TfCore.Tensor => {
    let w = weights.get(i);
    if (!w) {
      const g = graph.tensors[i]!;
      if (!g.data) throw new FacekitError('internal', `tensor ${g.name} has no data`);
      w = t.tidy(() => {
        const raw = g.data instanceof Float32Array ? t.tensor(g.data, g.shape, 'float32') : t.tensor(g.data!, g.shape, 'int32');
        // OHWI -> HWIO for conv2d; [1, h, w, c * m] -> [h, w, c, m] for depthwiseConv2d (same order).
        if (layout === 'conv') return t.transpose(raw, [1, 2, 3, 0]);
        if (layout === 'depthwise') return t.reshape(raw, [g.shape[1]!, g.shape[2]!, -1, 1]);
        return raw;
      });
      weights.set(i, w);
    }
    return w;
  };

  // A conv whose only reader is the next op, a PRELU, runs as one fused op: remember the pairs.
  const readers = readerCounts(graph);
  const fusedPrelu = new Map<number, number>(); // conv op index -> slope tensor
  const skip = new Set<number>();
  graph.ops.forEach((op, i) => {
    const next = graph.ops[i + 1];
    if ((op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D') && op.activation === 'none' && next?.op === 'PRELU'
      && next.inputs[0] === op.outputs[0] && readers[op.outputs[0]!] === 1) {
      fusedPrelu.set(i, next.inputs[1]!);
      skip.add(i + 1);
    }
  });
  // Pre-build every weight now, so that the first forward pass does not pay for it.
  graph.ops.forEach((op, i) => {
    if (op.op === 'CONV_2D') constant(op.inputs[1]!, 'conv');
    if (op.op === 'DEPTHWISE_CONV_2D') constant(op.inputs[1]!, 'depthwise');
    if (fusedPrelu.has(i)) constant(fusedPrelu.get(i)!);
    for (const [k, input] of op.inputs.entries()) if (input >= 0 && graph.tensors[input]!.data && !(k === 1 && op.op.endsWith('CONV_2D'))) constant(input);
  });

  // The last operator that reads each activation: it is freed right after, which keeps a large
  // batch's peak memory at a few maps instead of every map of the network.
  const lastRead = new Map<number, number>();
  graph.ops.forEach((op, i) => op.inputs.forEach((input) => input >= 0 && !graph.tensors[input]!.data && lastRead.set(input, skip.has(i) ? i - 1 : i)));

  const batch = graph.tensors[graph.inputs[0]!]!.shape[0]!;
  const run = (op: GraphOp, index: number, value: (i: number) => TfCore.Tensor): TfCore.Tensor => {
    switch (op.op) {
      case 'CONV_2D':
      case 'DEPTHWISE_CONV_2D': {
        const slope = fusedPrelu.get(index);
        const simple: Partial<Record<Activation, FusedActivation>> = { none: 'linear', relu: 'relu', relu6: 'relu6' };
        const activation: FusedActivation = slope !== undefined ? 'prelu' : simple[op.activation] ?? 'linear';
        const args = {
          x: value(op.inputs[0]!) as TfCore.Tensor4D,
          filter: constant(op.inputs[1]!, op.op === 'CONV_2D' ? 'conv' : 'depthwise') as TfCore.Tensor4D,
          strides: op.stride, pad: op.padding, dilations: op.dilation,
          bias: op.inputs[2] !== undefined && op.inputs[2] >= 0 ? constant(op.inputs[2]) : undefined,
          activation,
          preluActivationWeights: slope !== undefined ? constant(slope) : undefined,
        };
        const y = op.op === 'CONV_2D' ? t.fused.conv2d(args) : t.fused.depthwiseConv2d(args);
        return simple[op.activation] ? y : applyActivation(t, y, op.activation);
      }
      case 'ADD':
      case 'SUB':
      case 'MUL': {
        const [a, b] = [value(op.inputs[0]!), value(op.inputs[1]!)];
        const y = op.op === 'ADD' ? t.add(a, b) : op.op === 'SUB' ? t.sub(a, b) : t.mul(a, b);
        return applyActivation(t, y, op.activation);
      }
      case 'RELU': return t.relu(value(op.inputs[0]!));
      case 'NEG': return t.neg(value(op.inputs[0]!));
      case 'LOGISTIC': return t.sigmoid(value(op.inputs[0]!));
      case 'PAD': {
        const p = graph.tensors[op.inputs[1]!]!.data!;
        const pairs = Array.from({ length: p.length / 2 }, (_, i) => [p[2 * i]!, p[2 * i + 1]!] as [number, number]);
        return t.pad(value(op.inputs[0]!), pairs);
      }
      case 'MAX_POOL_2D':
        return applyActivation(t, t.maxPool(value(op.inputs[0]!) as TfCore.Tensor4D, op.filter, op.stride, op.padding), op.activation);
      case 'FULLY_CONNECTED': {
        // TFLite flattens NHWC; weights [units, inputs]
        const x = t.reshape(value(op.inputs[0]!), [-1, graph.tensors[op.inputs[1]!]!.shape[1]!]) as TfCore.Tensor2D;
        const y = t.matMul(x, constant(op.inputs[1]!) as TfCore.Tensor2D, false, true);
        const b = op.inputs[2];
        return applyActivation(t, b !== undefined && b >= 0 ? t.add(y, constant(b)) : y, op.activation);
      }
      case 'ABS': return t.abs(value(op.inputs[0]!));
      case 'PRELU': return t.prelu(value(op.inputs[0]!), value(op.inputs[1]!));
      case 'RESHAPE': {
        const shape = graph.tensors[op.outputs[0]!]!.shape;
        if (shape[0] !== batch) throw new FacekitError('unreadable', `RESHAPE to [${shape.join(',')}] changes the batch dimension`);
        return t.reshape(value(op.inputs[0]!), [-1, ...shape.slice(1)]);
      }
    }
  };

  const executor: TfjsExecutor = {
    forward: (x) => executor.forwardAll(x)[0]!,
    forwardAll(x) {
      const values = new Map<number, TfCore.Tensor>([[graph.inputs[0]!, x]]);
      const value = (i: number): TfCore.Tensor => values.get(i) ?? (graph.tensors[i]!.data ? constant(i) : missing(i));
      const missing = (i: number): never => {
        throw new FacekitError('internal', `tensor ${graph.tensors[i]!.name} is used before it is computed`);
      };
      graph.ops.forEach((op, i) => {
        if (skip.has(i)) return;
        const out = fusedPrelu.has(i) ? graph.ops[i + 1]!.outputs[0]! : op.outputs[0]!;
        values.set(out, run(op, i, value));
        for (const input of skip.has(i + 1) ? [...op.inputs, ...graph.ops[i + 1]!.inputs] : op.inputs) {
          if (lastRead.get(input) === i && input !== graph.inputs[0] && !graph.outputs.includes(input)) {
            values.get(input)?.dispose();
            values.delete(input);
          }
        }
      });
      return graph.outputs.map((o) => values.get(o)!);
    },
    dispose() {
      for (const w of weights.values()) w.dispose();
      weights.clear();
    },
  };
  return executor;
}
