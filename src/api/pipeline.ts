/**
 * The pipeline's building blocks (public API, for tools built on facekit such as its own command
 * line and server): plans, stages' helpers, worker pools, the embedding cache.
 */
export * from '../pipeline/plan.js';
export { prepareDirs, readImage } from '../pipeline/run.js';
export { defaultWorkers, WorkerPool, type BatchOptions, type ImageJob } from '../pipeline/pool.js';
export * from '../pipeline/embeddings-cache.js';
export { SCHEMES, isSchemeId, previewTensor, type Scheme } from '../stages/normalization.js';
export { TEMPLATES } from '../stages/alignment.js';
