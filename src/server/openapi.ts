/**
 * The OpenAPI 3.1 description of `facekit serve`, served at /openapi.json. Written by hand next to
 * the routes; the e2e test checks every answer it gets against the schemas here, so the two
 * cannot drift apart unnoticed.
 */
import { AGE_GENDER_MODEL_IDS, ANALYSIS_ACTIONS, DETECTORS, EMOTION_LABELS, EMOTION_MODEL_IDS, METRICS, RECOGNIZERS, RECOGNIZER_ALIASES, SPOOF_MODEL_IDS } from '../index.js';
import { MATCH_SCORE_MEANING } from './score.js';
import { arr, binary, bool, errorResponse, imageErrors, int, nullable, num, obj, ok, ref, str, type Schema } from './openapi-schema.js';
import { COMPAT_SCHEMAS, COMPAT_TAGS, SIGNATURE_TAG, compatPaths } from './openapi-compat.js';

const IMAGE_TEXT = 'the image as base64, or as a data: URL (data:image/jpeg;base64,...); paths and URLs are not fetched';
const detectOptions = {
  detector: { type: 'string', enum: Object.keys(DETECTORS), description: 'face detector (default: the gallery\'s, else blazeface)' },
  min_score: { type: 'number', minimum: 0, maximum: 1, description: 'lowest detector confidence kept (default 0.5)' },
  max_faces: { type: 'integer', minimum: 1, maximum: 100, description: 'most faces per image (default 20)' },
};
/** deepface's name: a camera frame with nobody in it is an ordinary answer, not an error. */
const enforceDetection = {
  enforce_detection: { type: 'boolean', description: 'false: an image without a face is a 200 with "faces": [] instead of a 422 no_face (default true; a form field or the query string says it as true/false or 1/0)' },
};
const modelOption = {
  type: 'string', enum: [...Object.keys(RECOGNIZERS), 'MobileNetV2', ...Object.keys(RECOGNIZER_ALIASES)],
  description: 'recognition model (default: the gallery\'s); mobilenetv2 (also MobileNetV2, any case) compares whole images, no face needed',
};
const metricOption = { type: 'string', enum: [...METRICS] };
/** Only present when there is something to say, e.g. a threshold far looser than the calibrated one. */
const warningsField: Schema = { ...arr(str), description: 'present only when the answer is to be taken with care, e.g. a threshold so loose that different people match' };
const thresholdRange = 'above 0, and below 2 for euclidean_l2 and cosine (their largest distance); out of range is a 400 (usage)';
const analyzeOptions = {
  actions: { type: 'string', description: `what to estimate, comma-separated: ${ANALYSIS_ACTIONS.join(',')} (default all; an unknown one is a 400 that names these)` },
  age_gender_model: { type: 'string', enum: [...AGE_GENDER_MODEL_IDS], description: 'age and gender model (default faceapi)' },
  emotion_model: { type: 'string', enum: [...EMOTION_MODEL_IDS], description: 'emotion model (default faceapi)' },
  spoof_model: { type: 'string', enum: [...SPOOF_MODEL_IDS], description: 'real-or-spoof model (default minifasnet)' },
  spoof_threshold: { type: 'number', minimum: 0, maximum: 1, description: "realness score below which a face is a spoof (default: the model's own)" },
};

/** Request bodies: the same fields as multipart (files) or JSON (base64), and for one image the raw bytes. */
function body(images: Record<string, { many?: boolean; description: string }>, options: Record<string, Schema>, required: string[], rawImage: boolean): Schema {
  const multipartProps: Record<string, Schema> = {};
  const jsonProps: Record<string, Schema> = {};
  for (const [name, i] of Object.entries(images)) {
    multipartProps[name] = i.many ? { ...arr(binary), description: i.description } : { ...binary, description: i.description };
    const text = { type: 'string', description: IMAGE_TEXT };
    jsonProps[name] = i.many ? { ...arr(text), description: `${i.description}: a list of base64 images or data: URLs` } : { ...text, description: `${i.description}: ${IMAGE_TEXT}` };
  }
  const content: Schema = {
    'multipart/form-data': { schema: { type: 'object', properties: { ...multipartProps, ...options }, required } },
    'application/json': { schema: { type: 'object', properties: { ...jsonProps, ...options }, required, additionalProperties: false } },
  };
  if (rawImage) content['image/*'] = { schema: { ...binary, description: 'the image itself; options go in the query string' } };
  return { required: true, content };
}

