/** Evaluation: metrics, pair lists, projections (PCA, t-SNE) and plots. Pure: no models, no pipeline. */
export * from './metrics.js';
export * from './pairs.js';
export * from './projection/index.js';
export * from './plot/index.js';
