/**
 * The OpenAPI description of deepface's REST service as facekit serves it (serve --compat,
 * routes/compat-deepface.ts): /register, /search and /build/index, and deepface's fields and
 * answers on facekit's own /verify, /represent and /analyze (sharedWithDeepface: each of those
 * operations takes either API's fields and answers in the shape of the fields it got).
 */
import { EMOTION_LABELS, RECOGNIZERS } from '../index.js';
import { DEEPFACE_ACTIONS, DEEPFACE_DETECTORS, DEEPFACE_METRICS, DEEPFACE_MODELS } from './deepface-fields.js';
import { arr, binary, bool, busy, int, nullable, num, obj, ok, ref, str, type Schema } from './openapi-schema.js';

export const DEEPFACE_TAG = 'compat: deepface';

const byTarget = (m: Readonly<Record<string, string>>) => {
  const groups = new Map<string, string[]>();
  for (const [name, to] of Object.entries(m)) groups.set(to, [...(groups.get(to) ?? []), name]);
  return [...groups].map(([to, names]) => `${names.join(', ')} → ${to === 'skip' ? 'no detection (the images are aligned faces: facekit\'s skipDetect)' : to}`).join('; ');
};
export const MODEL_MAPPING = `${byTarget(DEEPFACE_MODELS)}; facekit's own names (${Object.keys(RECOGNIZERS).join(', ')}) are taken too`;
export const DETECTOR_MAPPING = `${byTarget(DEEPFACE_DETECTORS)}; facekit's own names (blazeface, ssd, tiny) are taken too`;

export const DEEPFACE_TAG_DESCRIPTION = 'deepface\'s REST service (deepface/api): /register, /search and /build/index over the served gallery, and deepface\'s fields ' +
  '(img, img1, img2, img_path, ..., model_name, detector_backend, distance_metric) on facekit\'s /verify, /represent and /analyze, which then answer in deepface\'s shape (serve --compat). ' +
  `Models: ${MODEL_MAPPING}. Detectors: ${DETECTOR_MAPPING}. Answers name what facekit ran ("model", "detector_backend"). ` +
  'Thresholds are facekit\'s calibrated ones for its model and the metric (deepface\'s are for its own models). ' +
  'align, expand_percentage, normalization, l2_normalize and silent are taken and change nothing (facekit always aligns, and each model has its own input scaling). ' +
  'race is not estimated: "race" and "dominant_race" are left out. Paths and URLs are refused (400): send the image\'s bytes.';

const IMAGE_TEXT = 'the image as base64 or a data: URL (data:image/jpeg;base64,...); a path or a URL is refused with a 400: this server never reads a file nor fetches a URL';
const flag: Schema = { type: ['boolean', 'string'], description: 'true or false ("true"/"false", "1"/"0" in a form)' };
const face: Record<string, Schema> = {
  detector_backend: { type: 'string', enum: [...Object.keys(DEEPFACE_DETECTORS), 'blazeface', 'tiny'], description: `${DETECTOR_MAPPING}. Default: the gallery's detector` },
  enforce_detection: { ...flag, description: 'false: an image without a face answers no results instead of an error (deepface would go on with the whole image; facekit does not)' },
  align: { ...flag, description: 'taken; facekit always aligns' },
  anti_spoofing: { ...flag, description: 'true: a face judged not real fails the request ("Spoof detected")' },
  expand_percentage: { type: 'integer', minimum: 0, maximum: 100, description: 'taken; changes nothing (the aligned crop is set by the model\'s template)' },
};
const recognition: Record<string, Schema> = {
  ...face,
  model_name: { type: 'string', enum: [...Object.keys(DEEPFACE_MODELS), ...Object.keys(RECOGNIZERS)], description: `${MODEL_MAPPING}. Default: the gallery's model` },
  normalization: { type: 'string', description: 'taken; changes nothing (each facekit model has its own input scaling)' },
};
const metric: Schema = { type: 'string', enum: [...DEEPFACE_METRICS], description: 'default cosine (deepface\'s); angular is refused (400): cosine gives the same order' };

