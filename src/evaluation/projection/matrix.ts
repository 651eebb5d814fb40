/**
 * The dense matrix type the projections work on, and conversions to and from plain vectors. Kept on
 * its own so that every algorithm module can share it without importing another.
 */
import { FacekitError } from '../../core/errors.js';

/** Row-major matrix: row i is data[i*cols .. (i+1)*cols). */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function matrixFrom(vectors: ArrayLike<number>[]): Matrix {
  const rows = vectors.length;
  const cols = rows ? vectors[0]!.length : 0;
  const data = new Float64Array(rows * cols);
  vectors.forEach((v, i) => {
    if (v.length !== cols) throw new FacekitError('model_mismatch', `cannot project a ${v.length}-d vector with ${cols}-d ones`);
    for (let k = 0; k < cols; k++) data[i * cols + k] = v[k]!;
  });
  return { rows, cols, data };
}

/** Row i of a matrix as an [x, y] pair (for 2-column results). */
export function points2d(m: Matrix): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < m.rows; i++) out.push([m.data[i * m.cols]!, m.data[i * m.cols + 1]!]);
  return out;
}

/* ---------------------------------------------------------------- t-SNE's options and result (shared by its two algorithms) */

export type TsneAlgorithm = 'auto' | 'exact' | 'barnes-hut';

export interface TsneOptions {
  perplexity: number;
  iterations: number;
  seed: number;
  algorithm: TsneAlgorithm;
  /** Barnes-Hut accuracy: a cell is summarised when its width / distance < theta (0 = exact) */
  theta?: number;
  /** called every 10 iterations */
  onIteration?: (iteration: number, total: number) => void;
}

export interface TsneResult {
  coords: Matrix;
  algorithm: 'exact' | 'barnes-hut';
  iterations: number;
  /** dimensions the Barnes-Hut path reduced the input to with PCA first (absent: none) */
  pcaDims?: number;
}