const unauthorized: Schema = {
  description: 'no API key, or the wrong one (unauthorized): send "Authorization: Bearer KEY" or "X-API-Key: KEY"',
  headers: { 'WWW-Authenticate': { schema: str, description: 'Bearer realm="facekit"' } },
  content: { 'application/json': { schema: ref('Error') } },
};

/** With an API key in force: every operation needs it (and may answer 401) but the page and this document. */
function secure(paths: Record<string, Record<string, Schema>>): Record<string, Record<string, Schema>> {
  const open = new Set(['/', '/openapi.json']);
  return Object.fromEntries(Object.entries(paths).map(([path, ops]) => [path, Object.fromEntries(Object.entries(ops).map(([method, op]) => [
    method,
    open.has(path) ? { ...op, security: [] } : { ...op, responses: { ...(op.responses as Schema), 401: unauthorized } },
  ]))]));
}

export interface DocumentOptions {
  bodyLimit: number;
  maxBatch: number;
  version: string;
  /** an API key is in force: every operation but the page and this document may answer 401 */
  apiKey?: boolean;
  /** serve --compat: the routes of the APIs facekit replaces are served, and described */
  compat?: boolean;
}

const FACEKIT_TAG = 'facekit';

export function openApiDocument(o: DocumentOptions): Schema {
  const base = document(o);
  const own = Object.fromEntries(Object.entries(base.paths as Record<string, Record<string, Schema>>).map(([path, ops]) => [path,
    Object.fromEntries(Object.entries(ops).map(([method, op]) => [method, { tags: [FACEKIT_TAG], ...op }]))]));
  const components = base.components as Schema;
  const doc: Schema = {
    ...base,
    tags: [
      { name: FACEKIT_TAG, description: 'facekit\'s own API' },
      ...COMPAT_TAGS.filter((t) => o.compat || t.name === SIGNATURE_TAG),
    ],
    paths: o.compat ? compatPaths({ maxBatch: o.maxBatch }, own) : own,
    components: { ...components, schemas: { ...(components.schemas as Schema), ...(o.compat ? COMPAT_SCHEMAS : {}) } },
  };
  if (!o.apiKey) return doc;
  return {
    ...doc,
    info: { ...(doc.info as Schema), description: `${(doc.info as Schema).description as string} This server needs an API key on every endpoint but /, /docs and /openapi.json: "Authorization: Bearer KEY" or "X-API-Key: KEY"; without it, 401.` },
    security: [{ bearer: [] }, { apiKey: [] }],
    paths: secure(doc.paths as Record<string, Record<string, Schema>>),
  };
}

