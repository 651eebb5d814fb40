/**
 * Embeddings down to 2-D for plotting. Pure functions over numbers, deterministic for a seed.
 *
 * - `pca`: principal components (quick, deterministic, keeps global layout).
 * - `tsne`: t-SNE. Small sets use tsne-js (exact t-SNE, O(n^2) per iteration); larger ones use the
 *   Barnes-Hut approximation written here (van der Maaten 2014: sparse input similarities over the
 *   3*perplexity nearest neighbours, repulsion summarised by a quadtree, O(n log n) per iteration),
 *   after PCA down to 50 dimensions when the vectors are wider.
 *
 * This module is the public face of the folder; the algorithms live one per file beside it.
 */
export { matrixFrom, points2d, type Matrix } from './matrix.js';
export { gaussian, seededRandom } from './random.js';
export { symmetricEigen } from './eigen.js';
export { pca, type PcaResult } from './pca.js';
export {
  checkPerplexity, defaultPerplexity, EXACT_LIMIT, maxPerplexity, MIN_ITERATIONS, tsne,
  type TsneAlgorithm, type TsneOptions, type TsneResult,
} from './tsne.js';
export { bhGradient, inputSimilarities, nearestNeighbours, type Csr } from './barnes-hut.js';
