/**
 * Exact t-SNE through tsne-js (O(n^2) per iteration, for small sets), loaded lazily as CommonJS and
 * started from a seeded layout so that the result is deterministic.
 */
import { createRequire } from 'node:module';
import type { Matrix } from './matrix.js';
import { gaussian, seededRandom } from './random.js';
import type { TsneOptions, TsneResult } from './matrix.js';

interface TsneJsModel {
  init(opts: { data: number[][]; type: 'dense' }): void;
  run(): [number, number];
  getOutput(): number[][];
  outputEmbedding: { data: Float64Array };
  on(event: 'progressIter', listener: (v: [number, number, number]) => void): void;
}
type TsneJsConstructor = new (config: {
  dim: number; perplexity: number; earlyExaggeration: number; learningRate: number; nIter: number; metric: 'euclidean';
}) => TsneJsModel;

let tsneJs: TsneJsConstructor | undefined;
function loadTsneJs(): TsneJsConstructor {
  tsneJs ??= createRequire(import.meta.url)('tsne-js') as TsneJsConstructor;
  return tsneJs;
}

/** Exact t-SNE by tsne-js, started from a seeded layout instead of its unseeded Math.random one. */
export function exactTsne(x: Matrix, opts: TsneOptions): TsneResult {
  const TSNE = loadTsneJs();
  const model = new TSNE({
    dim: 2, perplexity: opts.perplexity, earlyExaggeration: 4, learningRate: 100, nIter: opts.iterations, metric: 'euclidean',
  });
  const rows: number[][] = [];
  for (let i = 0; i < x.rows; i++) rows.push(Array.from(x.data.subarray(i * x.cols, (i + 1) * x.cols)));
  model.init({ data: rows, type: 'dense' });
  const rand = gaussian(seededRandom(opts.seed));
  const y = model.outputEmbedding.data;
  for (let i = 0; i < y.length; i++) y[i] = rand() * 1e-4;
  let last = 0;
  model.on('progressIter', ([iter]) => {
    last = iter;
    if (iter % 10 === 0) opts.onIteration?.(iter, opts.iterations);
  });
  model.run();
  const out = model.getOutput();
  const data = new Float64Array(x.rows * 2);
  out.forEach((p, i) => {
    data[2 * i] = p[0]!;
    data[2 * i + 1] = p[1]!;
  });
  return { coords: { rows: x.rows, cols: 2, data }, algorithm: 'exact', iterations: last + 1 };
}
