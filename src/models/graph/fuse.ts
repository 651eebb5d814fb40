/**
 * Graph rewrites that keep the numbers and cut the work. TOCO exported MobileFaceNet's PReLU as
 * five element-wise operators, relu(x) + a * (x - |x|); each pass reads and writes the whole
 * activation, so it costs more than the depthwise convolutions around it. That pattern equals
 * PReLU with slope 2a (x < 0: 0 + a * 2x), one operator that ORT and tfjs both have. MTCNN's
 * ONet has relu(x) + a * -relu(-x): PReLU with slope a.
 */
import type { GraphOp, GraphTensor, TfliteGraph } from './tflite.js';

/** How many operators read each tensor (graph outputs count as one more reader). */
function readers(graph: TfliteGraph): number[] {
  const n = new Array<number>(graph.tensors.length).fill(0);
  for (const op of graph.ops) for (const i of op.inputs) if (i >= 0) n[i]!++;
  for (const i of graph.outputs) n[i]!++;
  return n;
}

/**
 * Replace every relu(x) + a * (x - abs(x)) by prelu(x, 2a) and every relu(x) + a * neg(relu(neg(x)))
 * by prelu(x, a) (constant a, any operand order of ADD/MUL).
 */
export function fusePrelu(graph: TfliteGraph): TfliteGraph {
  const producer = new Map<number, number>();
  graph.ops.forEach((op, i) => op.outputs.forEach((t) => producer.set(t, i)));
  const count = readers(graph);
  const tensors: GraphTensor[] = [...graph.tensors];
  const removed = new Set<number>();
  const replaced = new Map<number, GraphOp>();
  const made = (t: number, name: GraphOp['op']): number | undefined => {
    const i = producer.get(t);
    if (i === undefined || removed.has(i)) return undefined;
    const op = graph.ops[i]!;
    if (op.op !== name || ('activation' in op && op.activation !== 'none') || count[t] !== 1) return undefined;
    return i;
  };
  const constant = (t: number): Float32Array | undefined => {
    const d = graph.tensors[t]?.data;
    return d instanceof Float32Array ? d : undefined;
  };

  /** x - abs(x) (= 2 min(x, 0)) or neg(relu(neg(x))) (= min(x, 0)) computed from t: its operators and factor. */
  const negativePart = (t: number, x: number): { ops: number[]; factor: number } | undefined => {
    const subIndex = made(t, 'SUB');
    if (subIndex !== undefined) {
      const sub = graph.ops[subIndex]!;
      const absIndex = made(sub.inputs[1]!, 'ABS');
      if (sub.inputs[0] !== x || absIndex === undefined || graph.ops[absIndex]!.inputs[0] !== x) return undefined;
      return { ops: [subIndex, absIndex], factor: 2 };
    }
    const outer = made(t, 'NEG');
    const relu = outer === undefined ? undefined : made(graph.ops[outer]!.inputs[0]!, 'RELU');
    const inner = relu === undefined ? undefined : made(graph.ops[relu]!.inputs[0]!, 'NEG');
    if (inner === undefined || graph.ops[inner]!.inputs[0] !== x) return undefined;
    return { ops: [outer!, relu!, inner], factor: 1 };
  };

  graph.ops.forEach((add, addIndex) => {
    if (add.op !== 'ADD' || add.activation !== 'none') return;
    for (const [reluSide, mulSide] of [[0, 1], [1, 0]] as const) {
      const reluIndex = made(add.inputs[reluSide]!, 'RELU');
      const mulIndex = made(add.inputs[mulSide]!, 'MUL');
      if (reluIndex === undefined || mulIndex === undefined) continue;
      const x = graph.ops[reluIndex]!.inputs[0]!;
      const mul = graph.ops[mulIndex]!;
      const alphaSide = constant(mul.inputs[0]!) ? 0 : constant(mul.inputs[1]!) ? 1 : -1;
      if (alphaSide < 0) continue;
      const negative = negativePart(mul.inputs[1 - alphaSide]!, x);
      if (!negative) continue;
      const alpha = graph.tensors[mul.inputs[alphaSide]!]!;
      const slope = Float32Array.from(alpha.data as Float32Array, (v) => negative.factor * v);
      tensors.push({ name: `${alpha.name}/prelu_slope`, shape: [...alpha.shape], type: 'float32', data: slope });
      for (const i of [reluIndex, mulIndex, ...negative.ops]) removed.add(i);
      replaced.set(addIndex, { op: 'PRELU', inputs: [x, tensors.length - 1], outputs: add.outputs });
      return;
    }
  });
  const ops = graph.ops.flatMap((op, i) => (removed.has(i) ? [] : [replaced.get(i) ?? op]));
  return { ...graph, tensors, ops };
}