/** A deepface request body: JSON (images as base64 or data: URLs) or multipart (images as files, or as text). */
function body(images: string[], options: Record<string, Schema>, required: string[]): Schema {
  const jsonImages: Record<string, Schema> = {};
  const formImages: Record<string, Schema> = {};
  for (const i of images) {
    for (const name of [i, `${i}_path`]) {
      const other = name === i ? '' : ` (deepface's older name for "${i}")`;
      jsonImages[name] = { type: 'string', description: IMAGE_TEXT + other };
      formImages[name] = { anyOf: [binary, str], description: `the image: a file upload, or ${IMAGE_TEXT}${other}` };
    }
  }
  return {
    required: true,
    content: {
      'application/json': { schema: { type: 'object', properties: { ...jsonImages, ...options }, required, additionalProperties: false } },
      'multipart/form-data': { schema: { type: 'object', properties: { ...formImages, ...options }, required } },
    },
  };
}

const errors = (more = ''): Record<string, Schema> => ({
  400: {
    description: `deepface's error answers: {"exception": ...} when the request cannot be read (no image, a path or URL, an unknown field, a body that is not JSON or multipart), ` +
      `{"error": "Exception while ...: ..."} when the image or the verb fails (not an image, no face, a spoof${more}); facekit's error code in "code"`,
    content: { 'application/json': { schema: ref('DeepfaceError') } },
  },
  413: { description: 'too large: the body is over serve --body-limit, or the image over --max-pixels', content: { 'application/json': { schema: { anyOf: [ref('DeepfaceError'), ref('Error')] } } } },
  503: { ...busy, content: { 'application/json': { schema: { anyOf: [ref('DeepfaceError'), ref('Error')] } } } },
});

export function deepfacePaths(): Record<string, Record<string, Schema>> {
  const tags = [DEEPFACE_TAG];
  return {
    '/register': {
      post: {
        tags, summary: 'add the largest face of a photo to the served gallery under img_name',
        description: 'facekit\'s Gallery.add: the largest face of the photo (deepface adds every face). img_name is the gallery label; without it, the uploaded file\'s name, else a new uuid (as deepface). ' +
          'The model must be the gallery\'s (model_name maps to a facekit model); "skip" and anti_spoofing are refused (400). A photo already in the gallery is deepface\'s "Duplicate detected" error.',
        requestBody: body(['img'], { ...recognition, img_name: { type: 'string', minLength: 1, maxLength: 100, description: 'who, or which photo, this is: the gallery label' }, l2_normalize: { ...flag, description: 'taken; changes nothing' } }, ['img']),
        responses: { 200: ok('registered', ref('DeepfaceRegister')), ...errors(', a model other than the gallery\'s, a duplicate') },
      },
    },
    '/search': {
      post: {
        tags, summary: 'each face of a photo against the served gallery: deepface\'s rows of the matches, nearest first',
        description: 'facekit\'s Gallery.identifyMany: one list per face of the photo, one row per gallery identity (its nearest face) within the gallery threshold of the metric ' +
          `(facekit's calibrated 1:N threshold), at most k (default 100). similarity_search: true lists the k nearest whatever their distance. ` +
          'search_method "exact" and "ann" run the same search: the gallery\'s own (an exact scan, or the HNSW index it keeps for large galleries: GET /health, facekit db info).',
        requestBody: body(['img'], {
          ...recognition, distance_metric: metric, search_method: { type: 'string', enum: ['exact', 'ann'], description: 'both run the gallery\'s own search (see above)' },
          similarity_search: flag, k: { type: 'integer', minimum: 1, maximum: 100 }, l2_normalize: { ...flag, description: 'taken; changes nothing' },
        }, ['img']),
        responses: { 200: ok('matches per face', ref('DeepfaceSearch')), ...errors(', an empty gallery') },
      },
    },
    '/build/index': {
      post: {
        tags, summary: 'deepface builds a search index here; facekit\'s gallery keeps its own: this answers how the gallery is searched',
        requestBody: body([], { model_name: recognition.model_name!, detector_backend: face.detector_backend!, align: face.align!, l2_normalize: { ...flag, description: 'taken; changes nothing' } }, []),
        responses: { 200: ok('nothing to build', ref('DeepfaceBuildIndex')), ...errors(', an empty gallery, a model other than the gallery\'s') },
      },
    },
  };
}

