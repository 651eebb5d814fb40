/**
 * `facekit serve --compat` as deepface's REST service (deepface/api/src/modules/core/routes.py):
 * the requests of deepface's own API tests (tests/unit/test_api.py) replayed as its clients send
 * them (JSON with base64 / data: URLs, multipart files, paths and URLs, missing fields), answered
 * in deepface's shapes, plus /register then /search over the served gallery. deepface's fields
 * choose deepface's answer on facekit's own /verify, /represent and /analyze; facekit's own fields
 * keep facekit's. Every answer is checked against the server's /openapi.json.
 *
 * Where facekit answers otherwise than deepface's tests expect, by design: paths and URLs are
 * refused (deepface reads and fetches them), embeddings have facekit's model's length (192 for
 * mobilefacenet, 128 for resnet34 = "Dlib"), "model" names the facekit model that ran, and race
 * is not estimated (dominant_race is left out, and the answer says so).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../dist/server/app.js';
import { serveInProcess, type InProcessServer } from '../helpers/app.js';
import { ARTISTS, DEMO, hasArtists, tempDir } from '../helpers/cli.js';
import { conform, responseSchema, type Schema } from '../helpers/openapi.js';
import { form } from '../helpers/serve.js';

const artist = (person: string, f: string) => join(ARTISTS, person, f);
/** Two photos of one person, one of another, one of a third who is never registered. */
const BOB1 = hasArtists ? artist('bob_dylan', 'Bob-Dylan.jpg') : join(DEMO, 'sample6.jpg');
const BOB2 = hasArtists ? artist('bob_dylan', 'gettyimages-3315233.jpg') : undefined;
const NINA = hasArtists ? artist('nina_simone', 'Nina-Simone.jpg') : join(DEMO, 'sample1.jpg');
const STRANGER = hasArtists ? artist('belchior', 'A-662231-1349708907-5720.jpg') : undefined;
/** Said in the title of a test that is skipped without the artists' photos. */
const NO_ARTISTS = hasArtists ? '' : ' (skipped: needs ../shared/datasets/artists, two photos of one person)';
if (!hasArtists) console.warn(`compat-deepface: ${ARTISTS} is absent: the same-person and stranger checks are skipped`);

