/**
 * deepface's REST service (deepface/api/src/modules/core/routes.py), as facekit reads it
 * (routes/compat-deepface.ts): its field names, its model and detector names and the facekit
 * model or detector each stands for, its option values, and its error answers.
 *
 * deepface's names are mapped, never pretended: "Dlib" is dlib's ResNet-34 network, which facekit
 * has (resnet34); every other recognition model of deepface stands for facekit's default and most
 * accurate one (mobilefacenet). Detectors: "ssd" is facekit's SSD, "skip" means the images are
 * faces already aligned (facekit's skipDetect), and every other detector stands for BlazeFace.
 * Answers name what facekit ran (their "model" and "detector_backend").
 */
import { DEFAULT_DETECTOR, DETECTORS, RECOGNIZERS, type DetectorId, type RecognizerId } from '../index.js';
import { badRequest, type HttpError } from './http-errors.js';
import type { BodySpec, OptionSpec, OptionValue } from './inputs.js';
import type { Context, ErrorShape } from './context.js';

/** deepface's recognition models, and the facekit model each stands for. */
export const DEEPFACE_MODELS: Readonly<Record<string, RecognizerId>> = {
  'VGG-Face': 'mobilefacenet',
  Facenet: 'mobilefacenet',
  Facenet512: 'mobilefacenet',
  OpenFace: 'mobilefacenet',
  DeepFace: 'mobilefacenet',
  DeepID: 'mobilefacenet',
  ArcFace: 'mobilefacenet',
  SFace: 'mobilefacenet',
  GhostFaceNet: 'mobilefacenet',
  Buffalo_L: 'mobilefacenet',
  Dlib: 'resnet34',
};

/** deepface's detector backends, and what each stands for in facekit ("skip": the images are aligned faces). */
export const DEEPFACE_DETECTORS: Readonly<Record<string, DetectorId | 'skip'>> = {
  opencv: 'blazeface', ssd: 'ssd', dlib: 'blazeface', mtcnn: 'blazeface', fastmtcnn: 'blazeface', retinaface: 'blazeface',
  mediapipe: 'blazeface', yunet: 'blazeface', centerface: 'blazeface', yolov8: 'blazeface',
  yolov8n: 'blazeface', yolov8m: 'blazeface', yolov8l: 'blazeface',
  yolov11n: 'blazeface', yolov11s: 'blazeface', yolov11m: 'blazeface', yolov11l: 'blazeface',
  yolov12n: 'blazeface', yolov12s: 'blazeface', yolov12m: 'blazeface', yolov12l: 'blazeface',
  skip: 'skip',
};

/** deepface's distance metrics that facekit computes too (they are facekit's own). */
export const DEEPFACE_METRICS = ['cosine', 'euclidean', 'euclidean_l2'] as const;
/** deepface's analyze actions; race is one facekit does not estimate (it is left out of the answer). */
export const DEEPFACE_ACTIONS = ['age', 'gender', 'emotion', 'race'] as const;
const NORMALIZATIONS = ['base', 'raw', 'Facenet', 'Facenet2018', 'VGGFace', 'VGGFace2', 'ArcFace'];

/** The recognition model a request names (deepface's or facekit's name), or undefined for the gallery's. */
export function modelOf(value: OptionValue | undefined): RecognizerId | undefined {
  if (value === undefined) return undefined;
  const name = String(value);
  return Object.hasOwn(DEEPFACE_MODELS, name) ? DEEPFACE_MODELS[name]! : (name as RecognizerId);
}

export interface DetectorChoice {
  detector?: DetectorId;
  skipDetect?: boolean;
}

/** How faces are found: the request's detector_backend, mapped; else as the gallery's were. */
export function detectorOf(ctx: Context, value: OptionValue | undefined): DetectorChoice {
  if (value === undefined) return { detector: ctx.gallery.settings().detector ?? DEFAULT_DETECTOR };
  const name = String(value);
  const d = Object.hasOwn(DEEPFACE_DETECTORS, name) ? DEEPFACE_DETECTORS[name]! : (name as DetectorId);
  return d === 'skip' ? { skipDetect: true } : { detector: d };
}

/** The detector an answer names: facekit's, or "skip". */
export const detectorName = (d: DetectorChoice): string => (d.skipDetect ? 'skip' : d.detector ?? DEFAULT_DETECTOR);

/** "skip" where a verb has no pre-aligned input (analyze, the gallery's add). */
export function noSkip(d: DetectorChoice, what: string): void {
  if (d.skipDetect) throw badRequest(`detector_backend "skip" is not offered by ${what}: facekit finds the face itself here (leave detector_backend out, or name a detector)`);
}

/* ---------------------------------------------------------------- option values, as deepface's clients send them */

const shown = (v: unknown) => JSON.stringify(v)?.slice(0, 80) ?? String(v);

/** A flag as JSON (true), a form field ("true", "True", "1") or a number (0, 1). */
const flag: OptionSpec = {
  kind: 'custom',
  parse: (v, name) => {
    if (typeof v === 'boolean') return v;
    if (v === 0 || v === 1) return v === 1;
    const t = typeof v === 'string' ? v.trim().toLowerCase() : '';
    if (t === 'true' || t === '1') return true;
    if (t === 'false' || t === '0') return false;
    throw badRequest(`"${name}" must be true or false, got ${shown(v)}`);
  },
};

