/**
 * The heads as tfjs-layers networks, for training (and to check the plain-JS inference against).
 * tfjs-layers is loaded only here, only when a network is built, and runs on the one tfjs-core
 * instance (and backend) that models/runtime.ts starts.
 */
import { createRequire } from 'node:module';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { FacekitError } from '../core/errors.js';
import { initBackend, tf } from '../models/runtime.js';
import { headLayout, prepareInput, type Head, type NamedWeight } from './head-file.js';
import type { HeadKind } from './split.js';

type Tfl = typeof TfLayers;
type Layer = TfLayers.layers.Layer;
type Shape = Array<number | null>;

const require = createRequire(import.meta.url);
let layersModule: Tfl | undefined;

/**
 * tfjs-layers, loaded on first use. It is a dependency of @tensorflow/tfjs, not of facekit
 * itself: when it is not where Node finds facekit's own packages, look next to tfjs. Its
 * require('@tensorflow/tfjs-core') is the same package runtime.ts loads (and tfjs-core keeps
 * its engine in a global, so even a second copy would share the backend).
 */
export function tfLayers(): Tfl {
  if (layersModule) return layersModule;
  try {
    layersModule = require('@tensorflow/tfjs-layers') as Tfl;
  } catch {
    try {
      const beside = createRequire(require.resolve('@tensorflow/tfjs/package.json'));
      layersModule = beside('@tensorflow/tfjs-layers') as Tfl;
    } catch {
      throw new FacekitError('backend', 'training needs @tensorflow/tfjs-layers (installed with @tensorflow/tfjs), which cannot be loaded here');
    }
  }
  return layersModule;
}

/** The embedding size of every head (siamese twin branch, projection). */
export const HEAD_UNITS = 256;
/** The projection's classifier sees the unit-length embedding times this: softmax needs logits larger than +-1 to be sure of anything (NormFace's scale). */
const CLASSIFIER_SCALE = 16;

interface LinearArgs {
  name: string;
  units: number;
  seed: number;
  useBias?: boolean;
  /** false for a layer on the model's input: nothing needs the gradient with respect to it */
  inputGrad?: boolean;
  /** initial kernel: normal with this standard deviation; default Glorot uniform */
  stddev?: number;
}

interface LayerClasses {
  Linear: new (args: LinearArgs) => Layer;
  AbsDiff: new (args: { name: string }) => Layer;
  L2Normalize: new (args: { name: string }) => Layer;
}

let classes: LayerClasses | undefined;

/**
 * Three small layers of our own. Linear is a Dense layer with a hand-written gradient: tfjs-core's
 * MatMul gradient multiplies by transposed operands, which the WASM backend runs about 10x slower
 * than a transpose and a plain product (measured 30 ms against 3 ms for 32x1280 by 32x256); with
 * it a siamese epoch takes half the time. AbsDiff is the siamese L1 distance and L2Normalize the
 * projection's unit length (tfjs-layers has neither, nor a Lambda layer).
 */
function layerClasses(): LayerClasses {
  if (classes) return classes;
  const L = tfLayers();
  const t = tf();
  const linearOp = (inputGrad: boolean) =>
    t.customGrad((...args: unknown[]) => {
      const save = args.pop() as (ts: Tensor[]) => void;
      const [x, w, b] = args as [Tensor2D, Tensor2D, Tensor | undefined];
      save([x, w]);
      const y = t.matMul(x, w);
      return {
        value: b ? t.add(y, b) : y,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [sx, sw] = saved as [Tensor2D, Tensor2D];
          const dx = inputGrad ? t.matMul(dy as Tensor2D, t.transpose(sw)) : t.zerosLike(sx);
          const dw = t.matMul(t.transpose(sx), dy as Tensor2D);
          return b ? [dx, dw, t.sum(dy, 0)] : [dx, dw];
        },
      };
    });
  const one = (inputs: Tensor | Tensor[]) => (Array.isArray(inputs) ? inputs[0]! : inputs);

  class Linear extends L.layers.Layer {
    static className = 'FacekitLinear';
    private readonly args: LinearArgs;
    private readonly op: (...ts: Tensor[]) => Tensor;
    private kernel: TfLayers.LayerVariable | undefined;
    private bias: TfLayers.LayerVariable | undefined;
    constructor(args: LinearArgs) {
      super({ name: args.name });
      this.args = args;
      this.op = linearOp(args.inputGrad ?? true);
    }
    override build(shape: Shape | Shape[]): void {
      const s = (Array.isArray(shape[0]) ? shape[0] : shape) as Shape;
      const { seed, stddev } = this.args;
      const init = stddev === undefined ? L.initializers.glorotUniform({ seed }) : L.initializers.randomNormal({ mean: 0, stddev, seed });
      this.kernel = this.addWeight('kernel', [s[s.length - 1]!, this.args.units], 'float32', init);
      if (this.args.useBias ?? true) this.bias = this.addWeight('bias', [this.args.units], 'float32', L.initializers.zeros());
      this.built = true;
    }
    override computeOutputShape(shape: Shape | Shape[]): Shape {
      const s = (Array.isArray(shape[0]) ? shape[0] : shape) as Shape;
      return [...s.slice(0, -1), this.args.units];
    }
    override call(inputs: Tensor | Tensor[]): Tensor {
      const ts = [one(inputs), this.kernel!.read()];
      if (this.bias) ts.push(this.bias.read());
      return this.op(...ts);
    }
  }

  class AbsDiff extends L.layers.Layer {
    static className = 'FacekitAbsDiff';
    override computeOutputShape(shape: Shape | Shape[]): Shape {
      return shape[0] as Shape;
    }
    override call(inputs: Tensor | Tensor[]): Tensor {
      const [a, b] = inputs as Tensor[];
      return t.tidy(() => t.abs(t.sub(a!, b!)));
    }
  }

  class L2Normalize extends L.layers.Layer {
    static className = 'FacekitL2Normalize';
    override computeOutputShape(shape: Shape | Shape[]): Shape | Shape[] {
      return shape;
    }
    override call(inputs: Tensor | Tensor[]): Tensor {
      const x = one(inputs);
      return t.tidy(() => t.mul(x, t.rsqrt(t.maximum(t.sum(t.square(x), -1, true), 1e-12))));
    }
  }

  classes = { Linear, AbsDiff, L2Normalize } as unknown as LayerClasses;
  return classes;
}

