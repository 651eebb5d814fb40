/**
 * The models facekit can use (public API): the catalogue, the backends, and what each model is.
 * Re-exported here so that the command line and the server reach them through the API layer.
 */
export {
  DEFAULT_DETECTOR, DEFAULT_METRIC, DEFAULT_RECOGNIZER, DETECTORS, METRICS, RECOGNIZERS,
  isDetectorId, isMetric, isRecognizerId,
  type DetectorId, type DetectorInfo, type Metric, type ModelInfo, type RecognizerId, type RecognizerInfo, type SchemeId, type TemplateId,
} from '../models/catalogue.js';
export { BACKENDS, packageDir, type BackendChoice } from '../models/runtime.js';
export { analysisModelRows, modelBytes, modelRows, type ModelRow } from '../models/inventory.js';
export { SCHEMES, isSchemeId } from '../stages/normalization.js';
export {
  AGE_GENDER_MODELS, ANALYSIS_ACTIONS, DEFAULT_AGE_GENDER_MODEL, DEFAULT_EMOTION_MODEL, DEFAULT_SPOOF_MODEL, EMOTION_MODELS, SPOOF_MODELS,
  isAgeGenderModelId, isEmotionModelId, isSpoofModelId,
  type AgeGenderModelId, type AnalysisAction, type EmotionModelId, type SpoofModelId,
} from '../models/analyzers/index.js';
export { analysisOptions, parseActions, type AnalysisChoice, type AnalysisOptions } from '../stages/analysis.js';
export { EMOTION_LABELS } from '../core/records.js';
