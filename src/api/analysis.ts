/** Analysis (public API): evaluation metrics, projections (PCA, t-SNE) and plots. */
export * from '../analysis/evaluation.js';
export * from '../analysis/projection/index.js';
export * from '../analysis/plot/index.js';
