/**
 * The OpenAPI description of the routes that stand in for the services facekit replaces (served
 * with `serve --compat`): the workshop's FastAPI service (routes/compat-workshop.ts, also under
 * its root path /deteccao-facial-api), the Flask face API (routes/compat-flask.ts) and deepface's
 * REST service (openapi-deepface.ts). The signature-comparison API's fields are part of facekit's
 * own POST /compare (openapi.ts); deepface's, with --compat, of /verify, /represent and /analyze.
 */
import { RECOGNIZERS } from '../index.js';
import { WORKSHOP_ROOT, UNKNOWN_NAME } from './routes/compat-workshop.js';
import { MODEL_ALIASES } from './routes/compat-flask.js';
import { arr, binary, bool, busy, errorResponse, imageErrors, int, nullable, num, obj, ok, ref, str, type Schema } from './openapi-schema.js';
import { DEEPFACE_SCHEMAS, DEEPFACE_TAG, DEEPFACE_TAG_DESCRIPTION, deepfacePaths, sharedWithDeepface } from './openapi-deepface.js';

export const SIGNATURE_TAG = 'compat: signature comparison';
const WORKSHOP_TAG = 'compat: workshop';
const FLASK_TAG = 'compat: Flask face API';

export const COMPAT_TAGS: { name: string; description: string }[] = [
  { name: SIGNATURE_TAG, description: 'the signature-comparison API: POST /compare with image1_base64 and image2_base64 answers its fields too' },
  { name: WORKSHOP_TAG, description: `the face-recognition workshop's FastAPI service, under ${WORKSHOP_ROOT} and without it (serve --compat)` },
  { name: FLASK_TAG, description: 'the Flask face API under /api; its gallery ("milvus") is the facekit gallery (serve --compat)' },
  { name: DEEPFACE_TAG, description: DEEPFACE_TAG_DESCRIPTION },
];

const modelNames = [...Object.keys(MODEL_ALIASES), ...Object.keys(RECOGNIZERS)];
const modelField: Schema = {
  type: 'string', enum: modelNames,
  description: `${Object.entries(MODEL_ALIASES).map(([a, m]) => `${a} (an alias of ${m})`).join(', ')}, or a facekit model; default: the gallery's model. Any other name is a 400`,
};
const eye: Schema = {
  type: ['array', 'null'], items: int, minItems: 2, maxItems: 2,
  description: '[x, y] in whole pixels; named from the person\'s point of view as deepface names them: left_eye is the person\'s left eye (on the right of an upright, frontal photo)',
};
const jsonBody = (schema: Schema, description: string): Schema => ({ required: true, description, content: { 'application/json': { schema } } });
const UNTYPED = 'JSON, with Content-Type application/json or with no Content-Type at all (as this API\'s own test client sends it)';
const imageJson = jsonBody(
  { type: 'object', properties: { base64: { type: 'string', description: 'the image as base64 (a data: URL is taken too)' } }, required: ['base64'], additionalProperties: false },
  UNTYPED,
);
const form = (properties: Record<string, Schema>, required: string[]): Schema => ({
  required: true, content: { 'multipart/form-data': { schema: { type: 'object', properties, required } } },
});
const requestErrors: Record<string, Schema> = {
  400: errorResponse('malformed request: not a JSON object (bad_json), a field this endpoint does not take (unknown_field), no "base64" (bad_request)'),
  413: imageErrors[413]!,
  415: errorResponse('a Content-Type other than JSON or none (unsupported_media_type)'),
  503: busy,
};

function workshop(): Record<string, Record<string, Schema>> {
  const ops: Record<string, Record<string, Schema>> = {
    '/status': { get: { tags: [WORKSHOP_TAG], summary: 'is the service up?', responses: { 200: ok('up', ref('WorkshopStatus')) } } },
    '/echo': {
      post: {
        tags: [WORKSHOP_TAG], summary: 'answers the JSON object it is sent',
        requestBody: jsonBody({ type: 'object' }, UNTYPED),
        responses: { 200: ok('the same object', { type: 'object' }), ...requestErrors },
      },
    },
    '/detect-face': {
      post: {
        tags: [WORKSHOP_TAG], summary: 'the faces of an image as deepface\'s extract_faces gives their facial_area (largest first)',
        description: 'An image that cannot be used (not base64, not an image, damaged, too many pixels, no face) is answered [] as the workshop\'s service did, and the reason goes to the server log. ' +
          'A request that is not {"base64": ...} is a 400, and a busy server a 503, as everywhere in facekit.',
        requestBody: imageJson,
        responses: { 200: ok('one item per face; [] when there is none', arr(ref('WorkshopFace'))), ...requestErrors },
      },
    },
    '/recognize-face': {
      post: {
        tags: [WORKSHOP_TAG], summary: 'who is this? the largest face against the gallery',
        description: `"name" is the gallery's nearest identity when within the threshold (the gallery's calibrated one), else "${UNKNOWN_NAME}"; "distance" is the distance to the nearest identity either way.`,
        requestBody: imageJson,
        responses: {
          200: ok('the nearest identity', ref('WorkshopRecognition')), ...imageErrors,
          409: errorResponse('the gallery is empty (empty_gallery)'),
        },
      },
    },
  };
  return Object.fromEntries(['', WORKSHOP_ROOT].flatMap((root) => Object.entries(ops).map(([p, op]) => [root + p, op])));
}

