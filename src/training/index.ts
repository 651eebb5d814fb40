/**
 * Training a small head on frozen embeddings (siamese or projection) and using it. Loading and
 * applying a head (head-file.ts) needs no tfjs; training loads tfjs-layers when it starts.
 */
export { trainHead, type TrainOptions, type TrainProgress, type TrainResult } from './train.js';
export {
  applyHead, loadHead, pairDistance, pairDistanceThreshold, pairScore,
  type Head, type HeadFile, type PairMetrics, type TrainReport, type WeightEntry,
} from './head-file.js';
export { tfjsHead, HEAD_UNITS } from './heads.js';
export { HEAD_KINDS, splitClasses, makePairs, type HeadKind, type LabelledEmbedding, type Pair, type Split } from './split.js';