function document(o: DocumentOptions): Schema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'facekit serve',
      version: o.version,
      description: 'The facekit face-recognition pipeline (detect, align, normalize, represent, verify) over HTTP. ' +
        'Images are sent as multipart file uploads, as base64 or data: URLs in JSON, or (one image) as the raw body with Content-Type image/*. ' +
        `Request bodies are limited to ${o.bodyLimit} bytes, and to ${o.maxBatch} images per request. ` +
        'Every error is answered as {"error": {"code", "message"}}.',
    },
    servers: [{ url: '/' }],
    paths: {
      '/health': {
        get: { summary: 'status, backend, models loaded, gallery size, queue', responses: { 200: ok('the server is up', ref('Health')) } },
      },
      '/models': {
        get: { summary: 'every model facekit can use, and whether the workers have it loaded', responses: { 200: ok('the models', ref('ModelList')) } },
      },
      '/detect': {
        post: {
          summary: 'faces in an image: boxes, scores, landmarks (largest face first)',
          requestBody: body({ image: { description: 'the image' } }, { ...detectOptions, ...enforceDetection }, ['image'], true),
          responses: { 200: ok('the faces', ref('DetectResult')), ...imageErrors },
        },
      },
      '/analyze': {
        post: {
          summary: 'age, gender, emotion and real-or-spoof of each face of an image (largest face first)',
          requestBody: body({ image: { description: 'the image' } }, { ...analyzeOptions, ...detectOptions, ...enforceDetection }, ['image'], true),
          responses: { 200: ok('the faces, each with its analysis', ref('AnalyzeResult')), ...imageErrors },
        },
      },
      '/represent': {
        post: {
          summary: 'an embedding for every face of one image, or of a batch of images',
          description: 'With "image" a failed image is an error answer; with "images" (a batch) each result carries its own "error" and the answer is 200.',
          requestBody: body({ image: { description: 'one image' }, images: { many: true, description: 'a batch of images' } }, { model: modelOption, ...detectOptions }, [], true),
          responses: { 200: ok('embeddings', ref('RepresentResult')), ...imageErrors },
        },
      },
      '/compare': {
        post: {
          tags: [FACEKIT_TAG, SIGNATURE_TAG],
          summary: 'are the people in two photos the same person? (the largest face of each)',
          description: '"image1_base64" and "image2_base64" are accepted as other names for "image1" and "image2", and the answer also has ' +
            'the fields of the signature-comparison API this one replaces: similarity, same_signature (the verdict), threshold and model.',
          requestBody: body(
            { image1: { description: 'first photo' }, image2: { description: 'second photo' }, image1_base64: { description: 'first photo (other name)' }, image2_base64: { description: 'second photo (other name)' } },
            { model: modelOption, metric: { ...metricOption, description: 'distance (default euclidean_l2)' }, threshold: { type: 'number', exclusiveMinimum: 0, description: `largest distance that counts as the same person (default: calibrated per model and metric); ${thresholdRange}` }, ...detectOptions },
            [], false),
          responses: { 200: ok('the verdict', ref('CompareResult')), ...imageErrors },
        },
      },
      '/verify': {
        post: {
          summary: 'who is this? each face of the image against the gallery, with the top-k identities',
          requestBody: body({ image: { description: 'the photo to identify' } }, {
            top_k: { type: 'integer', minimum: 1, maximum: 100, description: 'identities to list per face (default 3)' },
            threshold: { type: 'number', exclusiveMinimum: 0, description: `largest distance that counts as a match (default: calibrated for the gallery's model and metric); ${thresholdRange}` },
            metric: { ...metricOption, description: 'distance (default: the gallery\'s)' },
            model: { ...modelOption, description: 'if given, must be the gallery\'s model' },
            ...detectOptions, ...enforceDetection,
          }, ['image'], true),
          responses: {
            200: ok('an answer per face', ref('VerifyResult')), ...imageErrors,
            409: errorResponse('the gallery is empty (empty_gallery), or was built with another model than the one asked for (model_mismatch)'),
          },
        },
      },
      '/similar': {
        post: {
          summary: 'the gallery photos nearest to an image, nearest first, with their label (category or person); any gallery',
          requestBody: body({ image: { description: 'the query picture' } }, {
            top: { type: 'integer', minimum: 1, maximum: 100, description: 'photos to list (default 8)' },
            threshold: { type: 'number', exclusiveMinimum: 0, description: `largest distance counted as similar (default: calibrated for the gallery's model and metric); ${thresholdRange}` },
            metric: { ...metricOption, description: 'distance (default: the gallery\'s)' },
          }, ['image'], true),
          responses: { 200: ok('the nearest photos', ref('SimilarResult')), ...imageErrors, 409: errorResponse('the gallery is empty (empty_gallery)') },
        },
      },
      '/gallery': {
        get: {
          summary: 'the people in the gallery, with their photos (a page of them with offset and limit)',
          parameters: [
            { name: 'offset', in: 'query', required: false, schema: { ...int, minimum: 0 }, description: 'people to skip (in name order)' },
            { name: 'limit', in: 'query', required: false, schema: { ...int, minimum: 1, maximum: 10000 }, description: 'most people in the answer (default: all)' },
          ],
          responses: { 200: ok('the gallery', ref('GalleryList')), 400: errorResponse('an offset or limit that is not a whole number in range') },
        },
        post: {
          summary: 'add photos of a person (the largest face of each photo)',
          description: 'Photos already in the gallery (same bytes) are skipped. The gallery file is written under its lock and atomically; concurrent requests are applied one after another.',
          requestBody: body({ image: { many: true, description: 'photos of the person' }, images: { many: true, description: 'photos of the person' } }, {
            label: { type: 'string', minLength: 1, maxLength: 100, description: 'who this is' },
            model: { ...modelOption, description: 'if given, must be the gallery\'s model' },
            detector: detectOptions.detector,
            min_score: detectOptions.min_score,
          }, ['label'], false),
          responses: {
            201: ok('photos were added', ref('GalleryAddResult')),
            200: ok('nothing new: every photo was already in the gallery', ref('GalleryAddResult')),
            ...imageErrors,
            409: errorResponse('the gallery was built with another model (model_mismatch), or another process holds its lock (gallery_locked)'),
          },
        },
      },
      '/gallery/{label}': {
        delete: {
          summary: 'remove a person from the gallery (and the photos the server stored for them)',
          parameters: [{ name: 'label', in: 'path', required: true, schema: str }],
          responses: { 200: ok('removed', ref('GalleryDeleteResult')), 404: errorResponse('nobody by that name (not_found)'), 409: errorResponse('another process holds the gallery lock (gallery_locked)') },
        },
      },
      '/gallery/photos/{hash}': {
        get: {
          summary: 'the photo of a gallery entry, by the sha256 of its bytes (only photos that are in the gallery)',
          parameters: [
            { name: 'hash', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
            { name: 'size', in: 'query', required: false, schema: { type: 'integer', minimum: 16, maximum: 2048 }, description: 'a JPEG thumbnail of at most this many pixels a side' },
            { name: 'face', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'crop around this face of the photo' },
          ],
          responses: {
            200: { description: 'the image', content: { 'image/*': { schema: binary } } },
            400: errorResponse('a bad query parameter'),
            404: errorResponse('no such photo in the gallery, or its file changed since it was added (not_found)'),
          },
        },
      },
      '/openapi.json': { get: { summary: 'this document', responses: { 200: ok('OpenAPI 3.1', { type: 'object' }) } } },
      '/': { get: { summary: 'the web page', responses: { 200: { description: 'HTML', content: { 'text/html': { schema: str } } } } } },
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'the API key of serve --api-key (or FACEKIT_API_KEY), as a Bearer token; only when the server was started with one' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'the same key in a header of its own' },
      },
      schemas: {
        Error: obj({ error: obj({ code: str, message: str }) }),
        Point: { type: 'array', items: num, minItems: 2, maxItems: 3 },
        Box: { type: 'array', items: num, minItems: 4, maxItems: 4, description: '[x, y, width, height] in pixels of the (EXIF-rotated) image' },
        Landmarks: {
          type: 'object', additionalProperties: ref('Point'), required: ['leftEye', 'rightEye', 'noseTip', 'mouthLeft', 'mouthRight'],
          description: 'named points in image pixels; leftEye is the eye with the smaller x',
        },
        Face: obj({ face: int, box: ref('Box'), score: num, landmarks: ref('Landmarks') }),
        Embedding: obj({ model: str, dim: int, vector: arr(num) }),
        DetectResult: obj({ image: str, width: int, height: int, detector: str, faces: arr(ref('Face')) }),
        Analysis: obj({
          age: { ...num, description: 'estimated age in years' },
          gender: { type: 'string', enum: ['woman', 'man'] },
          genderScore: { type: 'number', minimum: 0, maximum: 1, description: "the model's probability for that gender" },
          emotion: { type: 'object', properties: Object.fromEntries(EMOTION_LABELS.map((l) => [l, num])), additionalProperties: false, description: 'probability of each emotion (they sum to 1)' },
          dominantEmotion: { type: 'string', enum: [...EMOTION_LABELS] },
          spoof: obj({
            score: { type: 'number', minimum: 0, maximum: 1, description: 'how likely the face is a real, live one' },
            real: { type: 'boolean', description: 'score >= threshold' }, threshold: num, model: str,
          }, ['score', 'real']),
          models: { type: 'object', additionalProperties: str, description: 'the model behind each answer' },
        }, []),
        AnalyzeResult: obj({
          image: str, width: int, height: int, detector: str, actions: arr({ type: 'string', enum: [...ANALYSIS_ACTIONS] }),
          faces: arr(obj({ face: int, box: ref('Box'), score: num, landmarks: ref('Landmarks'), analysis: ref('Analysis') })),
        }),
        RepresentResult: obj({
          model: str, dim: int,
          results: arr(obj({
            image: str, width: int, height: int,
            faces: arr(obj({ face: int, box: ref('Box'), score: num, landmarks: ref('Landmarks'), embedding: ref('Embedding') })),
            error: obj({ code: str, message: str }),
          }, ['image', 'faces'])),
        }),
        CompareSide: obj({ image: str, width: int, height: int, face: int, box: ref('Box'), faces: { ...int, description: 'faces found in the photo (the largest is compared)' } }),
        CompareResult: obj({
          verified: bool, verdict: { type: 'string', enum: ['same', 'different'] },
          similarity: { type: 'number', minimum: 0, maximum: 1, description: '1 - cosine distance, clamped to 0..1; kept for the clients of the API this one replaces. It is not calibrated (two different people often score 80%): show match_score, or the verdict and the distance' },
          distance: num,
          match_score: { type: 'number', minimum: 0, maximum: 1, description: MATCH_SCORE_MEANING },
          threshold: num, metric: { type: 'string', enum: [...METRICS, 'siamese'], description: 'the distance (siamese: 1 - the serve --head siamese head\'s probability of "same")' }, model: str,
          head: { ...str, description: 'present when serve --head decided: the head\'s kind and weights\' sha256 prefix' },
          same_signature: { type: 'boolean', description: 'the same as "verified", under the name the signature-comparison API used' },
          image1: ref('CompareSide'), image2: ref('CompareSide'),
          warnings: warningsField,
        }, ['verified', 'verdict', 'similarity', 'distance', 'match_score', 'threshold', 'metric', 'model', 'same_signature', 'image1', 'image2']),
        Candidate: obj({
          label: str, distance: num,
          match_score: { type: 'number', minimum: 0, maximum: 1, description: MATCH_SCORE_MEANING },
          photo: { type: 'string', description: 'URL of the gallery photo that matched best (GET /gallery/photos/{hash}); server paths are never shown' }, face: int,
        }, ['label', 'distance', 'match_score']),
        FaceAnswer: obj({
          image: str, face: nullable(int), box: ref('Box'),
          identity: { type: ['string', 'null'], description: 'the best identity, or null when nobody is close enough' },
          distance: nullable(num), threshold: num, metric: metricOption,
          verdict: { type: 'string', enum: ['match', 'unknown', 'error'] },
          candidates: arr(ref('Candidate')),
          error: obj({ code: str, message: str }),
        }, ['image', 'face', 'identity', 'distance', 'threshold', 'metric', 'verdict', 'candidates']),
        VerifyResult: obj({
          image: str, width: int, height: int, model: str, metric: metricOption, threshold: num, faces: arr(ref('FaceAnswer')),
          warnings: warningsField,
        }, ['image', 'width', 'height', 'model', 'metric', 'threshold', 'faces']),
        SimilarResult: obj({
          image: str, model: str, metric: metricOption, threshold: num, box: ref('Box'),
          matches: arr(obj({
            rank: int, label: { ...str, description: 'the photo\'s category or person' }, face: int, distance: num,
            similar: { type: 'boolean', description: 'within the threshold' }, match_score: num,
            photo: { ...str, description: 'GET this for the photo (?size=N for a thumbnail)' },
          }, ['rank', 'label', 'face', 'distance', 'similar', 'match_score', 'photo'])),
        }, ['image', 'model', 'metric', 'threshold', 'matches']),
        QueueStats: obj({ workers: int, running: int, waiting: int, maxWaiting: int, secondsPerImage: num }),
        Health: obj({
          status: { type: 'string', enum: ['ok', 'stopping'] }, version: str, backend: str, workers: int,
          models: { ...arr(str), description: 'models the workers have loaded' },
          gallery: obj({ model: str, metric: metricOption, subject: { type: 'string', enum: ['face', 'image'], description: 'faces of people, or whole pictures of categories (people and faces then count categories and pictures)' }, people: int, faces: int }),
          queue: ref('QueueStats'), uptime: { ...int, description: 'seconds' },
        }),
        ModelList: obj({
          models: arr(obj({
            id: str, task: { type: 'string', enum: ['detect', 'landmarks', 'represent'] }, source: str, bytes: int, input: str, output: str,
            default: bool, description: str, loaded: bool,
          })),
        }),
        GalleryList: obj({
          model: str, dim: int, metric: metricOption, threshold: num, faces: int,
          people: arr(obj({ label: str, faces: int, photos: arr(obj({ photo: str, face: int })) })),
          total_people: { ...int, description: 'people in the gallery (the page holds `people`)' },
          next_offset: { ...nullable(int), description: 'the offset of the next page, or null on the last one' },
        }),
        GalleryAddResult: obj({
          label: str,
          added: arr(obj({ image: str, face: int, photo: str })),
          skipped: { ...arr(obj({ image: str, label: str })), description: 'photos already in the gallery, and whose they are' },
          failed: arr(obj({ image: str, error: obj({ code: str, message: str }) })),
          otherFaces: { ...int, description: 'faces left out because a photo held more than one (the largest is added)' },
          gallery: obj({ people: int, faces: int }),
        }),
        GalleryDeleteResult: obj({ label: str, removed: int, gallery: obj({ people: int, faces: int }) }),
      },
    },
  };
}