/** deepface's fields and answers, added to facekit's operations on the paths they share. */
const SHARED: Record<string, { answer: string; body: Schema; note: string }> = {
  '/represent': {
    answer: 'DeepfaceRepresent', note: 'an embedding per face',
    body: body(['img'], { ...recognition, max_faces: { type: 'integer', minimum: 1, maximum: 100 }, l2_normalize: { ...flag, description: 'taken; changes nothing' } }, ['img']),
  },
  '/verify': {
    answer: 'DeepfaceVerify', note: 'are img1 and img2 the same person? (the largest face of each; deepface\'s 1:1 verify, which is facekit\'s /compare)',
    body: body(['img1', 'img2'], { ...recognition, distance_metric: metric, threshold: { type: 'number', exclusiveMinimum: 0, description: 'default: facekit\'s calibrated 1:1 threshold for the model and metric' }, silent: flag }, ['img1', 'img2']),
  },
  '/analyze': {
    answer: 'DeepfaceAnalyze', note: 'age, gender and emotion per face (race is not estimated: left out)',
    body: body(['img'], {
      ...face, silent: flag,
      actions: { anyOf: [arr({ type: 'string', enum: [...DEEPFACE_ACTIONS] }), str], description: 'a list, or its text in a form (\'["age", "gender"]\' or age,gender); default all four. "skip" is refused here' },
    }, ['img']),
  },
};

/** facekit's /verify, /represent and /analyze, taking deepface's fields too (serve --compat). */
export function sharedWithDeepface(paths: Record<string, Record<string, Schema>>): Record<string, Record<string, Schema>> {
  const out = { ...paths };
  for (const [path, d] of Object.entries(SHARED)) {
    const op = paths[path]!.post as Schema;
    const content = (op.requestBody as Schema).content as Record<string, Schema>;
    const theirs = (d.body.content as Record<string, Schema>);
    const responses = Object.fromEntries(Object.entries(op.responses as Record<string, Schema>).map(([status, r]) => {
      const schema = ((r.content as Record<string, Schema> | undefined)?.['application/json'])?.schema as Schema | undefined;
      if (!schema) return [status, r];
      const alt = status === '200' ? ref(d.answer) : ref('DeepfaceError');
      return [status, { ...r, content: { 'application/json': { schema: { anyOf: [schema, alt] } } } }];
    }));
    out[path] = {
      post: {
        ...op,
        tags: [...((op.tags as string[] | undefined) ?? []), DEEPFACE_TAG],
        description: `${op.description ? `${op.description as string} ` : ''}With deepface's fields (${Object.keys((theirs['application/json']!.schema as Schema).properties as object).join(', ')}): ${d.note}, answered in deepface's shape (${d.answer}); ` +
          'its errors are deepface\'s too ({"exception"} or {"error"}, 400 for what the request or the image causes). A request may not mix the two APIs\' fields (400).',
        requestBody: {
          ...(op.requestBody as Schema),
          content: {
            ...content,
            'application/json': { schema: { anyOf: [content['application/json']!.schema as Schema, theirs['application/json']!.schema as Schema] } },
            'multipart/form-data': { schema: { anyOf: [content['multipart/form-data']!.schema as Schema, theirs['multipart/form-data']!.schema as Schema] } },
          },
        },
        responses,
      },
    };
  }
  return out;
}