function flask(maxBatch: number): Record<string, Record<string, Schema>> {
  const tags = [FLASK_TAG];
  return {
    '/api/health': { get: { tags, summary: 'status, the model names taken, and whether the gallery can be read', responses: { 200: ok('up', ref('FlaskHealth')) } } },
    '/api/models': { get: { tags, summary: 'the model names taken, and the facekit model each stands for', responses: { 200: ok('the models', ref('FlaskModels')) } } },
    '/api/embedding': {
      post: {
        tags, summary: 'the embedding of the largest face of an image',
        requestBody: form({ image: { ...binary, description: 'the image' }, model: modelField }, ['image']),
        responses: { 200: ok('the embedding', ref('FlaskEmbedding')), ...imageErrors },
      },
    },
    '/api/embeddings/batch': {
      post: {
        tags, summary: 'the embedding of the largest face of each image; an image that cannot be used is a failed result, not a failed request',
        requestBody: form({ images: { ...arr(binary), description: `the images (at most ${maxBatch}: serve --max-batch)` }, model: modelField }, ['images']),
        responses: { 200: ok('a result per image', ref('FlaskBatch')), 400: imageErrors[400]!, 413: imageErrors[413]!, 415: imageErrors[415]!, 503: busy },
      },
    },
    '/api/milvus/insert': {
      post: {
        tags, summary: 'add the largest face of each image to the gallery under person_id',
        description: 'Photos already in the gallery (same bytes) are not added again; photos without a face are left out and named in "message". image_paths, when given, names the images in messages; no path is ever read.',
        requestBody: form({
          images: { ...arr(binary), description: 'photos of the person' },
          person_id: { type: 'string', minLength: 1, maxLength: 100, description: 'who this is: the gallery label' },
          model: { ...modelField, description: `${modelField.description as string}; must stand for the gallery's model (else 409)` },
          image_paths: { type: 'string', description: 'a JSON array of strings, one per image' },
        }, ['images', 'person_id']),
        responses: {
          200: ok('added', ref('FlaskInsert')), ...imageErrors,
          409: errorResponse('the model is not the gallery\'s (model_mismatch), or another process holds the gallery lock (gallery_locked)'),
        },
      },
    },
  };
}

/** The compat routes' paths, and facekit's own `paths` as deepface's fields change them (those it shares). */
export function compatPaths(o: { maxBatch: number }, paths: Record<string, Record<string, Schema>>): Record<string, Record<string, Schema>> {
  return { ...sharedWithDeepface(paths), ...workshop(), ...flask(o.maxBatch), ...deepfacePaths() };
}

export const COMPAT_SCHEMAS: Record<string, Schema> = {
  WorkshopStatus: obj({ status: { type: 'string', enum: ['ok'] } }),
  WorkshopFace: obj({
    facial_area: obj({ x: int, y: int, w: int, h: int, left_eye: eye, right_eye: eye }),
  }),
  WorkshopRecognition: obj({
    name: { type: 'string', description: `the identity, or "${UNKNOWN_NAME}"` },
    distance: { ...num, description: 'distance to the nearest identity of the gallery (its metric)' },
  }),
  FlaskHealth: obj({
    status: { type: 'string', enum: ['healthy'] },
    models_loaded: { ...arr(str), description: 'the model names this server takes' },
    milvus_connected: { ...bool, description: 'whether the gallery (the facekit gallery file stands in for Milvus) can be read' },
  }),
  FlaskModels: obj({ models: arr(obj({ name: str, embedding_dim: int, description: str })) }),
  FlaskEmbedding: obj({ success: { type: 'boolean', enum: [true] }, model: str, embedding: arr(num), embedding_dim: int }),
  FlaskBatch: obj({
    success: bool, model: str,
    results: arr(obj({ filename: str, embedding: nullable(arr(num)), success: bool, error: { ...str, description: 'why this image failed' } }, ['filename', 'embedding', 'success'])),
    total: int, successful: int, failed: int,
  }),
  ...DEEPFACE_SCHEMAS,
  FlaskInsert: obj({
    success: bool, message: str,
    inserted_count: { ...int, description: 'faces added to the gallery (photos already in it are not counted)' },
    collection: { ...str, description: 'the gallery\'s name (its file name without the extension)' },
  }),
};