const dataUrl = (path: string) => `data:image/jpeg;base64,${readFileSync(path).toString('base64')}`;
const bare = (path: string) => readFileSync(path).toString('base64');

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('facekit serve --compat: deepface\'s REST API', () => {
  let srv: InProcessServer;
  let doc: Schema;

  beforeAll(async () => {
    srv = await serveInProcess({ db: join(tempDir('facekit-deepface-'), 'gallery.json'), compat: true });
    doc = (await srv.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Schema;
  });

  /** POST as deepface's clients do (Flask's test client: json= or multipart data=), the answer checked against /openapi.json. */
  async function post(path: string, payload: Record<string, unknown> | FormData): Promise<Answer> {
    const res = payload instanceof FormData
      ? await srv.app.inject({ method: 'POST', url: path, payload })
      : await srv.app.inject({ method: 'POST', url: path, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
    expect(res.body, 'never a stack trace').not.toMatch(/\n\s+at |node:internal/);
    const body = res.json() as unknown;
    const schema = responseSchema(doc, path, 'post', res.statusCode);
    expect(schema, `POST ${path} ${res.statusCode} is documented`).toBeDefined();
    expect(conform(doc, body, schema!), `POST ${path} ${res.statusCode}: ${res.body.slice(0, 300)}`).toEqual([]);
    return { status: res.statusCode, body };
  }
  const refusedAsPath = (r: Answer, field: string) => {
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ exception: expect.stringMatching(new RegExp(`^field "${field}" is not an image as base64 or a data: URL \\(paths and URLs are not fetched`)), code: 'bad_request' });
  };

  it('describes the family in /openapi.json: its own paths, and its fields on the paths it shares with facekit', () => {
    const paths = doc.paths as Record<string, Record<string, Schema>>;
    for (const p of ['/register', '/search', '/build/index']) expect(paths[p]!.post!.tags).toEqual(['compat: deepface']);
    for (const p of ['/verify', '/represent', '/analyze']) {
      const op = paths[p]!.post!;
      expect(op.tags).toEqual(['facekit', 'compat: deepface']);
      const json = (((op.requestBody as Schema).content as Schema)['application/json'] as Schema).schema as Schema;
      expect((json.anyOf as Schema[]).map((s) => Object.keys(s.properties as object)[0])).toEqual(['image', p === '/verify' ? 'img1' : 'img']);
    }
    const tag = (doc.tags as { name: string; description: string }[]).find((t) => t.name === 'compat: deepface')!;
    expect(tag.description).toMatch(/Dlib → resnet34/);
    expect(tag.description).toMatch(/VGG-Face, Facenet, .* → mobilefacenet/);
    expect(tag.description).toMatch(/race is not estimated/);
    expect(srv.log.join('\n')).toMatch(/and deepface's REST API/);
  });

  /* ------------------------------------------------------------ test_api.py: represent */

  it('represent: JSON with a data: URL (test_represent_encoded), and a multipart file (test_represent_for_multipart_form_data)', async () => {
    const r = await post('/represent', { model_name: 'Facenet', detector_backend: 'mtcnn', img: dataUrl(BOB1) });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ model: 'mobilefacenet', detector_backend: 'blazeface' });
    expect(r.body.results.length).toBeGreaterThan(0);
    for (const i of r.body.results) {
      expect(i.embedding).toHaveLength(192); // deepface's Facenet gives 128: facekit's model stands in
      expect(i.face_confidence).toBeGreaterThan(0.5);
      expect(Object.keys(i.facial_area)).toEqual(['x', 'y', 'w', 'h', 'left_eye', 'right_eye', 'nose', 'mouth_left', 'mouth_right']);
      // named from the person's side, as deepface names them
      expect(i.facial_area.left_eye[0]).toBeGreaterThan(i.facial_area.right_eye[0]);
    }
    // "Dlib" is dlib's ResNet-34, which facekit has: 128-d, as deepface's Dlib
    const dlib = await post('/represent', form({ img: `@${BOB1}`, model_name: 'Dlib', detector_backend: 'retinaface' }));
    expect(dlib.status).toBe(200);
    expect(dlib.body).toMatchObject({ model: 'resnet34', detector_backend: 'blazeface' });
    expect(dlib.body.results[0].embedding).toHaveLength(128);
  });

  it('represent: paths and URLs are refused with one 400 that says to send the bytes (test_represent, test_represent_url, test_invalid_represent, test_no_file_represent, ..._and_filepath)', async () => {
    for (const img of ['dataset/img1.jpg', 'https://github.com/serengil/deepface/blob/master/tests/unit/dataset/couple.jpg?raw=true', './test-x/invalid.jpg', 'no_such_file.jpg']) {
      refusedAsPath(await post('/represent', { img }), 'img');
    }
    refusedAsPath(await post('/represent', form({ img: '/tmp/img1.jpg', model_name: 'Facenet', detector_backend: 'mtcnn' })), 'img');
    // deepface's older field name
    refusedAsPath(await post('/represent', { img_path: 'img.jpg' }), 'img_path');
  });

  /* ------------------------------------------------------------ test_api.py: verify */

  it.skipIf(!hasArtists)(`verify: the same person (test_tp_verify), JSON with bare base64${NO_ARTISTS}`, async () => {
    const r = await post('/verify', { img1: bare(BOB1), img2: dataUrl(BOB2!) });
    expect(r.status).toBe(200);
    for (const k of ['verified', 'model', 'similarity_metric', 'detector_backend', 'distance', 'threshold', 'facial_areas']) expect(r.body[k], k).not.toBeUndefined();
    expect(r.body).toMatchObject({ verified: true, model: 'mobilefacenet', detector_backend: 'blazeface', similarity_metric: 'cosine', threshold: 0.63 });
    expect(r.body.distance).toBeLessThan(0.63);
    expect(r.body.confidence).toBeGreaterThan(50);
    expect(Object.keys(r.body.facial_areas)).toEqual(['img1', 'img2']);
  });

  it.skipIf(!hasArtists)(`verify: different people (test_tn_verify; deepface's own test sends the same pair), multipart files with Facenet, mtcnn, euclidean (test_verify_for_multipart_form_data)${NO_ARTISTS}`, async () => {
    const r = await post('/verify', form({ img1: `@${BOB1}`, img2: `@${NINA}`, model_name: 'Facenet', detector_backend: 'mtcnn', distance_metric: 'euclidean' }));
    expect(r.status).toBe(200);
    // facekit's calibrated euclidean threshold for mobilefacenet, and the model that ran
    expect(r.body).toMatchObject({ verified: false, model: 'mobilefacenet', detector_backend: 'blazeface', similarity_metric: 'euclidean', threshold: 1.11 });
    expect(r.body.distance).toBeGreaterThan(1.11);
    expect(r.body.confidence).toBeLessThan(50);
  });

  it('verify: invalid paths (test_invalid_verify), a missing image, angular', async () => {
    refusedAsPath(await post('/verify', { img1: 'dataset/invalid_1.jpg', img2: 'dataset/invalid_2.jpg' }), 'img1');
    expect(await post('/verify', { img1: dataUrl(BOB1) })).toEqual({ status: 400, body: { exception: expect.stringMatching(/^'img2' not found in the request/), code: 'bad_request' } });
    const angular = await post('/verify', { img1: dataUrl(BOB1), img2: dataUrl(BOB1), distance_metric: 'angular' });
    expect(angular).toMatchObject({ status: 400, body: { exception: expect.stringMatching(/facekit does not compute the angular distance; cosine gives the same order/) } });
  });

  /* ------------------------------------------------------------ test_api.py: analyze */

  it('analyze: JSON (test_analyze), multipart with actions as text (test_analyze_for_multipart_form_data); race is left out and said so', async () => {
    const r = await post('/analyze', { img: dataUrl(NINA) });
    expect(r.status).toBe(200);
    expect(r.body.results.length).toBeGreaterThan(0);
    for (const i of r.body.results) {
      expect(Number.isInteger(i.age)).toBe(true);
      expect(['Man', 'Woman']).toContain(i.dominant_gender);
      expect(i.gender.Man + i.gender.Woman).toBeCloseTo(100, 1);
      expect(i.emotion[i.dominant_emotion]).toBe(Math.max(...Object.values(i.emotion as Record<string, number>)));
      expect(i.dominant_race).toBeUndefined(); // deepface's test asserts it: facekit has no race model
    }
    if (hasArtists) expect(r.body.results[0].dominant_gender).toBe('Woman');
    expect(r.body.warnings).toEqual(['race is not estimated by facekit: "race" and "dominant_race" are left out']);

    const m = await post('/analyze', form({ img: `@${NINA}`, actions: '["age", "gender"]', detector_backend: 'mtcnn' }));
    expect(m.status).toBe(200);
    expect(Object.keys(m.body)).toEqual(['results']);
    expect(Object.keys(m.body.results[0])).toEqual(['age', 'gender', 'dominant_gender', 'region', 'face_confidence']);
    // the same image as JSON or as a file: the same answer (test_analyze_inputformats)
    expect(m.body.results[0].dominant_gender).toBe(r.body.results[0].dominant_gender);
    expect(m.body.results[0].age).toBe(r.body.results[0].age);
  });

  it('analyze: paths and URLs refused (test_invalid_analyze, test_no_file_analyze, test_analyze_inputformats); bad actions', async () => {
    for (const img of ['dataset/couple.jpg', 'https://github.com/serengil/deepface/blob/master/tests/unit/dataset/couple.jpg?raw=true', 'no_such_file.jpg']) {
      refusedAsPath(await post('/analyze', { img }), 'img');
    }
    expect(await post('/analyze', { img: dataUrl(NINA), actions: ['age', 'smile'] })).toMatchObject({ status: 400, body: { exception: '"actions": unknown action "smile"; deepface\'s are age, gender, emotion, race' } });
  });

  /* ------------------------------------------------------------ errors, and the two APIs on one path */

  it('answers deepface\'s error shapes: {"exception"} for the request, {"error": "Exception while ..."} for the image; 400 either way', async () => {
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#777' } }).jpeg().toBuffer();
    const noFace = await post('/represent', { img: `data:image/jpeg;base64,${blank.toString('base64')}` });
    expect(noFace).toEqual({ status: 400, body: { error: expect.stringMatching(/^Exception while representing: .*no face/), code: 'no_face' } });
    // enforce_detection: false, as a Python form sends it: no results rather than an error
    expect(await post('/represent', form({ img: `data:image/jpeg;base64,${blank.toString('base64')}`, enforce_detection: 'False' })))
      .toMatchObject({ status: 200, body: { results: [] } });
    const text = await post('/represent', { img: `data:image/jpeg;base64,${Buffer.from('Not JPEG data').toString('base64')}` });
    expect(text).toEqual({ status: 400, body: { exception: expect.stringMatching(/not an image/), code: 'not_an_image' } });
    expect(await post('/register', {})).toEqual({ status: 400, body: { exception: expect.stringMatching(/^'img' not found in the request/), code: 'bad_request' } });
    // on deepface's own paths, a body that is not JSON is deepface's 400 too
    for (const [type, payload] of [['application/json', '{"img": '], ['text/plain', 'img=x']]) {
      const res = await srv.app.inject({ method: 'POST', url: '/search', payload, headers: { 'content-type': type } });
      expect(res.statusCode, type).toBe(400);
      expect(conform(doc, res.json(), responseSchema(doc, '/search', 'post', 400)!)).toEqual([]);
      expect(Object.keys(res.json() as object), type).toEqual(['exception', 'code']);
    }
    expect(await post('/represent', { model_name: 'Facenet' })).toMatchObject({ status: 400, body: { exception: expect.stringMatching(/^'img' not found/) } });
    // a misspelt field is a 400 that names the fields of the API the request speaks...
    const typo = await post('/represent', { img: dataUrl(BOB1), model_nam: 'Facenet' });
    expect(typo).toMatchObject({ status: 400, body: { code: 'unknown_field', exception: expect.stringMatching(/^unknown field "model_nam"; this endpoint takes \(as deepface's API\): img, .*model_name/) } });
    expect(await post('/represent', { img: dataUrl(BOB1), model_name: 'VGG-Fase' })).toMatchObject({ status: 400, body: { exception: expect.stringMatching(/"model_name" must be one of VGG-Face, Facenet/) } });
    // ...or of both, before its fields have said which
    const first = await post('/verify', { imag: 'x' });
    expect(first).toMatchObject({ status: 400, body: { error: { code: 'unknown_field', message: expect.stringMatching(/takes: image, top_k, .* \(or, as deepface's API: img1, img2, img_path/) } } });
    // a request may not mix the two
    expect(await post('/verify', { img1: dataUrl(BOB1), image: dataUrl(BOB1) }))
      .toMatchObject({ status: 400, body: { exception: expect.stringMatching(/^"image" is a field of facekit's API, but this request sends deepface's fields/) } });
  });

  /* ------------------------------------------------------------ the stateful routes, over the served gallery */

  it('register then search: the served gallery (Gallery.add / identifyMany), exact and "ann" alike; build/index says what facekit does', async () => {
    const reg = await post('/register', { img: dataUrl(BOB1), img_name: 'bob_dylan', model_name: 'VGG-Face', detector_backend: 'opencv' });
    expect(reg).toEqual({ status: 200, body: { inserted: 1, img_name: 'bob_dylan' } });
    // without img_name: the uploaded file's name, as deepface names a registered path
    const other = await post('/register', form({ img: `@${NINA}` }));
    expect(other).toEqual({ status: 200, body: { inserted: 1, img_name: NINA.split('/').pop() } });
    expect(await post('/register', { img: dataUrl(BOB1), img_name: 'again' }))
      .toMatchObject({ status: 400, body: { error: 'Exception while registering: Duplicate detected: this photo is in the gallery already (as "bob_dylan")' } });
    // a model other than the gallery's (mobilefacenet): Dlib is resnet34
    expect(await post('/register', { img: dataUrl(NINA), img_name: 'x', model_name: 'Dlib' })).toMatchObject({ status: 400, body: { code: 'model_mismatch' } });
    // facekit's own API sees the same gallery
    const g = (await srv.app.inject({ method: 'GET', url: '/gallery' })).json() as { people: { label: string }[] };
    expect(g.people.map((p) => p.label).sort()).toEqual(['bob_dylan', NINA.split('/').pop()].sort());

    const query = BOB2 ?? BOB1;
    const s = await post('/search', { img: dataUrl(query) });
    expect(s.status).toBe(200);
    // one list per face of the query, the largest face's first (the demo photos that stand in
    // without the artists hold several faces)
    if (hasArtists) expect(s.body.results).toHaveLength(1);
    else expect(s.body.results.length).toBeGreaterThan(1);
    const [row, ...rest] = s.body.results[0];
    expect(rest).toEqual([]); // Nina Simone is not within the threshold
    expect(row).toMatchObject({ img_name: 'bob_dylan', model_name: 'mobilefacenet', detector_backend: 'blazeface', search_method: 'exact', distance_metric: 'cosine', threshold: 0.48, aligned: true });
    expect(row.id).toMatch(/^[0-9a-f]{64}$/);
    expect(row.distance).toBeLessThanOrEqual(row.threshold);
    const ann = await post('/search', form({ img: `@${query}`, search_method: 'ann' }));
    expect(ann.body.results[0].map((x: { img_name: string; distance: number }) => [x.img_name, x.distance])).toEqual([[row.img_name, row.distance]]);
    // similarity_search: the k nearest, matches or not
    const near = await post('/search', { img: dataUrl(query), similarity_search: true, k: 2 });
    expect(near.body.results[0].map((x: { img_name: string }) => x.img_name)).toEqual(['bob_dylan', NINA.split('/').pop()]);
    if (STRANGER) expect((await post('/search', { img: dataUrl(STRANGER) })).body).toEqual({ results: [[]] });

    // facekit's own /verify on the same path, with facekit's field: facekit's answer
    const own = await srv.app.inject({ method: 'POST', url: '/verify', payload: form({ image: `@${query}` }) });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ model: 'mobilefacenet' });
    expect(own.json().faces).toHaveLength(s.body.results.length);
    expect(own.json().faces[0]).toMatchObject({ identity: 'bob_dylan' });
    expect(conform(doc, own.json(), responseSchema(doc, '/verify', 'post', 200)!)).toEqual([]);

    const b = await post('/build/index', { model_name: 'Facenet' });
    expect(b).toMatchObject({ status: 200, body: { message: expect.stringMatching(/^nothing to build: facekit's gallery keeps its own search/), faces: 2 } });
  });
});

describe('facekit serve without --compat', () => {
  it('keeps deepface\'s field names an unknown_field 400, and has none of its routes', async () => {
    // the app alone (no models: nothing here runs one)
    const opts = {
      host: '127.0.0.1', port: 0, workers: 1, backend: 'auto', maxPixels: 24_000_000, bodyLimit: 10_000_000, timeoutMs: 30_000,
      queue: 8, maxBatch: 16, debug: false, log: () => undefined, db: 'memory:',
    };
    const app = await buildApp({ opts, facekit: { accepts: () => true }, gallery: {}, backend: 'none', started: Date.now(), stopping: false, inFlight: 0 } as never);
    try {
      for (const [url, field] of [['/verify', 'img1'], ['/represent', 'img'], ['/analyze', 'img_path']] as const) {
        const res = await app.inject({ method: 'POST', url, payload: { [field]: 'x' } });
        expect(res.statusCode, url).toBe(400);
        expect(res.json().error.code).toBe('unknown_field');
        expect(res.json().error.message).not.toMatch(/deepface/);
      }
      expect((await app.inject({ method: 'POST', url: '/register', payload: {} })).statusCode).toBe(404);
      const d = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as Schema;
      expect(Object.keys(d.paths as object)).not.toContain('/search');
    } finally {
      await app.close();
    }
  });
});
