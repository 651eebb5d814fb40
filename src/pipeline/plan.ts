/**
 * The plan: every choice a run of the pipeline makes, validated once and completed from what is
 * derivable (the alignment template and the pixel scaling follow from the recognition model).
 * Every caller (CLI, server, library, evaluation) builds its plan here, so no plan can pair a
 * model with another model's input scaling by accident.
 */
import { createHash } from 'node:crypto';
import { basename, extname } from 'node:path';
import { FacekitError } from '../core/errors.js';
import { DEFAULT_MAX_PIXELS } from '../core/image.js';
import { SCHEMES, isSchemeId } from '../stages/normalization.js';
import {
  DEFAULT_RECOGNIZER, DETECTORS, RECOGNIZERS, SUBJECT_DEFAULTS, SUBJECTS, isDetectorId, isSubject, recognizerIdOf,
  type DetectorId, type RecognizerId, type SchemeId, type Subject,
} from '../models/catalogue.js';
import { analysisOptions, type AnalysisChoice, type AnalysisOptions } from '../stages/analysis.js';

export type StageName = 'detect' | 'align' | 'normalize' | 'represent';
const ORDER: StageName[] = ['detect', 'align', 'normalize', 'represent'];

export interface PipelinePlan {
  /** the last stage to run */
  upTo: StageName;
  /** faces (detected and aligned) or whole images (detector `none`, an image recognizer) */
  subject: Subject;
  detector: DetectorId;
  minScore: number;
  maxFaces: number;
  /** keep the detector's full point set in records */
  mesh: boolean;
  /** the input images are already aligned face crops (ArcFace template): no detection */
  skipDetect: boolean;
  model: RecognizerId;
  /** align to the model's template (true) or crop the box only (false) */
  rotate: boolean;
  scheme: SchemeId;
  /** embed tensors normalized with another scheme than the model's own (for experiments) */
  anyScheme: boolean;
  flip: boolean;
  maxPixels: number;
  /** where align writes aligned PNGs (when the align stage's files are wanted) */
  alignDir?: string;
  /** where normalize writes .npy tensors */
  normDir?: string;
  /** where detect writes face crops (--crops) */
  cropsDir?: string;
  cropMargin: number;
  /** where detect writes annotated copies of images (--annotate) */
  annotatePath?: string;
  /** run the stages after detect on the largest face only (build-db); the others stay detect records */
  largestOnly: boolean;
  /** analyze each detected face (age, gender, emotion, spoof) right after detection */
  analysis?: AnalysisOptions;
  /** a face the spoof analysis judges not real gets a `spoof` error and goes no further (--anti-spoof) */
  refuseSpoofs: boolean;
}

/** What a caller may choose; everything left out takes its default. */
export type PlanChoice = Partial<Omit<PipelinePlan, 'subject' | 'detector' | 'model' | 'scheme' | 'analysis'>> & {
  /** 'face' or 'image' (checked); default: the model's subject, else face */
  subject?: string;
  /** analysis actions and models (checked) */
  analysis?: AnalysisChoice;
  /** a detector id (checked) */
  detector?: string;
  /** a recognizer id (checked) */
  model?: string;
  /** a normalization scheme (checked); default: the model's own */
  scheme?: string;
};

export const DEFAULT_PLAN: Readonly<PipelinePlan> = Object.freeze({
  upTo: 'represent',
  subject: 'face',
  detector: 'blazeface',
  minScore: 0.5,
  maxFaces: 20,
  mesh: false,
  skipDetect: false,
  model: DEFAULT_RECOGNIZER,
  rotate: true,
  scheme: RECOGNIZERS[DEFAULT_RECOGNIZER].scheme,
  anyScheme: false,
  flip: true,
  maxPixels: DEFAULT_MAX_PIXELS,
  cropMargin: 0.2,
  largestOnly: false,
  refuseSpoofs: false,
});

function checkNumber(name: string, v: number, min: number, max: number, integer = false): void {
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new FacekitError('usage', `${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${v}`);
  }
}

/**
 * A complete, checked plan from a caller's choices. Throws a `usage` FacekitError for a value out
 * of range, an unknown model or detector, or a scheme that is not the model's own when the plan
 * embeds (unless `anyScheme` says that is meant).
 */