/** A head's network: the training graph (logits) and the head's own output. */
export interface Net {
  kind: HeadKind;
  inputDim: number;
  /** the training loss of a batch: siamese [a, b] with 0/1 labels [n, 1]; projection [x] with one-hot labels [n, classes] */
  loss(inputs: Tensor2D[], labels: Tensor2D): Scalar;
  /** siamese: the twin branch's output; projection: the unit-length embedding */
  embed(x: Tensor2D): Tensor2D;
  /** siamese only: p(same) for rows of a and b */
  probability(a: Tensor2D, b: Tensor2D): Tensor2D;
  /** the head's weights (layout of head.json), or all of them (for a checkpoint: the projection's classifier too) */
  weights(all: boolean): NamedWeight[];
  setWeights(values: Record<string, Float32Array>): void;
  dispose(): void;
}

/**
 * Build a head. Siamese: one Linear(dim -> 256) applied to both embeddings (shared weights),
 * |a' - b'|, Linear(256 -> 1) giving the logit of "same". Linear and not ReLU in the branch: the
 * head then is a learnt, weighted L1 distance in a learnt 256-d space, which is fast to train
 * and to run in plain JS. Projection: Linear(dim -> 256), unit length, and (training only) a
 * softmax classifier over `classes` train classes. Initialisation is seeded.
 */