const point: Schema = { type: ['array', 'null'], items: int, minItems: 2, maxItems: 2, description: '[x, y] in whole pixels, named from the person\'s side as deepface names them (left_eye is on the right of an upright frontal photo); null where facekit has no such point' };
const area = obj({ x: int, y: int, w: int, h: int, left_eye: point, right_eye: point, nose: point, mouth_left: point, mouth_right: point });
const percent = (what: string): Schema => ({ type: 'number', minimum: 0, maximum: 100, description: what });

export const DEEPFACE_SCHEMAS: Record<string, Schema> = {
  DeepfaceFacialArea: { ...area, description: 'deepface\'s facial_area: the box in whole pixels, clamped into the image' },
  DeepfaceRepresent: obj({
    results: arr(obj({
      embedding: { ...arr(num), description: 'the face\'s embedding by facekit\'s model ("model": its length is that model\'s, e.g. 192 for mobilefacenet, not deepface\'s)' },
      facial_area: ref('DeepfaceFacialArea'), face_confidence: { ...num, description: 'the detector\'s score, 0..1 (0 with "skip")' },
    })),
    model: { ...str, description: 'the facekit model that made the embeddings' }, detector_backend: { ...str, description: 'the facekit detector that found the faces, or "skip"' },
  }),
  DeepfaceVerify: obj({
    verified: bool, distance: num,
    threshold: { ...num, description: 'facekit\'s calibrated 1:1 threshold for the model and metric (or the request\'s)' },
    confidence: percent('facekit\'s match score in percent: 100 at distance 0, 50 exactly at the threshold, 0 at twice the threshold (not deepface\'s calibration)'),
    model: { ...str, description: 'the facekit model that ran (model_name maps to it)' }, detector_backend: { ...str, description: 'the facekit detector that ran, or "skip"' },
    similarity_metric: { type: 'string', enum: [...DEEPFACE_METRICS] },
    facial_areas: obj({ img1: ref('DeepfaceFacialArea'), img2: ref('DeepfaceFacialArea') }),
    time: { ...num, description: 'seconds' },
  }),
  DeepfaceAnalyze: obj({
    results: arr(obj({
      age: { ...int, description: 'estimated age in years' },
      gender: obj({ Woman: percent('%'), Man: percent('%') }), dominant_gender: { type: 'string', enum: ['Woman', 'Man'] },
      emotion: obj(Object.fromEntries(EMOTION_LABELS.map((l) => [l, percent('%')]))), dominant_emotion: { type: 'string', enum: [...EMOTION_LABELS] },
      region: ref('DeepfaceFacialArea'), face_confidence: num,
    }, ['region', 'face_confidence'])),
    warnings: { ...arr(str), description: 'present when race was asked for: facekit does not estimate it, and leaves race and dominant_race out' },
  }, ['results']),
  DeepfaceRegister: obj({ inserted: { ...int, description: 'faces added (1: the photo\'s largest)' }, img_name: { ...str, description: 'the gallery label it was added under' } }),
  DeepfaceSearch: obj({
    results: { ...arr(arr(obj({
      id: { ...nullable(str), description: 'the sha256 of the gallery photo that matched' },
      img_name: { ...str, description: 'the gallery label (img_name at /register)' },
      model_name: { ...str, description: 'the gallery\'s facekit model' }, detector_backend: str, aligned: bool,
      search_method: { type: 'string', enum: ['exact', 'ann'] },
      target_x: int, target_y: int, target_w: int, target_h: int,
      threshold: { ...num, description: 'facekit\'s calibrated 1:N threshold for the gallery\'s model and the metric' },
      distance_metric: { type: 'string', enum: [...DEEPFACE_METRICS] }, distance: num,
      confidence: percent('facekit\'s match score in percent (50 at the threshold)'),
    }))), description: 'one list per face of the photo (largest first), its matches nearest first' },
  }),
  DeepfaceBuildIndex: obj({ message: str, search: { ...str, description: 'how the gallery is searched, in words' }, faces: int }),
  DeepfaceError: {
    anyOf: [obj({ exception: str, code: str }), obj({ error: str, code: str })],
    description: 'deepface\'s error answers, with facekit\'s error code',
  },
};