function oneOf(names: readonly string[], why: Record<string, string> = {}): OptionSpec {
  return {
    kind: 'custom',
    parse: (v, name) => {
      if (typeof v === 'string' && Object.hasOwn(why, v)) throw badRequest(`"${name}": ${why[v]}`);
      if (typeof v !== 'string' || !names.includes(v)) throw badRequest(`"${name}" must be one of ${names.join(', ')}; got ${shown(v)}`);
      return v;
    },
  };
}

const modelName = oneOf([...Object.keys(DEEPFACE_MODELS), ...Object.keys(RECOGNIZERS)]);
const detectorBackend = oneOf([...Object.keys(DEEPFACE_DETECTORS), ...Object.keys(DETECTORS).filter((d) => d !== 'ssd')]);
const distanceMetric = oneOf(DEEPFACE_METRICS, {
  angular: 'facekit does not compute the angular distance; cosine gives the same order and the same decisions (angular = arccos(1 - cosine) / pi)',
});

/**
 * deepface's actions: a JSON list (["age", "gender"]) or, in a form, its text ('["age", "gender"]',
 * or age,gender), read as deepface reads it (brackets, quotes and spaces dropped). Kept as "age,gender".
 */
const actions: OptionSpec = {
  kind: 'custom',
  parse: (v, name) => {
    const list = Array.isArray(v) ? v : typeof v === 'string' ? v.replace(/[[\]()"' ]/g, '').split(',') : null;
    if (!list || !list.every((a) => typeof a === 'string')) throw badRequest(`"${name}" must be a list of ${DEEPFACE_ACTIONS.join(', ')}; got ${shown(v)}`);
    const names = (list as string[]).map((a) => a.trim()).filter((a) => a !== '');
    if (names.length === 0) throw badRequest(`"${name}" names no action: deepface's are ${DEEPFACE_ACTIONS.join(', ')}`);
    for (const a of names) if (!(DEEPFACE_ACTIONS as readonly string[]).includes(a)) throw badRequest(`"${name}": unknown action "${a}"; deepface's are ${DEEPFACE_ACTIONS.join(', ')}`);
    return [...new Set(names)].join(',');
  },
};

/* ---------------------------------------------------------------- each route's fields */

/** Fields every deepface route that embeds or detects takes (align, expand_percentage and normalization are taken and have no effect: see README). */
const FACE_OPTIONS: Record<string, OptionSpec> = {
  detector_backend: detectorBackend,
  enforce_detection: flag,
  align: flag,
  anti_spoofing: flag,
  expand_percentage: { kind: 'int', min: 0, max: 100 },
};
const RECOGNITION_OPTIONS: Record<string, OptionSpec> = { ...FACE_OPTIONS, model_name: modelName, normalization: oneOf(NORMALIZATIONS) };

/** Its image fields (img, img1, img2), also under the names of deepface's older service (img_path, ...). */
const ALIASES = { img_path: 'img', img1_path: 'img1', img2_path: 'img2' };

export const REPRESENT: BodySpec = {
  images: { img: 1 }, aliases: ALIASES,
  options: { ...RECOGNITION_OPTIONS, max_faces: { kind: 'int', min: 1, max: 100 }, l2_normalize: flag },
};
export const VERIFY: BodySpec = {
  images: { img1: 1, img2: 1 }, aliases: ALIASES,
  options: { ...RECOGNITION_OPTIONS, distance_metric: distanceMetric, threshold: { kind: 'number', min: 0 }, silent: flag },
};
export const ANALYZE: BodySpec = {
  images: { img: 1 }, aliases: ALIASES,
  options: { ...FACE_OPTIONS, actions, silent: flag },
};
export const REGISTER: BodySpec = {
  images: { img: 1 }, aliases: ALIASES,
  options: { ...RECOGNITION_OPTIONS, img_name: { kind: 'string' }, l2_normalize: flag },
};
export const SEARCH: BodySpec = {
  images: { img: 1 }, aliases: ALIASES,
  options: {
    ...RECOGNITION_OPTIONS, distance_metric: distanceMetric, l2_normalize: flag, search_method: oneOf(['exact', 'ann']),
    similarity_search: flag, k: { kind: 'int', min: 1, max: 100 },
  },
};
export const BUILD_INDEX: BodySpec = {
  images: {},
  options: { model_name: modelName, detector_backend: detectorBackend, align: flag, l2_normalize: flag },
};

/* ---------------------------------------------------------------- errors, as deepface answers them */

/**
 * deepface answers a request it cannot read (no image, ...) with {"exception": "..."} and a verb
 * that fails (no face, not an image, ...) with {"error": "Exception while <doing>: ..."}, both 400.
 * So do these routes, with facekit's error code beside ("code"). What is no fault of the request
 * keeps its status: 401 (API key), 413 (too large), 5xx (busy, timeout: with Retry-After).
 */
export function deepfaceErrors(kind: 'exception' | 'error', doing = ''): ErrorShape {
  return (e: HttpError) => ({
    status: e.status >= 500 || e.status === 401 || e.status === 413 ? e.status : 400,
    body: { [kind]: kind === 'error' ? `Exception while ${doing}: ${e.message}` : e.message, code: e.code },
  });
}
