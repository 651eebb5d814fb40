/**
 * t-SNE options, limits and the entry point: checks the perplexity and iteration count, then picks
 * exact t-SNE (tsne-js, small sets) or our Barnes-Hut approximation (larger ones).
 */
import { FacekitError } from '../../core/errors.js';
import { barnesHutTsne } from './barnes-hut.js';
import type { Matrix } from './matrix.js';
import { exactTsne } from './tsne-exact.js';

export type { TsneAlgorithm, TsneOptions, TsneResult } from './matrix.js';
import type { TsneOptions, TsneResult } from './matrix.js';

/**
 * Up to this many points, exact t-SNE (tsne-js); beyond, Barnes-Hut. Measured with `facekit tsne`
 * on LFW resnet34 embeddings, 1000 iterations, on this project's 2-core machine (median of 3):
 * tsne-js 3.4 s at 100 points, 6.7 s at 150, 10.8 s at 200, 23 s at 300, 60 s at 500 (its cost
 * grows with n^2 per iteration, and so does its memory); Barnes-Hut 0.8 s at 100, 1.6 s at 500,
 * 2.9 s at 1 000, 17.6 s at 5 000, 31 s at 7 701.
 */
export const EXACT_LIMIT = 150;
export const MIN_ITERATIONS = 250;

/** The largest perplexity n points allow: each point needs 3 x perplexity neighbours. */
export function maxPerplexity(n: number): number {
  return (n - 1) / 3;
}

/** The default: 30 (the usual), or less when there are few points. */
export function defaultPerplexity(n: number): number {
  return Math.max(1, Math.min(30, Math.floor(maxPerplexity(n) * 100) / 100));
}

export function checkPerplexity(perplexity: number, n: number): void {
  if (n < 4) throw new FacekitError('usage', `t-SNE needs at least 4 points, there are ${n}; use --method pca`);
  if (perplexity < 1) throw new FacekitError('usage', `--perplexity must be at least 1, got ${perplexity}`);
  const max = maxPerplexity(n);
  if (perplexity > max) {
    throw new FacekitError('usage',
      `--perplexity ${perplexity} is too large for ${n} points: at most ${Math.floor(max * 100) / 100} ((points - 1) / 3); lower it, or leave it out for the default`);
  }
}

/** t-SNE of the rows of x into 2-D. Same input, options and seed: same output. */
export function tsne(x: Matrix, opts: TsneOptions): TsneResult {
  checkPerplexity(opts.perplexity, x.rows);
  if (opts.iterations < MIN_ITERATIONS) throw new FacekitError('usage', `--iterations must be at least ${MIN_ITERATIONS}, got ${opts.iterations}`);
  const algorithm = opts.algorithm === 'auto' ? (x.rows <= EXACT_LIMIT ? 'exact' : 'barnes-hut') : opts.algorithm;
  return algorithm === 'exact' ? exactTsne(x, opts) : barnesHutTsne(x, opts);
}
