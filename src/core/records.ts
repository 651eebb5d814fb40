/**
 * The record contract between stages (see README "Records"): one JSON object per face, one per line.
 * Each stage adds its own key and keeps the others, so a record carries its history.
 */
import { parseJson } from './json.js';
import { FacekitError, type ErrorInfo } from './errors.js';

/** Bumped when a key changes meaning; a stage refuses records from a newer schema. */
export const SCHEMA_VERSION = 1;

export type Point = [number, number];
/** [x, y, width, height] in pixels of the original (EXIF-rotated) image. */
export type Box = [number, number, number, number];

/**
 * Named facial points in image pixels. "left" and "right" are as seen in the image
 * (leftEye is the eye with the smaller x), as in face-api and InsightFace.
 */
export interface Landmarks {
  leftEye: Point;
  rightEye: Point;
  noseTip: Point;
  mouthLeft: Point;
  mouthRight: Point;
  leftEyeOuter?: Point;
  leftEyeInner?: Point;
  rightEyeInner?: Point;
  rightEyeOuter?: Point;
  /** The point under the nose between the nostrils (dlib's "bottom of nose"). */
  noseBase?: Point;
}

export const LANDMARK_NAMES = [
  'leftEye', 'rightEye', 'noseTip', 'mouthLeft', 'mouthRight',
  'leftEyeOuter', 'leftEyeInner', 'rightEyeInner', 'rightEyeOuter', 'noseBase',
] as const;
export type LandmarkName = (typeof LANDMARK_NAMES)[number];

export interface AlignedInfo {
  /** PNG of the aligned crop. */
  path: string;
  /** [width, height] */
  size: [number, number];
  /** Degrees the face was rotated by to level the eyes. */
  angle: number;
  /** Which canonical template the crop follows (depends on the recognition model). */
  template: string;
  rotated: boolean;
  /** sha256 of the PNG as written: a stage reading the crop checks it is still this file. */
  sha256?: string;
}

export interface NormalizedInfo {
  /** .npy file, float32, shape [1, height, width, 3]. */
  path: string;
  scheme: string;
  shape: number[];
  /** Per-channel (R, G, B) mean and standard deviation of the tensor. */
  mean: number[];
  std: number[];
  /** sha256 of the .npy as written, checked when the tensor is read back. */
  sha256?: string;
}

export interface Embedding {
  model: string;
  dim: number;
  vector: number[];
  /** a projection head (`--head`, facekit train) made this vector from the model's: its kind and weights' sha256 prefix */
  head?: string;
}

/** The emotions analyze reports, named as deepface names them. */
export const EMOTION_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;
export type EmotionLabel = (typeof EMOTION_LABELS)[number];
export type Gender = 'woman' | 'man';

/** Real or spoof: `score` is how likely the face is a live, real one (0..1); `real` is score >= threshold. */
export interface SpoofVerdict {
  score: number;
  real: boolean;
  threshold: number;
  model: string;
}

/** What `facekit analyze` adds: each key only for the actions asked for. */
export interface FaceAnalysis {
  /** estimated age in years */
  age?: number;
  gender?: Gender;
  /** the model's probability for `gender` (0.5..1) */
  genderScore?: number;
  /** probability of each emotion, summing to 1 */
  emotion?: Record<EmotionLabel, number>;
  dominantEmotion?: EmotionLabel;
  spoof?: SpoofVerdict;
  /** which model gave each answer */
  models?: Partial<Record<'age' | 'gender' | 'emotion' | 'spoof', string>>;
}

export interface FaceRecord {
  schema: number;
  image: string;
  width?: number;
  height?: number;
  /** Index of the face in its image, 0 = largest; null when the image gave no face. */
  face: number | null;
  detector?: string;
  box?: Box;
  score?: number;
  landmarks?: Landmarks;
  /** The detector's full landmark set ([x, y] or [x, y, z]), only with --mesh. */
  mesh?: number[][];
  /** Path of the face crop written by `detect --crops`. */
  crop?: string;
  aligned?: AlignedInfo;
  normalized?: NormalizedInfo;
  embedding?: Embedding;
  analysis?: FaceAnalysis;
  label?: string;
  /** sha256 of the image file's bytes, as a gallery knows the photo (`db export` writes it) */
  imageSha256?: string;
  error?: ErrorInfo;
}

