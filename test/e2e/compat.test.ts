/**
 * `facekit serve --compat`: the calls of the three services facekit replaces, sent exactly as
 * their clients send them (the workshop's: JSON with no Content-Type at all; the Flask API's:
 * multipart with its field names; the signature-comparison API's: JSON), answered in their shapes.
 * The server runs in this test process (test/helpers/app.ts) and is spoken to through fastify's
 * inject(). Every JSON answer is also checked against the server's own /openapi.json.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARTISTS, DEMO, FIXTURES, hasArtists, tempDir } from '../helpers/cli.js';
import { serveInProcess, type InProcessServer } from '../helpers/app.js';
import { checkAnswer, type Checked, type Schema } from '../helpers/openapi.js';
import { inject } from '../helpers/serve.js';
import { loadGallery } from '../../src/recognition/gallery-file.js';
import { RECOGNIZERS } from '../../src/models/catalogue.js';

const b64 = (path: string) => readFileSync(path).toString('base64');

/* ---------------------------------------------------------------- who is in the gallery */

const artist = (person: string, f: string) => join(ARTISTS, person, f);
const PEOPLE: Record<string, string[]> = hasArtists
  ? {
    bob_dylan: ['Bob-Dylan.jpg', 'gettyimages-3315233.jpg'].map((f) => artist('bob_dylan', f)),
    nina_simone: ['Nina-Simone.jpg', 'images.jpeg'].map((f) => artist('nina_simone', f)),
  }
  : { group1: [join(DEMO, 'sample1.jpg')], group2: [join(DEMO, 'sample2.jpg')] };
const [P1, P2] = Object.keys(PEOPLE) as [string, string];
/** A photo of P1 that is not in the gallery, and one of somebody who is not in it at all. */
const QUERY = hasArtists ? artist('bob_dylan', 'cronica-bob-dylan-672x438.jpg') : join(DEMO, 'sample1.jpg');
const STRANGER = hasArtists ? artist('belchior', 'A-662231-1349708907-5720.jpg') : join(DEMO, 'sample6.jpg');
const BAD = join(FIXTURES, 'bad');
const SAMPLE = join(DEMO, 'sample1.jpg');

const WORKSHOP = ['/status', '/echo', '/detect-face', '/recognize-face'];
const FLASK = ['/api/health', '/api/models', '/api/embedding', '/api/embeddings/batch', '/api/milvus/insert'];