export function buildPlan(choice: PlanChoice = {}): PipelinePlan {
  const { subject, model, detector } = subjectChoice(choice);
  const info = RECOGNIZERS[model];
  const scheme = choice.scheme ?? info.scheme;
  if (!isSchemeId(scheme)) throw new FacekitError('usage', `unknown scheme "${scheme}" (one of ${Object.keys(SCHEMES).join(', ')})`);
  const { analysis: analysisChoice, ...rest } = choice;
  // a whole image has no landmarks to rotate to
  const subjectDefaults = { flip: SUBJECT_DEFAULTS[subject].flip, ...(subject === 'image' ? { rotate: false } : {}) };
  const plan: PipelinePlan = { ...DEFAULT_PLAN, ...subjectDefaults, ...stripUndefined(rest), subject, detector, model, scheme: scheme as SchemeId };
  if (subject === 'image' && (plan.analysis !== undefined || analysisChoice || plan.skipDetect)) {
    throw new FacekitError('usage', `--subject image takes whole images: ${plan.skipDetect ? '--skip-detect' : 'face analysis'} is for faces`);
  }
  if (analysisChoice) plan.analysis = analysisOptions(analysisChoice);
  if (plan.refuseSpoofs && !plan.analysis?.actions.includes('spoof')) {
    // refusing spoofs needs the spoof model's verdict (and no other model that was not asked for)
    plan.analysis = analysisOptions({ ...analysisChoice, actions: [...(plan.analysis?.actions ?? []), 'spoof'] });
  }
  if (!ORDER.includes(plan.upTo)) throw new FacekitError('usage', `unknown stage "${String(plan.upTo)}"`);
  checkNumber('min score', plan.minScore, 0, 1);
  checkNumber('max faces', plan.maxFaces, 1, 10_000, true);
  checkNumber('max pixels', plan.maxPixels, 1, Number.MAX_SAFE_INTEGER, true);
  checkNumber('crop margin', plan.cropMargin, 0, 2);
  if (runs(plan, 'represent') && plan.scheme !== info.scheme && !plan.anyScheme) {
    throw new FacekitError('usage', `${model} needs the "${info.scheme}" scheme, not "${plan.scheme}" (its embeddings would be wrong)`);
  }
  return plan;
}

/**
 * The subject, recognizer and detector, chosen together: `--subject image` picks the any-image
 * recognizer and detector `none`; a model names its subject; a face recognizer cannot embed whole
 * images, nor an image recognizer aligned faces.
 */
export function subjectChoice(choice: { subject?: string; model?: string; detector?: string }): { subject: Subject; model: RecognizerId; detector: DetectorId } {
  if (choice.subject !== undefined && !isSubject(choice.subject)) {
    throw new FacekitError('usage', `unknown subject "${choice.subject}" (one of ${SUBJECTS.join(', ')})`);
  }
  let model: RecognizerId | undefined;
  if (choice.model !== undefined) {
    model = recognizerIdOf(choice.model);
    if (!model) throw new FacekitError('usage', `unknown model "${choice.model}" (one of ${Object.keys(RECOGNIZERS).join(', ')})`);
  }
  const subject: Subject = (choice.subject as Subject | undefined) ?? (model ? RECOGNIZERS[model].subject : 'face');
  model ??= SUBJECT_DEFAULTS[subject].model;
  if (RECOGNIZERS[model].subject !== subject) {
    throw new FacekitError('usage', subject === 'image'
      ? `${model} is a face recognizer: --subject image needs an image recognizer (${imageModels()})`
      : `${model} embeds whole images: use it with --subject image (face recognizers: ${faceModels()})`);
  }
  const detector = choice.detector ?? SUBJECT_DEFAULTS[subject].detector;
  if (!isDetectorId(detector)) throw new FacekitError('usage', `unknown detector "${detector}" (one of ${Object.keys(DETECTORS).join(', ')})`);
  if (subject === 'image' && detector !== 'none') throw new FacekitError('usage', `--subject image takes the whole image: detector "${detector}" finds faces (leave --detector out)`);
  if (subject === 'face' && detector === 'none') throw new FacekitError('usage', 'detector "none" takes the whole image: it is for --subject image');
  return { subject, model, detector };
}
/** subjectChoice, with the mirror-image averaging each subject takes by default (faces yes, images no). */
export function subjectSettings(choice: { subject?: string; model?: string; detector?: string; flip?: boolean }): { subject: Subject; model: RecognizerId; detector: DetectorId; flip: boolean } {
  const s = subjectChoice(choice);
  return { ...s, flip: choice.flip ?? SUBJECT_DEFAULTS[s.subject].flip };
}
const modelsOf = (subject: Subject) => Object.values(RECOGNIZERS).filter((r) => r.subject === subject).map((r) => r.id).join(', ');
const imageModels = () => modelsOf('image');
const faceModels = () => modelsOf('face');

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export const runs = (plan: PipelinePlan, stage: StageName): boolean => ORDER.indexOf(stage) <= ORDER.indexOf(plan.upTo);

/** A short, stable file stem for the faces of one image: readable name + hash of the full path. */
export function artifactStem(image: string, face: number): string {
  const stem = basename(image, extname(image)).replace(/[^\w.-]+/g, '_').slice(0, 40) || 'image';
  const hash = createHash('sha1').update(image).digest('hex').slice(0, 8);
  return `${stem}-${hash}-f${face}`;
}