export function errorRecord(image: string, error: ErrorInfo, extra: Partial<FaceRecord> = {}): FaceRecord {
  return { schema: SCHEMA_VERSION, image, face: null, ...extra, error };
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isPoint = (v: unknown): boolean => Array.isArray(v) && v.length >= 2 && isNum(v[0]) && isNum(v[1]);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parse and check one NDJSON line. Throws a FacekitError naming `where` (e.g. "stdin line 3")
 * for broken JSON, foreign JSON, a newer schema, or a key of the wrong shape.
 */
export function parseRecord(line: string, where: string): FaceRecord {
  return checkRecord(parseJson(line, 'bad_record', where), where);
}

export function checkRecord(value: unknown, where: string): FaceRecord {
  const bad = (msg: string) => new FacekitError('bad_record', msg, where);
  if (!isObj(value)) throw bad('not a facekit record (expected a JSON object per line)');
  if (!('schema' in value)) {
    throw bad('not a facekit record (no "schema" key); records come from `facekit detect` and later stages');
  }
  if (!isNum(value.schema) || !Number.isInteger(value.schema)) throw bad('"schema" must be an integer');
  if (value.schema > SCHEMA_VERSION) {
    throw new FacekitError('schema_version',
      `record schema ${value.schema} is newer than this facekit understands (${SCHEMA_VERSION}); upgrade facekit`, where);
  }
  if (value.schema < 1) throw new FacekitError('schema_version', `unknown record schema ${value.schema}`, where);
  if (typeof value.image !== 'string' || value.image === '') throw bad('"image" must be a non-empty string');
  if (value.face !== null && !(isNum(value.face) && Number.isInteger(value.face) && value.face >= 0)) {
    throw bad('"face" must be a face index (0, 1, ...) or null');
  }
  if ('box' in value && !(Array.isArray(value.box) && value.box.length === 4 && value.box.every(isNum))) {
    throw bad('"box" must be [x, y, width, height]');
  }
  if ('landmarks' in value) {
    const lm = value.landmarks;
    if (!isObj(lm)) throw bad('"landmarks" must be an object of named points');
    for (const [k, p] of Object.entries(lm)) if (!isPoint(p)) throw bad(`landmark "${k}" must be [x, y]`);
  }
  if ('aligned' in value) {
    const a = value.aligned;
    if (!isObj(a) || typeof a.path !== 'string' || typeof a.template !== 'string') {
      throw bad('"aligned" must hold at least "path" and "template"');
    }
    if ('sha256' in a && typeof a.sha256 !== 'string') throw bad('"aligned.sha256" must be a string');
  }
  if ('normalized' in value) {
    const n = value.normalized;
    if (!isObj(n) || typeof n.path !== 'string' || typeof n.scheme !== 'string') {
      throw bad('"normalized" must hold at least "path" and "scheme"');
    }
    if ('sha256' in n && typeof n.sha256 !== 'string') throw bad('"normalized.sha256" must be a string');
  }
  if ('embedding' in value) {
    const e = value.embedding;
    if (!isObj(e) || typeof e.model !== 'string' || !Array.isArray(e.vector) || !e.vector.every(isNum)) {
      throw bad('"embedding" must be {model, dim, vector}');
    }
    if (e.dim !== e.vector.length) throw bad(`"embedding" says dim ${String(e.dim)} but holds ${e.vector.length} numbers`);
    if ((e.vector as number[]).every((x) => x === 0)) throw bad('"embedding" is all zeros: no face was embedded');
  }
  if ('analysis' in value && !isObj(value.analysis)) throw bad('"analysis" must be an object (age, gender, emotion, spoof)');
  if ('label' in value && typeof value.label !== 'string') throw bad('"label" must be a string');
  if ('imageSha256' in value && !(typeof value.imageSha256 === 'string' && /^[0-9a-f]{64}$/.test(value.imageSha256))) {
    throw bad('"imageSha256" must be 64 hex digits');
  }
  if ('error' in value && !(isObj(value.error) && typeof value.error.message === 'string')) {
    throw bad('"error" must be {code, message}');
  }
  return value as unknown as FaceRecord;
}

/**
 * Why `--anti-spoof` refuses a record read back from a file (verify -, build-db -): its face was
 * judged a spoof by `facekit analyze`, or it was never judged (no `analysis.spoof`).
 */
export function spoofRefusal(r: FaceRecord): ErrorInfo | undefined {
  const s = r.analysis?.spoof;
  if (!s) return { code: 'missing_key', message: 'record has no "analysis.spoof" (--anti-spoof: run `facekit analyze --actions spoof` on the detect records, or give the image)' };
  if (!s.real) return spoofError(s);
  return undefined;
}

/** The error a face judged a spoof gets (the same wording wherever it is refused). */
export function spoofError(s: SpoofVerdict): ErrorInfo {
  return { code: 'spoof', message: `face looks like a spoof (a photo of a photo or of a screen): anti-spoof score ${s.score} is below ${s.threshold} (${s.model})` };
}

/** The key a stage needs, with a message that says which stage makes it. */
export function requireKey<K extends keyof FaceRecord>(
  r: FaceRecord, key: K, madeBy: string, where: string,
): NonNullable<FaceRecord[K]> {
  const v = r[key];
  if (v === undefined || v === null) {
    throw new FacekitError('missing_key', `record has no "${String(key)}" (run \`facekit ${madeBy}\` first)`, where);
  }
  return v as NonNullable<FaceRecord[K]>;
}