export function buildNet(kind: HeadKind, inputDim: number, numClasses: number, seed: number): Net {
  // The first layer starts near zero (outputs ~0.02 in size): what it ends up with is then
  // mostly what the loss asked for. From Glorot's random start, the directions the loss does not
  // push on (dimensions that carry no identity) stay in the output as random noise. Synthetic,
  // 32-d, identity in 8 dims, 14 train classes: held-out accuracy 0.57 -> 0.85 (projection),
  // 0.82 -> 0.91 (siamese). The price: the head keeps little beyond what the train classes
  // span; with few classes and identity spread over all dims (1280-d isotropic, 28 classes) the
  // projection's best held-out accuracy is 0.83, against 0.99 from Glorot's start and 1.0 for
  // plain cosine. The report's baseline shows such a case.
  const stddev = 0.02 / Math.sqrt(inputDim);
  const L = tfLayers();
  const t = tf();
  const { Linear, AbsDiff, L2Normalize } = layerClasses();
  const named = new Map<string, Layer>();
  const add = <T extends Layer>(l: T): T => (named.set(l.name, l), l);
  let model: TfLayers.LayersModel | undefined;
  let net: Pick<Net, 'loss' | 'embed' | 'probability'>;
  if (kind === 'siamese') {
    const branch = add(new Linear({ name: 'branch', units: HEAD_UNITS, seed, inputGrad: false, stddev }));
    const diff = new AbsDiff({ name: 'diff' });
    const out = add(new Linear({ name: 'out', units: 1, seed: seed + 1 }));
    const inA = L.input({ shape: [inputDim], name: 'a' }), inB = L.input({ shape: [inputDim], name: 'b' });
    const logit = out.apply(diff.apply([branch.apply(inA), branch.apply(inB)] as TfLayers.SymbolicTensor[])) as TfLayers.SymbolicTensor;
    model = L.model({ inputs: [inA, inB], outputs: logit });
    const m = model;
    net = {
      loss: (inputs, labels) => t.losses.sigmoidCrossEntropy(labels, m.apply(inputs, { training: true }) as Tensor2D) as Scalar,
      embed: (x) => branch.apply(x) as Tensor2D,
      probability: (a, b) => t.tidy(() => t.sigmoid(m.apply([a, b]) as Tensor2D)),
    };
  } else {
    const proj = add(new Linear({ name: 'proj', units: HEAD_UNITS, seed, inputGrad: false, stddev }));
    const norm = new L2Normalize({ name: 'norm' });
    const embed = (x: Tensor2D) => t.tidy(() => norm.apply(proj.apply(x)) as Tensor2D);
    if (numClasses >= 2) {
      const scale = L.layers.rescaling({ scale: CLASSIFIER_SCALE, name: 'scale' });
      const classifier = add(new Linear({ name: 'classifier', units: numClasses, seed: seed + 1, useBias: false }));
      const input = L.input({ shape: [inputDim], name: 'x' });
      const logits = classifier.apply(scale.apply(norm.apply(proj.apply(input)))) as TfLayers.SymbolicTensor;
      model = L.model({ inputs: input, outputs: logits });
    } else {
      // an inference-only projection (a loaded head): build the weights without a classifier
      t.tidy(() => { embed(t.zeros([1, inputDim]) as Tensor2D); });
    }
    const m = model;
    net = {
      loss: (inputs, labels) => {
        if (!m) throw new FacekitError('internal', 'this projection network has no classifier to train');
        return t.losses.softmaxCrossEntropy(labels, m.apply(inputs[0]!, { training: true }) as Tensor2D) as Scalar;
      },
      embed,
      probability: () => { throw new FacekitError('usage', 'a projection head gives no probability: compare its embeddings by cosine distance'); },
    };
  }
  const layout = headLayout(kind, inputDim, HEAD_UNITS);
  // Linear is the only layer with weights: kernel, then bias
  const entries = (): Array<{ name: string; layer: Layer; k: number }> =>
    [...named.values()].flatMap((layer) => layer.weights.map((_, k) => ({ name: `${layer.name}/${k === 0 ? 'kernel' : 'bias'}`, layer, k })));
  return {
    kind, inputDim, ...net,
    weights(all) {
      const wanted = new Set(layout.map((l) => l.name));
      return entries()
        .filter((e) => all || wanted.has(e.name))
        .map((e) => {
          const v = e.layer.getWeights()[e.k]!;
          return { name: e.name, shape: [...v.shape], data: new Float32Array(v.dataSync() as Float32Array) };
        });
    },
    setWeights(values) {
      for (const layer of named.values()) {
        const ws = layer.weights.map((w, k) => {
          const name = `${layer.name}/${k === 0 ? 'kernel' : 'bias'}`;
          const shape = w.shape as number[];
          const data = values[name];
          if (!data || data.length !== shape.reduce((a, b) => a * b, 1)) throw new FacekitError('internal', `no weights, or weights of another size, for ${name}`);
          return t.tensor(data, shape);
        });
        layer.setWeights(ws);
        t.dispose(ws);
      }
    },
    // the weights themselves: model.dispose() would keep the siamese branch (used twice, so
    // counted twice) and knows nothing of an inference-only projection
    dispose() {
      for (const l of named.values()) for (const w of l.weights) w.dispose();
    },
  };
}

/**
 * A loaded head run by tfjs instead of plain JS (on the backend runtime.ts starts, WASM unless
 * one is already running): to check the two against each other, or for large batches.
 */
export async function tfjsHead(head: Head): Promise<{
  backend: string;
  embed(vectors: ArrayLike<number>[]): Float32Array[];
  score(pairs: Array<[ArrayLike<number>, ArrayLike<number>]>): number[];
  dispose(): void;
}> {
  const backend = await initBackend('wasm');
  const t = tf();
  const net = buildNet(head.kind, head.inputDim, 0, 0);
  net.setWeights(head.params);
  const batch = (vs: ArrayLike<number>[]) => {
    const data = new Float32Array(vs.length * head.inputDim);
    vs.forEach((v, k) => {
      if (v.length !== head.inputDim) throw new FacekitError('model_mismatch', `a ${v.length}-d embedding for a head trained on ${head.inputDim}-d embeddings`, head.dir);
      data.set(prepareInput(v), k * head.inputDim);
    });
    return t.tensor2d(data, [vs.length, head.inputDim]);
  };
  // tidy() walks what it returns: return the tensor and read it outside, never big JS arrays
  const read = (f: () => Tensor): Float32Array => {
    const y = t.tidy(f);
    try {
      return y.dataSync() as Float32Array;
    } finally {
      y.dispose();
    }
  };
  return {
    backend,
    embed(vectors) {
      const data = read(() => net.embed(batch(vectors)));
      return vectors.map((_, k) => data.slice(k * HEAD_UNITS, (k + 1) * HEAD_UNITS));
    },
    score(pairs) {
      const data = read(() => {
        const a = batch(pairs.map((p) => p[0])), b = batch(pairs.map((p) => p[1]));
        if (head.kind === 'siamese') return net.probability(a, b);
        return t.sub(1, t.sum(t.mul(net.embed(a), net.embed(b)), 1));
      });
      return Array.from(data);
    },
    dispose: () => net.dispose(),
  };
}