describe('facekit serve --compat: the APIs it replaces', () => {
  let srv: InProcessServer;
  let db: string;
  let doc: Schema;
  const log = () => srv.log.join('\n');
  /** The workshop's client: the JSON body with no Content-Type (a string body: inject adds only its length). */
  const post = (path: string, body: string, headers: Record<string, string> = {}) => inject(srv, 'post', path, { body, headers });
  const workshop = async (path: string, body: unknown, docPath = path): Promise<Checked> =>
    checkAnswer(doc, await post(path, typeof body === 'string' ? body : JSON.stringify(body)), docPath, 'post');
  const flask = async (path: string, fields: Record<string, string | string[]>): Promise<Checked> =>
    checkAnswer(doc, await inject(srv, 'post', path, { form: fields }), path, 'post');
  const get = async (path: string): Promise<Checked> => checkAnswer(doc, await inject(srv, 'get', path), path, 'get');

  beforeAll(async () => {
    db = join(tempDir('facekit-compat-'), 'faces.json');
    srv = await serveInProcess({ db, compat: true, workers: 1 });
    doc = JSON.parse((await inject(srv, 'get', '/openapi.json')).text) as Schema;
  });

  it('describes every route of the three APIs in /openapi.json, a tag per service', () => {
    const paths = Object.keys(doc.paths as object);
    for (const p of [...WORKSHOP, ...WORKSHOP.map((w) => `/deteccao-facial-api${w}`), ...FLASK, '/compare']) expect(paths, p).toContain(p);
    const tags = (doc.tags as { name: string }[]).map((t) => t.name);
    expect(tags).toEqual(['facekit', 'compat: signature comparison', 'compat: workshop', 'compat: Flask face API', 'compat: deepface']);
    const tagOf = (path: string, method: string) => (((doc.paths as Schema)[path] as Schema)[method] as Schema).tags;
    expect(tagOf('/deteccao-facial-api/detect-face', 'post')).toEqual(['compat: workshop']);
    expect(tagOf('/api/milvus/insert', 'post')).toEqual(['compat: Flask face API']);
    expect(tagOf('/compare', 'post')).toEqual(['facekit', 'compat: signature comparison']);
    // deepface's fields on /verify choose its answer (compat-deepface.test.ts)
    expect(tagOf('/verify', 'post')).toEqual(['facekit', 'compat: deepface']);
    expect(log()).toMatch(/also serving the workshop's API .* and the Flask face API/);
  });

  /* ------------------------------------------------------------ the workshop's FastAPI service */

  it('workshop GET /status answers {"status":"ok"}, under its root path and without it', async () => {
    for (const p of ['/status', '/deteccao-facial-api/status']) {
      const r = await get(p);
      expect(r).toEqual({ status: 200, body: { status: 'ok' } });
    }
  });

  it('workshop POST /echo answers the JSON object it is sent with no Content-Type; refuses what is not an object', async () => {
    const sent = { nome: 'Ana', n: 3, ok: true, lista: [1, 'dois', null], aninhado: { a: { b: 1.5 } } };
    for (const p of ['/echo', '/deteccao-facial-api/echo']) {
      const r = await workshop(p, sent);
      expect(r.status).toBe(200);
      expect(r.body).toEqual(sent);
      expect(Object.keys(r.body as object)).toEqual(Object.keys(sent));
    }
    // with the Content-Type a browser or another client adds, the same
    const typed = await post('/echo', JSON.stringify(sent), { 'content-type': 'application/json' });
    expect(JSON.parse(typed.text)).toEqual(sent);
    for (const [body, code] of [['[1, 2]', 'bad_json'], ['{"a": ', 'bad_json'], ['', 'bad_json'], ['"text"', 'bad_json'], ['{"__proto__": {"x": 1}}', 'bad_json']] as const) {
      const r = await workshop('/echo', body);
      expect(r, body).toMatchObject({ status: 400, body: { error: { code } } });
    }
    for (const type of ['text/plain', 'image/jpeg', 'application/xml']) {
      const other = await post('/echo', JSON.stringify(sent), { 'content-type': type });
      expect(checkAnswer(doc, other, '/echo', 'post'), type).toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
    }
  });

  it('workshop POST /detect-face answers deepface facial_areas: integers, eyes named for the person (left_eye on the image\'s right)', async () => {
    const r = await workshop('/deteccao-facial-api/detect-face', { base64: b64(SAMPLE) });
    expect(r.status).toBe(200);
    const areas = (r.body as { facial_area: Record<string, unknown> }[]).map((f) => f.facial_area);
    expect(areas).toHaveLength(3);
    for (const f of r.body as object[]) expect(Object.keys(f)).toEqual(['facial_area']);
    const det = JSON.parse((await inject(srv, 'post', '/detect', { form: { image: `@${SAMPLE}` } })).text) as {
      width: number; height: number; faces: { box: number[]; landmarks: Record<string, number[]> }[];
    };
    areas.forEach((a, i) => {
      expect(Object.keys(a)).toEqual(['x', 'y', 'w', 'h', 'left_eye', 'right_eye']);
      const [lx, ly] = a.left_eye as number[], [rx, ry] = a.right_eye as number[];
      for (const v of [a.x, a.y, a.w, a.h, lx, ly, rx, ry]) expect(Number.isInteger(v), JSON.stringify(a)).toBe(true);
      // deepface's convention (its tests: left_eye[0] > right_eye[0] on an upright frontal face):
      // the person's left eye is on the right of the picture
      expect(lx, JSON.stringify(a)).toBeGreaterThan(rx!);
      // the same face as facekit's /detect, whose leftEye is the image's left: the person's right eye
      const face = det.faces[i]!;
      expect(a.x).toBe(Math.trunc(face.box[0]!));
      expect(a.y).toBe(Math.trunc(face.box[1]!));
      expect([lx, ly]).toEqual(face.landmarks.rightEye!.slice(0, 2).map(Math.round));
      expect([rx, ry]).toEqual(face.landmarks.leftEye!.slice(0, 2).map(Math.round));
      // both eyes in the box, the box in the picture
      for (const [ex, ey] of [[lx!, ly!], [rx!, ry!]]) {
        expect(ex).toBeGreaterThanOrEqual(a.x as number);
        expect(ex).toBeLessThanOrEqual((a.x as number) + (a.w as number));
        expect(ey).toBeGreaterThanOrEqual(a.y as number);
        expect(ey).toBeLessThanOrEqual((a.y as number) + (a.h as number));
      }
      expect((a.x as number) + (a.w as number)).toBeLessThan(det.width);
      expect((a.y as number) + (a.h as number)).toBeLessThan(det.height);
    });
    // In the mirror image each eye is where the other was: the names follow the person, not the side.
    const mirrored = await sharp(readFileSync(SAMPLE)).flop().jpeg({ quality: 95 }).toBuffer();
    const m = await workshop('/detect-face', { base64: mirrored.toString('base64') });
    const largest = (m.body as { facial_area: { left_eye: number[]; right_eye: number[] } }[])[0]!.facial_area;
    expect(largest.left_eye[0]!).toBeGreaterThan(largest.right_eye[0]!);
    expect(Math.abs(largest.left_eye[0]! - (det.width - 1 - (areas[0]!.right_eye as number[])[0]!))).toBeLessThan(8);
  });

  it('workshop POST /detect-face answers [] without a face and on a bad image (reason logged); a malformed request is a 400', async () => {
    const noFace = await workshop('/detect-face', { base64: b64(join(BAD, 'no-face.jpg')) });
    expect(noFace).toEqual({ status: 200, body: [] });
    const before = log().length;
    for (const body of [
      { base64: 'not base64 at all' },
      { base64: b64(join(BAD, 'text.jpg')) },
      { base64: b64(join(BAD, 'truncated.jpg')) },
      { base64: b64(join(BAD, 'huge-20000x20000.png')) },
    ]) {
      const r = await workshop('/deteccao-facial-api/detect-face', body);
      expect(r, body.base64.slice(0, 20)).toEqual({ status: 200, body: [] });
    }
    // The server's log line may reach us a moment after its answer: wait for all four.
    const logged = () => log().slice(before).match(/POST \/deteccao-facial-api\/detect-face: answered \[\] \(/g)?.length ?? 0;
    for (let i = 0; i < 50 && logged() < 4; i++) await new Promise((r) => setTimeout(r, 100));
    const said = log().slice(before);
    expect(said.match(/POST \/deteccao-facial-api\/detect-face: answered \[\] \(/g)).toHaveLength(4);
    expect(said).toMatch(/not an image as base64/);
    expect(said).toMatch(/not an image \(expected JPEG/);
    expect(said).toMatch(/damaged or truncated/);
    expect(said).not.toMatch(/\n\s+at /);
    for (const [body, code] of [
      ['{"base64": ', 'bad_json'], ['[]', 'bad_json'], [{}, 'bad_request'], [{ base64: 12 }, 'bad_request'],
      [{ base64: b64(SAMPLE), img: 'x' }, 'unknown_field'],
    ] as const) {
      const r = await workshop('/detect-face', body);
      expect(r, JSON.stringify(body).slice(0, 40)).toMatchObject({ status: 400, body: { error: { code } } });
    }
  });

  /* ------------------------------------------------------------ the Flask face API (it builds the gallery) */

  it('Flask POST /api/milvus/insert adds the faces to the gallery under person_id', async () => {
    const first = await flask('/api/milvus/insert', {
      images: PEOPLE[P1]!.map((p) => `@${p}`), person_id: P1,
      image_paths: JSON.stringify(PEOPLE[P1]!.map((p) => `/data/${P1}/${basename(p)}`)),
    });
    expect(first).toMatchObject({ status: 200, body: { success: true, inserted_count: PEOPLE[P1]!.length, collection: 'faces' } });
    expect(Object.keys(first.body as object)).toEqual(['success', 'message', 'inserted_count', 'collection']);
    // their model names are aliases of the gallery's model; a photo without a face is left out and said so
    const second = await flask('/api/milvus/insert', {
      images: [...PEOPLE[P2]!, join(BAD, 'no-face.jpg')].map((p) => `@${p}`), person_id: P2, model: 'mobilenetv3_large',
    });
    expect(second).toMatchObject({ status: 200, body: { success: true, inserted_count: PEOPLE[P2]!.length } });
    expect(second.body.message).toMatch(/no-face\.jpg: no face found/);
    const g = await loadGallery(db);
    expect(Object.fromEntries(g.labels())).toEqual({ [P1]: PEOPLE[P1]!.length, [P2]: PEOPLE[P2]!.length });
    // the same photo again is not added twice
    const again = await flask('/api/milvus/insert', { images: `@${PEOPLE[P1]![0]}`, person_id: P1, model: 'cosface_resnet50' });
    expect(again).toMatchObject({ status: 200, body: { success: true, inserted_count: 0 } });
    expect((await loadGallery(db)).size).toBe(g.size);
  });

  it('Flask POST /api/milvus/insert refuses bad input with facekit\'s JSON errors', async () => {
    const cases: [Record<string, string | string[]>, number, string][] = [
      [{ images: `@${QUERY}` }, 400, 'bad_request'], // no person_id
      [{ images: `@${QUERY}`, person_id: '  ' }, 400, 'bad_request'],
      [{ person_id: P1 }, 400, 'bad_request'], // no images
      [{ images: `@${QUERY}`, person_id: P1, model: 'vgg_face' }, 400, 'bad_request'],
      [{ images: `@${QUERY}`, person_id: P1, model: 'faceres' }, 409, 'model_mismatch'],
      [{ images: `@${QUERY}`, person_id: P1, image_paths: 'a.jpg' }, 400, 'bad_request'],
      [{ images: `@${QUERY}`, person_id: P1, image_paths: '["a.jpg", "b.jpg"]' }, 400, 'bad_request'],
      [{ images: `@${join(BAD, 'text.jpg')}`, person_id: P1 }, 415, 'not_an_image'],
      [{ images: `@${join(BAD, 'no-face.jpg')}`, person_id: P1 }, 422, 'no_face'],
      [{ images: `@${QUERY}`, person_id: P1, collection: 'x' }, 400, 'unknown_field'],
    ];
    for (const [fields, status, code] of cases) {
      const r = await flask('/api/milvus/insert', fields);
      expect(r, JSON.stringify(fields)).toMatchObject({ status, body: { error: { code } } });
    }
    expect((await loadGallery(db)).size).toBe(Object.values(PEOPLE).flat().length);
  });

  it('Flask GET /api/health reports the models and that the gallery is readable', async () => {
    const r = await get('/api/health');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body as object)).toEqual(['status', 'models_loaded', 'milvus_connected']);
    expect(r.body).toEqual({ status: 'healthy', models_loaded: ['cosface_resnet50', 'mobilenetv3_large', ...Object.keys(RECOGNIZERS)], milvus_connected: true });
  });

  it('Flask GET /api/models lists their names as aliases of facekit\'s models', async () => {
    const r = await get('/api/models');
    const models = (r.body as { models: { name: string; embedding_dim: number; description: string }[] }).models;
    expect(models.map((m) => [m.name, m.embedding_dim])).toEqual([['cosface_resnet50', 192], ['mobilenetv3_large', 192], ...Object.values(RECOGNIZERS).map((m) => [m.id, m.dim])]);
    for (const m of models) expect(Object.keys(m)).toEqual(['name', 'embedding_dim', 'description']);
    expect(models[0]!.description).toMatch(/alias of facekit's mobilefacenet/);
    expect(models[1]!.description).toMatch(/alias of facekit's mobilefacenet/);
  });

  it('Flask POST /api/embedding answers the embedding of the largest face, under the model name asked for', async () => {
    const r = await flask('/api/embedding', { image: `@${QUERY}`, model: 'cosface_resnet50' });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body as object)).toEqual(['success', 'model', 'embedding', 'embedding_dim']);
    expect(r.body).toMatchObject({ success: true, model: 'cosface_resnet50', embedding_dim: 192 });
    expect(r.body.embedding).toHaveLength(192);
    const plain = await flask('/api/embedding', { image: `@${QUERY}` });
    expect(plain.body).toMatchObject({ success: true, model: 'mobilefacenet', embedding_dim: 192 });
    // an alias is the model it stands for: the same vector
    expect(plain.body.embedding).toEqual(r.body.embedding);
    const bad: [Record<string, string | string[]>, number, string][] = [
      [{ image: `@${QUERY}`, model: 'vgg-face' }, 400, 'bad_request'],
      [{ model: 'mobilefacenet' }, 400, 'bad_request'],
      [{ photo: `@${QUERY}` }, 400, 'unknown_field'],
      [{ image: [`@${QUERY}`, `@${SAMPLE}`] }, 400, 'bad_request'],
      [{ image: `@${join(BAD, 'text.jpg')}` }, 415, 'not_an_image'],
      [{ image: `@${join(BAD, 'empty.jpg')}` }, 422, 'empty_file'],
      [{ image: `@${join(BAD, 'truncated.jpg')}` }, 422, 'corrupt_image'],
      [{ image: `@${join(BAD, 'no-face.jpg')}` }, 422, 'no_face'],
    ];
    for (const [fields, status, code] of bad) {
      const e = await flask('/api/embedding', fields);
      expect(e, JSON.stringify(fields)).toMatchObject({ status, body: { error: { code } } });
    }
  });

  it('Flask POST /api/embeddings/batch answers a result per image; a bad image is a failed result, not a failed request', async () => {
    const files = [QUERY, join(BAD, 'text.jpg'), join(BAD, 'no-face.jpg'), join(BAD, 'empty.jpg'), join(BAD, 'truncated.jpg'), SAMPLE];
    const r = await flask('/api/embeddings/batch', { images: files.map((f) => `@${f}`), model: 'mobilenetv3_large' });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body as object)).toEqual(['success', 'model', 'results', 'total', 'successful', 'failed']);
    expect(r.body).toMatchObject({ success: true, model: 'mobilenetv3_large', total: 6, successful: 2, failed: 4 });
    const results = r.body.results as { filename: string; embedding: number[] | null; success: boolean; error?: string }[];
    expect(results.map((x) => [x.filename, x.success])).toEqual(files.map((f, i) => [basename(f), i === 0 || i === 5]));
    expect(results[0]!.embedding).toHaveLength(192);
    expect(Object.keys(results[0]!)).toEqual(['filename', 'embedding', 'success']);
    for (const failed of results.filter((x) => !x.success)) {
      expect(Object.keys(failed)).toEqual(['filename', 'embedding', 'success', 'error']);
      expect(failed.embedding).toBeNull();
    }
    expect(results.slice(1, 5).map((x) => x.error)).toEqual([
      expect.stringMatching(/^not an image/), 'no face found', expect.stringMatching(/^image is empty/), expect.stringMatching(/damaged or truncated/),
    ]);
    for (const [fields, status, code] of [
      [{ model: 'mobilefacenet' }, 400, 'bad_request'],
      [{ images: `@${QUERY}`, model: 'arcface' }, 400, 'bad_request'],
      [{ image: `@${QUERY}` }, 400, 'unknown_field'],
      [{ images: Array.from({ length: 17 }, () => `@${QUERY}`) }, 413, 'too_large'],
    ] as [Record<string, string | string[]>, number, string][]) {
      const e = await flask('/api/embeddings/batch', fields);
      expect(e, JSON.stringify(fields).slice(0, 60)).toMatchObject({ status, body: { error: { code } } });
    }
  });

  /* ------------------------------------------------------------ the workshop's recognition, against that gallery */

  it('workshop POST /recognize-face names the largest face from the gallery, or "unknown", with the distance', async () => {
    const known = await workshop('/recognize-face', { base64: b64(QUERY) });
    expect(known.status).toBe(200);
    expect(Object.keys(known.body as object)).toEqual(['name', 'distance']);
    expect(known.body.name).toBe(P1);
    expect(known.body.distance).toBeLessThanOrEqual(0.98);
    const other = await workshop('/deteccao-facial-api/recognize-face', { base64: b64(STRANGER) });
    expect(other.status).toBe(200);
    expect(other.body.name).toEqual(hasArtists ? 'unknown' : expect.any(String));
    if (hasArtists) expect(other.body.distance).toBeGreaterThan(0.98);
    for (const [body, status, code] of [
      [{ base64: b64(join(BAD, 'no-face.jpg')) }, 422, 'no_face'],
      [{ base64: b64(join(BAD, 'text.jpg')) }, 415, 'not_an_image'],
      [{ base64: 'not base64' }, 400, 'bad_request'],
      [{}, 400, 'bad_request'],
      [{ base64: b64(QUERY), name: 'x' }, 400, 'unknown_field'],
      ['{"base64":', 400, 'bad_json'],
    ] as [unknown, number, string][]) {
      const r = await workshop('/recognize-face', body);
      expect(r, JSON.stringify(body).slice(0, 40)).toMatchObject({ status, body: { error: { code } } });
    }
  });

  /* ------------------------------------------------------------ the signature-comparison API */

  it('signature POST /compare with image1_base64/image2_base64 answers similarity, same_signature, threshold and model', async () => {
    const call = async (a: string, b: string) => {
      const res = await inject(srv, 'post', '/compare', { json: { image1_base64: b64(a), image2_base64: b64(b) } });
      return checkAnswer(doc, res, '/compare', 'post');
    };
    const same = await call(PEOPLE[P1]![0]!, QUERY);
    const diff = await call(PEOPLE[P1]![0]!, PEOPLE[P2]![0]!);
    for (const r of [same, diff]) {
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ similarity: expect.any(Number), same_signature: expect.any(Boolean), threshold: expect.any(Number), model: 'mobilefacenet' });
      expect(r.body.similarity).toBeGreaterThanOrEqual(0);
      expect(r.body.similarity).toBeLessThanOrEqual(1);
      expect(r.body.same_signature).toBe(r.body.verified); // facekit's own fields are all still there
    }
    expect(same.body.same_signature).toBe(true);
    expect(diff.body.same_signature).toBe(false);
    expect(same.body.similarity).toBeGreaterThan(diff.body.similarity);
    for (const [body, status, code] of [
      [{ image1_base64: b64(QUERY) }, 400, 'bad_request'],
      [{ image1_base64: b64(QUERY), image2_base64: 'nope' }, 400, 'bad_request'],
      [{ image1_base64: b64(QUERY), image2_base64: b64(join(BAD, 'no-face.jpg')) }, 422, 'no_face'],
      [{ image1_base64: b64(QUERY), image2_base64: b64(SAMPLE), image3_base64: 'x' }, 400, 'unknown_field'],
    ] as [unknown, number, string][]) {
      const res = await inject(srv, 'post', '/compare', { json: body });
      expect(checkAnswer(doc, res, '/compare', 'post'), JSON.stringify(body).slice(0, 40)).toMatchObject({ status, body: { error: { code } } });
    }
    expect(log()).not.toMatch(/internal error|\n\s+at /);
  });
});
