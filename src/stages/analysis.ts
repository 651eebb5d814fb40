/**
 * Analyze: age, gender, emotion and real-or-spoof for each detected face. The models live in
 * models/analyzers; this stage picks them, runs only the ones the actions need, and turns their
 * raw outputs into the record's `analysis` key (rounded, with names as deepface uses them).
 */
import { FacekitError } from '../core/errors.js';
import type { RgbImage } from '../core/image.js';
import { EMOTION_LABELS, type EmotionLabel, type FaceAnalysis, type Gender, type SpoofVerdict } from '../core/records.js';
import {
  AGE_GENDER_MODELS, ANALYSIS_ACTIONS, EMOTION_MODELS, SPOOF_MODELS, DEFAULT_AGE_GENDER_MODEL, DEFAULT_EMOTION_MODEL,
  DEFAULT_SPOOF_MODEL, isAgeGenderModelId, isEmotionModelId, isSpoofModelId,
  type AgeGenderModelId, type AnalysisAction, type EmotionModelId, type FaceGeometry, type SpoofModelId,
} from '../models/analyzers/index.js';

export interface AnalysisOptions {
  actions: AnalysisAction[];
  ageGenderModel: AgeGenderModelId;
  emotionModel: EmotionModelId;
  spoofModel: SpoofModelId;
  /** a face whose realness score is below this is a spoof */
  spoofThreshold: number;
}

/** What a caller may choose; the rest takes its default. Strings are checked. */
export interface AnalysisChoice {
  actions?: string | readonly string[];
  ageGenderModel?: string;
  emotionModel?: string;
  spoofModel?: string;
  spoofThreshold?: number;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * The actions named in "age,gender" or ['age', 'gender'], checked, in the canonical order, without
 * duplicates. An unknown one is a usage error that names those offered.
 */
export function parseActions(list: string | readonly string[]): AnalysisAction[] {
  const names = (typeof list === 'string' ? list.split(',') : list).map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (names.length === 0) throw new FacekitError('usage', `no action given: analyze offers ${ANALYSIS_ACTIONS.join(', ')}`);
  for (const n of names) {
    if (!(ANALYSIS_ACTIONS as readonly string[]).includes(n)) {
      throw new FacekitError('usage', `unknown action "${n}": analyze offers ${ANALYSIS_ACTIONS.join(', ')}`);
    }
  }
  return ANALYSIS_ACTIONS.filter((a) => names.includes(a));
}

/** A complete, checked set of analysis options. */
export function analysisOptions(choice: AnalysisChoice = {}): AnalysisOptions {
  const pick = <T extends string>(what: string, v: string | undefined, fallback: T, ok: (s: string) => s is T, all: object): T => {
    if (v === undefined) return fallback;
    if (!ok(v)) throw new FacekitError('usage', `unknown ${what} "${v}" (one of ${Object.keys(all).join(', ')})`);
    return v;
  };
  const spoofModel = pick('spoof model', choice.spoofModel, DEFAULT_SPOOF_MODEL, isSpoofModelId, SPOOF_MODELS);
  const spoofThreshold = choice.spoofThreshold ?? SPOOF_MODELS[spoofModel].threshold;
  if (!(Number.isFinite(spoofThreshold) && spoofThreshold >= 0 && spoofThreshold <= 1)) {
    throw new FacekitError('usage', `spoof threshold must be a number from 0 to 1, got ${spoofThreshold}`);
  }
  return {
    actions: parseActions(choice.actions ?? ANALYSIS_ACTIONS),
    ageGenderModel: pick('age/gender model', choice.ageGenderModel, DEFAULT_AGE_GENDER_MODEL, isAgeGenderModelId, AGE_GENDER_MODELS),
    emotionModel: pick('emotion model', choice.emotionModel, DEFAULT_EMOTION_MODEL, isEmotionModelId, EMOTION_MODELS),
    spoofModel,
    spoofThreshold,
  };
}

/** Probabilities rounded to 4 digits, every label present, and the most likely one. */
export function summarizeEmotion(probs: Partial<Record<EmotionLabel, number>>): { emotion: Record<EmotionLabel, number>; dominantEmotion: EmotionLabel } {
  const total = EMOTION_LABELS.reduce((s, l) => s + Math.max(0, probs[l] ?? 0), 0) || 1;
  const emotion = Object.fromEntries(EMOTION_LABELS.map((l) => [l, round(Math.max(0, probs[l] ?? 0) / total, 4)])) as Record<EmotionLabel, number>;
  let dominantEmotion: EmotionLabel = 'neutral';
  for (const l of EMOTION_LABELS) if ((probs[l] ?? 0) > (probs[dominantEmotion] ?? 0)) dominantEmotion = l;
  return { emotion, dominantEmotion };
}

/** A probability that the face is a man's as deepface's words and the chosen side's probability. */
export function genderOf(male: number): { gender: Gender; genderScore: number } {
  const m = Math.min(1, Math.max(0, male));
  return m >= 0.5 ? { gender: 'man', genderScore: round(m, 4) } : { gender: 'woman', genderScore: round(1 - m, 4) };
}

export function spoofVerdict(score: number, threshold: number, model: string): SpoofVerdict {
  const s = round(Math.min(1, Math.max(0, score)), 4);
  return { score: s, real: s >= threshold, threshold, model };
}

/**
 * Analyze faces of one image: `faces` in the pixels of `img` (the decoded image). Only the models
 * the actions need are loaded and run.
 */
export async function analyzeFaces(img: RgbImage, faces: FaceGeometry[], opts: AnalysisOptions): Promise<FaceAnalysis[]> {
  const out: FaceAnalysis[] = faces.map(() => ({}));
  if (faces.length === 0) return out;
  const has = (a: AnalysisAction) => opts.actions.includes(a);
  const models: FaceAnalysis['models'] = {};
  if (has('age') || has('gender')) {
    const est = await AGE_GENDER_MODELS[opts.ageGenderModel].load.estimate(img, faces, { age: has('age'), gender: has('gender') });
    est.forEach((e, i) => {
      if (has('age') && e.age !== undefined) out[i]!.age = round(e.age, 1);
      if (has('gender') && e.male !== undefined) Object.assign(out[i]!, genderOf(e.male));
    });
    if (has('age')) models.age = opts.ageGenderModel;
    if (has('gender')) models.gender = opts.ageGenderModel;
  }
  if (has('emotion')) {
    const probs = await EMOTION_MODELS[opts.emotionModel].load.classify(img, faces);
    probs.forEach((p, i) => Object.assign(out[i]!, summarizeEmotion(p)));
    models.emotion = opts.emotionModel;
  }
  if (has('spoof')) {
    const scores = await SPOOF_MODELS[opts.spoofModel].load.score(img, faces);
    scores.forEach((s, i) => { out[i]!.spoof = spoofVerdict(s, opts.spoofThreshold, opts.spoofModel); });
    models.spoof = opts.spoofModel;
  }
  for (const a of out) a.models = { ...models };
  return out;
}
