/**
 * `facekit serve` as a user runs it: a real child process on loopback, spoken to over HTTP.
 * Every JSON answer is also checked against the server's own /openapi.json.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTISTS, DEMO, FIXTURES, hasArtists, oneLine, runCli, tempDir } from '../helpers/cli.js';
import { form, serve, serveWith, type Served } from '../helpers/serve.js';
import { loadGallery } from '../../src/recognition/gallery-file.js';

/* ---------------------------------------------------------------- checking answers against the OpenAPI document */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = { [k: string]: Json };

function resolveRef(doc: Schema, s: Schema): Schema {
  if (typeof s.$ref !== 'string') return s;
  const name = s.$ref.replace('#/components/schemas/', '');
  return ((doc.components as Schema).schemas as Schema)[name] as Schema;
}

/** Problems of `v` against `schema` (the subset of JSON Schema the document uses). */
function conform(doc: Schema, v: unknown, schemaIn: Schema, at = '$'): string[] {
  const s = resolveRef(doc, schemaIn);
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  const typeOf = (x: unknown) => (x === null ? 'null' : Array.isArray(x) ? 'array' : Number.isInteger(x) ? 'integer' : typeof x);
  if (types.length) {
    const t = typeOf(v);
    const ok = types.some((want) => want === t || (want === 'number' && t === 'integer'));
    if (!ok) return [`${at}: is ${t}, schema says ${types.join('|')}`];
  }
  if (Array.isArray(s.enum) && !s.enum.includes(v as Json)) return [`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`];
  const out: string[] = [];
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in o)) out.push(`${at}: lacks "${r}"`);
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const [k, val] of Object.entries(o)) {
      if (props[k]) out.push(...conform(doc, val, props[k]!, `${at}.${k}`));
      else if (s.additionalProperties && typeof s.additionalProperties === 'object') out.push(...conform(doc, val, s.additionalProperties as Schema, `${at}.${k}`));
      else if (s.properties) out.push(`${at}: "${k}" is not in the schema`);
    }
  }
  if (Array.isArray(v) && s.items) v.forEach((x, i) => out.push(...conform(doc, x, s.items as Schema, `${at}[${i}]`)));
  return out;
}

let doc: Schema;

/** An answer, checked against what /openapi.json (of this server: `d`) says that endpoint answers with that status. */
async function answer(res: Response, path: string, method: string, d: Schema = doc): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = await res.text();
  expect(text, 'never a stack trace').not.toMatch(/\n\s+at |node:internal/);
  const body = JSON.parse(text) as Record<string, unknown>;
  const op = ((d.paths as Schema)[path] as Schema)[method] as Schema;
  const responses = op.responses as Schema;
  const r = responses[String(res.status)] as Schema | undefined;
  expect(r, `${method.toUpperCase()} ${path} ${res.status} is documented`).toBeDefined();
  if (res.status >= 400) {
    expect(((r!.content as Schema)['application/json'] as Schema).schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    expect(Object.keys(body)).toEqual(['error']);
  } else {
    const schema = ((r!.content as Schema)['application/json'] as Schema).schema as Schema;
    expect(conform(d, body, schema)).toEqual([]);
  }
  return { status: res.status, body };
}

/* ---------------------------------------------------------------- requests */


const dataUrl = (path: string) => `data:image/jpeg;base64,${readFileSync(path).toString('base64')}`;
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Bytes that pass the server's first look at an image (the JPEG magic), `size` long. */
function jpegish(size: number): Buffer {
  const b = Buffer.alloc(size, 7);
  b.set([0xff, 0xd8, 0xff, 0xe0], 0);
  return b;
}

/** A form of `n` file parts in "images", each `size` bytes. */
function manyFiles(n: number, size: number): FormData {
  const fd = new FormData();
  const blob = new Blob([Uint8Array.from(jpegish(size))]);
  for (let i = 0; i < n; i++) fd.append('images', blob, `f${i}.jpg`);
  return fd;
}

const BOUNDARY = 'facekit-test-boundary';
const partHead = (field: string, name: string) =>
  Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; filename="${name}"\r\nContent-Type: image/jpeg\r\n\r\n`);

/** A whole multipart body of `n` file parts in "images", part by part, for streaming it. */
function* multipartParts(n: number, size: number): Generator<Buffer> {
  const bytes = jpegish(size);
  for (let i = 0; i < n; i++) yield Buffer.concat([partHead('images', `f${i}.jpg`), bytes, Buffer.from('\r\n')]);
  yield Buffer.from(`--${BOUNDARY}--\r\n`);
}

/**
 * POST over node:http, writing `chunks` as the server takes them (no Content-Length unless given:
 * chunked), and resolving with the answer as soon as it is complete, while still sending if the
 * server answers early. A connection reset before the answer rejects.
 */
function rawPost(target: string, chunks: Iterable<Buffer>, headers: Record<string, string>): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(target, { method: 'POST', headers }, (res) => {
      const got: Buffer[] = [];
      res.on('data', (c: Buffer) => got.push(c));
      res.on('end', () => resolve(new Response(Buffer.concat(got), { status: res.statusCode! })));
      res.on('error', reject);
    });
    req.on('error', reject);
    const it = chunks[Symbol.iterator]();
    const pump = () => {
      for (;;) {
        const next = it.next();
        if (next.done) {
          req.end();
          return;
        }
        if (!req.write(next.value)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

type StreamInit = RequestInit & { duplex: 'half' };
/** fetch() with a streamed body: sent chunked, as it comes. */
const streamed = (chunks: Buffer[], headers: Record<string, string>): StreamInit => ({
  method: 'POST', headers, duplex: 'half',
  body: new ReadableStream<Uint8Array>({
    start(c) {
      for (const x of chunks) c.enqueue(x);
      c.close();
    },
  }),
});

/* ---------------------------------------------------------------- who is in the gallery */

const artist = (person: string, f: string) => join(ARTISTS, person, f);
// Two people, three photos each in the gallery; a photo of each that is not in it as the query.
const PEOPLE: Record<string, string[]> = hasArtists
  ? {
    bob_dylan: ['Bob-Dylan.jpg', 'gettyimages-3315233.jpg', '290060c22dfd.jpg'].map((f) => artist('bob_dylan', f)),
    nina_simone: ['Nina-Simone.jpg', 'images.jpeg', '486x486bb.png'].map((f) => artist('nina_simone', f)),
  }
  : { group1: [join(DEMO, 'sample1.jpg')], group2: [join(DEMO, 'sample2.jpg')] };
const QUERY = hasArtists
  ? { bob_dylan: artist('bob_dylan', 'cronica-bob-dylan-672x438.jpg'), nina_simone: artist('nina_simone', 'images (1).jpeg') }
  : { group1: join(DEMO, 'sample1.jpg'), group2: join(DEMO, 'sample2.jpg') };
const [P1, P2] = Object.keys(PEOPLE) as [string, string];
const Q1 = (QUERY as unknown as Record<string, string>)[P1]!, Q2 = (QUERY as unknown as Record<string, string>)[P2]!;
const BAD = join(FIXTURES, 'bad');
const faces = () => Object.values(PEOPLE).flat().length;

describe('facekit serve over HTTP', () => {
  let srv: Served;
  let dir: string;
  let db: string;
  const url = (p: string) => srv.url + p;

  beforeAll(async () => {
    dir = tempDir('facekit-serve-');
    db = join(dir, 'gallery.json');
    srv = await serve(['--db', db]);
    doc = (await (await fetch(url('/openapi.json'))).json()) as Schema;
  });
  afterAll(async () => {
    await srv?.stop('SIGKILL');
  });

  it('binds to loopback, has warm models, and documents every endpoint', async () => {
    expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const h = await answer(await fetch(url('/health')), '/health', 'get');
    expect(h.body).toMatchObject({ status: 'ok', backend: expect.any(String), models: expect.arrayContaining(['blazeface', 'mobilefacenet']), gallery: { faces: 0 } });
    const m = await answer(await fetch(url('/models')), '/models', 'get');
    expect((m.body.models as { id: string; loaded: boolean }[]).filter((r) => r.loaded).map((r) => r.id).sort()).toEqual(['blazeface', 'mobilefacenet']);
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.paths as object).sort()).toEqual([
      '/', '/analyze', '/compare', '/detect', '/gallery', '/gallery/photos/{hash}', '/gallery/{label}', '/health', '/models', '/openapi.json', '/represent', '/verify',
    ]);
    const page = await fetch(url('/'));
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/Who is this\?[\s\S]*Compare two photos/);
  });

  it('refuses to verify against an empty gallery', async () => {
    const r = await answer(await fetch(url('/verify'), { method: 'POST', body: form({ image: `@${Q1}` }) }), '/verify', 'post');
    expect(r).toMatchObject({ status: 409, body: { error: { code: 'empty_gallery' } } });
  });

  it('adds people from concurrent requests without losing any, writing the gallery atomically', async () => {
    const requests = Object.entries(PEOPLE).flatMap(([label, photos]) => photos.map((p) => ({ label, p })));
    const answers = await Promise.all(requests.map(({ label, p }) => fetch(url('/gallery'), { method: 'POST', body: form({ label, image: `@${p}` }) })
      .then((res) => answer(res, '/gallery', 'post'))));
    for (const a of answers) expect(a.status).toBe(201);
    const g = await loadGallery(db);
    expect(g.size).toBe(faces());
    expect([...g.labels().keys()].sort()).toEqual([P1, P2].sort());
    expect(existsSync(`${db}.lock`)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const list = await answer(await fetch(url('/gallery')), '/gallery', 'get');
    expect((list.body.people as { label: string; faces: number }[]).map((p) => [p.label, p.faces])).toEqual(
      Object.entries(PEOPLE).map(([l, ps]) => [l, ps.length]).sort());
    // The same photo again, under any name, is not added twice.
    const again = await answer(await fetch(url('/gallery'), { method: 'POST', body: form({ label: 'someone', images: `@${PEOPLE[P1]![0]}` }) }), '/gallery', 'post');
    expect(again).toMatchObject({ status: 200, body: { added: [], skipped: [{ label: P1 }] } });
  });

  it('says who is in a photo, with the matching gallery photos', async () => {
    const r = await answer(await fetch(url('/verify'), { method: 'POST', body: form({ image: `@${Q1}` }) }), '/verify', 'post');
    expect(r.status).toBe(200);
    const face = (r.body.faces as { identity: string; verdict: string; distance: number; candidates: { label: string; photo: string; face: number }[] }[])[0]!;
    expect(face).toMatchObject({ identity: P1, verdict: 'match' });
    expect(face.distance).toBeLessThanOrEqual(r.body.threshold as number);
    expect(face.candidates.map((c) => c.label)).toEqual([P1, P2]);
    // Answers name people and faces, never the server's files.
    for (const path of ['/health', '/gallery']) expect(await (await fetch(url(path))).text()).not.toContain(dir);
    expect(JSON.stringify(r.body)).not.toContain(dir);
    const photo = await fetch(url(`${face.candidates[0]!.photo}?size=96&face=${face.candidates[0]!.face}`));
    expect(photo.status).toBe(200);
    expect(photo.headers.get('content-type')).toBe('image/jpeg');
    expect((await photo.arrayBuffer()).byteLength).toBeGreaterThan(500);

    // The same photo as a data: URL in JSON (top_k 1), and as the raw body.
    const j = await answer(await fetch(url('/verify'), json({ image: dataUrl(Q2), top_k: 1 })), '/verify', 'post');
    const first = (r: { body: Record<string, unknown> }) => (r.body.faces as Record<string, unknown>[])[0];
    expect(first(j)).toMatchObject({ identity: P2, candidates: [{ label: P2 }] });
    const raw = await answer(await fetch(url('/verify?topK=2'), { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: readFileSync(Q2) }), '/verify', 'post');
    expect(first(raw)).toMatchObject({ identity: P2 });
  });

  it('answers a photo with nobody in it with no faces when enforce_detection is false (the camera view sends such frames)', async () => {
    const noFace = join(BAD, 'no-face.jpg');
    const v = await answer(await fetch(url('/verify'), { method: 'POST', body: form({ image: `@${noFace}`, enforce_detection: 'false', top_k: '1' }) }), '/verify', 'post');
    expect(v).toMatchObject({ status: 200, body: { faces: [] } });
    expect(v.body.width).toEqual(expect.any(Number));
    const d = await answer(await fetch(url('/detect?enforce_detection=0'), { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: readFileSync(noFace) }), '/detect', 'post');
    expect(d).toMatchObject({ status: 200, body: { faces: [] } });
    const j = await answer(await fetch(url('/verify'), json({ image: dataUrl(noFace), enforce_detection: false })), '/verify', 'post');
    expect(j).toMatchObject({ status: 200, body: { faces: [] } });
    // a face is still named; other failures are still errors; the default is deepface's, true
    const face = await answer(await fetch(url('/verify'), { method: 'POST', body: form({ image: `@${Q1}`, enforce_detection: 'false' }) }), '/verify', 'post');
    expect((face.body.faces as { identity: string }[])[0]).toMatchObject({ identity: P1 });
    const broken = await answer(await fetch(url('/verify'), { method: 'POST', body: form({ image: `@${join(BAD, 'truncated.jpg')}`, enforce_detection: 'false' }) }), '/verify', 'post');
    expect(broken).toMatchObject({ status: 422, body: { error: { code: 'corrupt_image' } } });
    const strict = await answer(await fetch(url('/detect'), { method: 'POST', body: form({ image: `@${noFace}` }) }), '/detect', 'post');
    expect(strict).toMatchObject({ status: 422, body: { error: { code: 'no_face' } } });
    const bad = await answer(await fetch(url('/verify'), { method: 'POST', body: form({ image: `@${noFace}`, enforce_detection: 'maybe' }) }), '/verify', 'post');
    expect(bad).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/"enforce_detection" must be true or false/) } } });
  });

  it('compares two photos, under the field names of the API it replaces too', async () => {
    const same = await answer(await fetch(url('/compare'), { method: 'POST', body: form({ image1: `@${Q1}`, image2: `@${PEOPLE[P1]![0]}` }) }), '/compare', 'post');
    expect(same.body).toMatchObject({ verified: true, verdict: 'same', model: 'mobilefacenet', metric: 'euclidean_l2' });
    const diff = await answer(await fetch(url('/compare'), json({ image1_base64: readFileSync(Q1).toString('base64'), image2_base64: dataUrl(Q2) })), '/compare', 'post');
    expect(diff.body).toMatchObject({ verified: false, verdict: 'different' });
    expect(diff.body.distance as number).toBeGreaterThan(diff.body.threshold as number);
    expect(same.body.similarity as number).toBeGreaterThan(diff.body.similarity as number);
    // the calibrated score: 1 - distance / (2 threshold), clamped; above 0.5 exactly when the verdict is "same"
    for (const r of [same, diff]) {
      const b = r.body as { distance: number; threshold: number; match_score: number; verified: boolean };
      expect(b.match_score).toBeCloseTo(Math.min(1, Math.max(0, 1 - b.distance / (2 * b.threshold))), 3);
      expect(b.match_score >= 0.5).toBe(b.verified);
    }
  });

  it('refuses a threshold outside the metric\'s range, and warns about a very loose one', async () => {
    const images = { image1_base64: dataUrl(Q1), image2_base64: dataUrl(Q2) };
    const bad = await answer(await fetch(url('/compare'), json({ ...images, threshold: 5 })), '/compare', 'post');
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'usage' } } });
    expect((bad.body.error as { message: string }).message).toMatch(/threshold 5 .*euclidean_l2/);
    const loose = await answer(await fetch(url('/compare'), json({ ...images, threshold: 1.8 })), '/compare', 'post');
    expect(loose).toMatchObject({ status: 200, body: { threshold: 1.8 } });
    expect(loose.body.warnings).toEqual([expect.stringMatching(/far looser than the calibrated/)]);
  });

  it('detects faces and represents a batch, one error per bad image in the batch', async () => {
    const d = await answer(await fetch(url('/detect'), { method: 'POST', body: form({ image: `@${join(DEMO, 'sample1.jpg')}` }) }), '/detect', 'post');
    expect(d.body).toMatchObject({ width: 1920, height: 1280, detector: 'blazeface' });
    expect(d.body.faces).toHaveLength(3);
    const r = await answer(await fetch(url('/represent'), { method: 'POST', body: form({ images: [`@${Q1}`, `@${join(BAD, 'no-face.jpg')}`] }) }), '/represent', 'post');
    const results = r.body.results as { faces: { embedding: { dim: number; vector: number[] } }[]; error?: { code: string } }[];
    expect(r.body).toMatchObject({ model: 'mobilefacenet', dim: 192 });
    expect(results[0]!.faces[0]!.embedding.vector).toHaveLength(192);
    expect(results[1]).toMatchObject({ faces: [], error: { code: 'no_face' } });
    // A full batch of 16 images: no MaxListenersExceededWarning in the server's log.
    const full = await answer(await fetch(url('/represent'), { method: 'POST', body: form({ images: Array.from({ length: 16 }, () => `@${join(BAD, 'no-face.jpg')}`) }) }), '/represent', 'post');
    expect((full.body.results as unknown[]).length).toBe(16);
    expect(srv.stderr()).not.toMatch(/MaxListenersExceededWarning/);
  });

  it.each([
    ['not an image', 415, 'not_an_image', () => form({ image: `@${join(BAD, 'text.jpg')}` })],
    ['a truncated image', 422, 'corrupt_image', () => form({ image: `@${join(BAD, 'truncated.jpg')}` })],
    ['an empty file', 422, 'empty_file', () => form({ image: `@${join(BAD, 'empty.jpg')}` })],
    ['no face', 422, 'no_face', () => form({ image: `@${join(BAD, 'no-face.jpg')}` })],
    ['over the pixel limit', 413, 'too_large', () => form({ image: `@${join(BAD, 'huge-20000x20000.png')}` })],
    ['a wrong field name', 400, 'unknown_field', () => form({ photo: `@${Q1}` })],
    ['a path instead of an image', 400, 'bad_request', () => JSON.stringify({ image: '/etc/passwd' })],
    ['malformed JSON', 400, 'bad_json', () => '{"image": "abc'],
    ['a JSON array', 400, 'bad_json', () => '[1, 2]'],
    ['a bad option', 400, 'bad_request', () => form({ image: `@${Q1}`, top_k: 'three' })],
    ['another model than the gallery\'s', 409, 'model_mismatch', () => form({ image: `@${Q1}`, model: 'faceres' })],
    ['a text body', 415, 'unsupported_media_type', () => new Blob(['hello'], { type: 'text/plain' })],
  ])('POST /verify with %s: %i %s', async (_what, status, code, body) => {
    const b = body();
    const init: RequestInit = typeof b === 'string' ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: b } : { method: 'POST', body: b };
    const r = await answer(await fetch(url('/verify'), init), '/verify', 'post');
    expect(r.status).toBe(status);
    expect((r.body.error as { code: string }).code).toBe(code);
  });

  it('answers other bad requests with JSON errors, and is still up after them all', async () => {
    const big = Buffer.alloc(11_000_000, 0xff);
    big.set([0xff, 0xd8, 0xff], 0);
    const bigForm = new FormData();
    bigForm.append('image', new Blob([big]), 'big.jpg');
    const tooBig = await answer(await fetch(url('/verify'), { method: 'POST', body: bigForm }), '/verify', 'post');
    expect(tooBig).toMatchObject({ status: 413, body: { error: { code: 'too_large' } } });
    const wrong = await answer(await fetch(url('/compare'), { method: 'POST', body: form({ img1: `@${Q1}`, img2: `@${Q2}` }) }), '/compare', 'post');
    expect(wrong).toMatchObject({ status: 400, body: { error: { code: 'unknown_field' } } });
    expect((wrong.body.error as { message: string }).message).toMatch(/image1_base64/);
    const noLabel = await answer(await fetch(url('/gallery'), { method: 'POST', body: form({ image: `@${Q1}` }) }), '/gallery', 'post');
    expect(noLabel).toMatchObject({ status: 400, body: { error: { message: '"label" is required' } } });
    const noRoute = await fetch(url('/nope'));
    expect(noRoute.status).toBe(404);
    expect(await noRoute.json()).toMatchObject({ error: { code: 'not_found' } });
    for (const p of ['/gallery/photos/..%2F..%2Fetc%2Fpasswd', `/gallery/photos/${'0'.repeat(64)}`, '/gallery/photos/%2Fetc%2Fpasswd']) {
      const r = await answer(await fetch(url(p)), '/gallery/photos/{hash}', 'get');
      expect(r.status).toBe(404);
    }
    const h = await fetch(url('/health'));
    expect(h.status).toBe(200);
    expect(srv.stderr()).not.toMatch(/\n\s+at /);
  });

  it('answers a multipart body that ends half way through a part with 400 bad_request, not 500', async () => {
    const half = [partHead('image', 'half.jpg'), readFileSync(Q1).subarray(0, 3000)];
    const type = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
    // the headers and half a part, then the end of the request (chunked, as fetch streams it)
    const chunked = await answer(await fetch(url('/verify'), streamed(half, type)), '/verify', 'post');
    // the same with a Content-Length that the client keeps to: the form just stops
    const body = Buffer.concat(half);
    const counted = await answer(await rawPost(url('/verify'), [body], { ...type, 'content-length': String(body.length) }), '/verify', 'post');
    // and a form that never started its first part
    const preamble = await answer(await fetch(url('/verify'), streamed([Buffer.from(`--${BOUNDARY}\r\nContent-Dispo`)], type)), '/verify', 'post');
    for (const r of [chunked, counted, preamble]) {
      expect(r).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
      expect((r.body.error as { message: string }).message).toMatch(/multipart body ended early/);
    }
    // a multipart Content-Type without its boundary is the client's fault too
    const noBoundary = await answer(await fetch(url('/verify'), { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'x' }), '/verify', 'post');
    expect(noBoundary).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: expect.stringMatching(/boundary/) } } });
    expect(srv.stderr()).not.toMatch(/internal error/);
  });

  it('refuses 1000 images in one upload with a 413 too_large that the client reads, however they are sent', async () => {
    const tooMany = /at most 16 images per request \(serve --max-batch\)/;
    // 1000 parts of 1 kB: within the body limit, far over --max-batch
    const small = await answer(await fetch(url('/represent'), { method: 'POST', body: manyFiles(1000, 1000) }), '/represent', 'post');
    expect(small).toMatchObject({ status: 413, body: { error: { code: 'too_large', message: expect.stringMatching(tooMany) } } });
    // 1000 parts of 50 kB, 50 MB: over four body limits, where the server used to give up reading
    // and reset the connection under the client's upload
    const big = await answer(await fetch(url('/represent'), { method: 'POST', body: manyFiles(1000, 50_000) }), '/represent', 'post');
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'too_large', message: expect.stringMatching(/over the limit of 10 MB/) } } });
    // the same 50 MB streamed without a Content-Length: refused part way through the parts
    const type = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
    const chunked = await answer(await rawPost(url('/represent'), multipartParts(1000, 50_000), type), '/represent', 'post');
    expect(chunked).toMatchObject({ status: 413, body: { error: { code: 'too_large', message: expect.stringMatching(tooMany) } } });
    // and through fetch's streaming
    const fetched = await answer(await fetch(url('/represent'), streamed([...multipartParts(1000, 20_000)], type)), '/represent', 'post');
    expect(fetched).toMatchObject({ status: 413, body: { error: { code: 'too_large' } } });
    // a JSON batch over --max-batch is the same limit
    const jsonBatch = await answer(await fetch(url('/represent'), json({ images: Array.from({ length: 17 }, () => dataUrl(Q1)) })), '/represent', 'post');
    expect(jsonBatch).toMatchObject({ status: 413, body: { error: { code: 'too_large', message: expect.stringMatching(tooMany) } } });
    // one image too many for a one-image field is still a malformed request
    const two = await answer(await fetch(url('/verify'), { method: 'POST', body: form({ image: [`@${Q1}`, `@${Q2}`] }) }), '/verify', 'post');
    expect(two).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: '"image" takes one image' } } });
    expect((await fetch(url('/health'))).status).toBe(200);
  });

  it('sends no CORS header unless --cors says so', async () => {
    const preflight = await fetch(url('/verify'), {
      method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key' },
    });
    const plain = await fetch(url('/health'), { headers: { origin: 'https://app.example' } });
    for (const res of [preflight, plain]) {
      const cors: string[] = [];
      res.headers.forEach((_v, k) => { if (k.startsWith('access-control-')) cors.push(k); });
      expect(cors).toEqual([]);
      await res.arrayBuffer();
    }
    expect(preflight.status).toBe(404);
    expect(plain.status).toBe(200);
  });

  it('removes a person', async () => {
    const del = await answer(await fetch(url(`/gallery/${encodeURIComponent(P2)}`), { method: 'DELETE' }), '/gallery/{label}', 'delete');
    expect(del).toMatchObject({ status: 200, body: { label: P2, removed: PEOPLE[P2]!.length } });
    const again = await answer(await fetch(url(`/gallery/${encodeURIComponent(P2)}`), { method: 'DELETE' }), '/gallery/{label}', 'delete');
    expect(again.status).toBe(404);
    expect([...(await loadGallery(db)).labels().keys()]).toEqual([P1]);
    const r = await answer(await fetch(url('/verify'), { method: 'POST', body: form({ image: `@${Q2}` }) }), '/verify', 'post');
    expect((r.body.faces as { identity: string | null }[])[0]!.identity).not.toBe(P2);
  });

  it('finishes a gallery write under way on SIGTERM, then exits 0', async () => {
    const extra = hasArtists ? artist('nina_simone', 'nina-simone-getty-scaled.jpg') : join(DEMO, 'sample3.jpg');
    const pending = fetch(url('/gallery'), { method: 'POST', body: form({ label: 'late', image: `@${extra}` }) });
    // signal once the photo is in a worker's hands
    for (let i = 0; i < 200; i++) {
      const h = (await (await fetch(url('/health'))).json()) as { queue: { running: number } };
      if (h.queue.running > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const code = await srv.stop('SIGTERM');
    const res = await pending;
    expect(res.status).toBe(201);
    expect(code).toBe(0);
    expect(srv.stderr()).toMatch(/SIGTERM: stopping after 1 request under way[\s\S]*serve: stopped/);
    const g = await loadGallery(db);
    expect(g.labels().get('late')).toBe(1);
    expect(existsSync(`${db}.lock`)).toBe(false);
  });
});

describe('facekit serve under a burst', () => {
  it('answers 503 + Retry-After instead of queueing without bound, and times out slow requests', async () => {
    const dir = tempDir('facekit-serve-burst-');
    // one worker, no waiting room, 10 ms per request: the first request times out and keeps the
    // worker busy for a while; everything sent meanwhile is refused at once
    const srv = await serve(['--db', join(dir, 'g.json'), '--workers', '1', '--queue', '0', '--timeout', '0.01']);
    try {
      const slow = join(DEMO, 'sample5.jpg');
      const first = await fetch(`${srv.url}/detect`, { method: 'POST', body: form({ image: `@${slow}` }) });
      expect(first.status).toBe(503);
      expect(await first.json()).toMatchObject({ error: { code: 'timeout' } });
      const burst = await Promise.all(Array.from({ length: 4 }, () => fetch(`${srv.url}/detect`, { method: 'POST', body: form({ image: `@${slow}` }) })));
      const codes: string[] = [];
      for (const r of burst) {
        expect(r.status).toBe(503);
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        codes.push(((await r.json()) as { error: { code: string } }).error.code);
      }
      expect(codes).toContain('overloaded');
      for (const c of codes) expect(['overloaded', 'timeout']).toContain(c);
      const health = await (await fetch(`${srv.url}/health`)).json() as { status: string; queue: { maxWaiting: number } };
      expect(health).toMatchObject({ status: 'ok', queue: { maxWaiting: 0 } });
      expect(await srv.stop('SIGINT')).toBe(0);
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  it('refuses a damaged gallery at start-up with one line', async () => {
    const dir = tempDir('facekit-serve-bad-');
    writeFileSync(join(dir, 'g.json'), '{"format": "facekit-gallery", "schema": 1, "entr');
    const res = await runCli(['serve', '--db', join(dir, 'g.json'), '--port', '0']);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/g\.json: gallery is not valid JSON/);
  });
});

/* ---------------------------------------------------------------- API key and CORS */

const KEY = `fk-${randomBytes(16).toString('hex')}`;
const OTHER_KEYS = [
  `${KEY.slice(0, -1)}${KEY.endsWith('0') ? '1' : '0'}`, // same length, last character changed
  KEY.slice(0, -1), // shorter
  `${KEY}0`, // longer
  'x',
];

/** Every protected endpoint, as [method, URL path, OpenAPI path]. */
const PROTECTED: [string, string, string][] = [
  ['get', '/health', '/health'],
  ['get', '/models', '/models'],
  ['get', '/gallery', '/gallery'],
  ['get', `/gallery/photos/${'0'.repeat(64)}`, '/gallery/photos/{hash}'],
  ['delete', '/gallery/nobody', '/gallery/{label}'],
  ['post', '/verify', '/verify'],
  ['post', '/detect', '/detect'],
  ['post', '/represent', '/represent'],
  ['post', '/compare', '/compare'],
  ['post', '/gallery', '/gallery'],
];

describe('facekit serve with an API key (FACEKIT_API_KEY)', () => {
  let srv: Served;
  let keyDoc: Schema;
  const url = (p: string) => srv.url + p;
  const call = (method: string, path: string, headers: Record<string, string> = {}) =>
    fetch(url(path), { method: method.toUpperCase(), headers, ...(method === 'post' ? { body: form({ image: `@${Q1}` }) } : {}) });

  beforeAll(async () => {
    srv = await serve(['--db', join(tempDir('facekit-serve-key-'), 'g.json'), '--workers', '1'], { env: { FACEKIT_API_KEY: KEY } });
    const res = await fetch(url('/openapi.json'));
    expect(res.status).toBe(200);
    keyDoc = (await res.json()) as Schema;
  });
  afterAll(async () => {
    await srv?.stop('SIGKILL');
  });

  it('serves the page and the OpenAPI document to anyone, which documents the key', async () => {
    const page = await fetch(url('/'));
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/Who is this\?/);
    expect((keyDoc.components as Schema).securitySchemes).toMatchObject({
      bearer: { type: 'http', scheme: 'bearer' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    });
    expect(keyDoc.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    const paths = keyDoc.paths as Record<string, Record<string, Schema>>;
    expect(paths['/']!.get!.security).toEqual([]);
    expect(paths['/openapi.json']!.get!.security).toEqual([]);
    for (const [method, , path] of PROTECTED) expect((paths[path]![method]!.responses as Schema)['401'], `${method} ${path}`).toBeDefined();
    expect(srv.stderr()).toMatch(/an API key is needed/);
    expect(srv.stderr()).not.toContain(KEY);
  });

  it('answers 401 unauthorized with WWW-Authenticate: Bearer without the key, or with any other', async () => {
    for (const [method, path, docPath] of PROTECTED) {
      const bad: Record<string, string>[] = [{}, ...OTHER_KEYS.flatMap((k): Record<string, string>[] => [{ authorization: `Bearer ${k}` }, { 'x-api-key': k }]), { authorization: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` }];
      for (const headers of bad) {
        const res = await call(method, path, headers);
        expect(res.headers.get('www-authenticate'), `${method} ${path} ${JSON.stringify(headers)}`).toMatch(/^Bearer realm="facekit"/);
        const r = await answer(res, docPath, method, keyDoc);
        expect(r, `${method} ${path} ${JSON.stringify(headers)}`).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
      }
    }
    // no endpoint is given away either
    const none = await fetch(url('/nope'));
    expect(none.status).toBe(401);
    // a refused upload is still read to its end: the client gets the 401, not a reset
    const big = await answer(await fetch(url('/represent'), { method: 'POST', body: manyFiles(1000, 50_000) }), '/represent', 'post', keyDoc);
    expect(big.status).toBe(401);
  });

  it('takes the key as a Bearer token or as X-API-Key', async () => {
    const good: Record<string, string>[] = [{ authorization: `Bearer ${KEY}` }, { authorization: `bearer ${KEY}` }, { 'x-api-key': KEY }, { authorization: 'Bearer wrong', 'x-api-key': KEY }];
    for (const headers of good) {
      const h = await answer(await fetch(url('/health'), { headers }), '/health', 'get', keyDoc);
      expect(h.status, JSON.stringify(headers)).toBe(200);
    }
    const v = await answer(await call('post', '/verify', { 'x-api-key': KEY }), '/verify', 'post', keyDoc);
    expect(v).toMatchObject({ status: 409, body: { error: { code: 'empty_gallery' } } });
    const none = await fetch(url('/nope'), { headers: { 'x-api-key': KEY } });
    expect(none.status).toBe(404);
    expect(srv.stderr()).not.toContain(KEY);
  });
});

describe('facekit serve with CORS', () => {
  const preflight = (base: string, origin: string) => fetch(`${base}/verify`, {
    method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key' },
  });

  it('answers preflights and echoes an allowed origin, a 401 included; other origins get no grant', async () => {
    const srv = await serveWith({ db: join(tempDir('facekit-serve-cors-'), 'g.json'), cors: ['https://app.example', 'http://localhost:5173/'], apiKey: KEY });
    try {
      expect(srv.stderr()).toMatch(/cross-origin requests allowed from https:\/\/app\.example, http:\/\/localhost:5173/);
      const ok = await preflight(srv.url, 'https://app.example');
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(ok.headers.get('access-control-allow-methods')).toMatch(/POST/);
      expect(ok.headers.get('access-control-allow-headers')).toMatch(/X-API-Key/i);
      expect(ok.headers.get('vary')).toMatch(/Origin/);
      const local = await preflight(srv.url, 'http://localhost:5173');
      expect(local.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');

      const h = await fetch(`${srv.url}/health`, { headers: { origin: 'https://app.example', 'x-api-key': KEY } });
      expect(h.status).toBe(200);
      expect(h.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(h.headers.get('access-control-expose-headers')).toMatch(/Retry-After/);
      await h.arrayBuffer();
      // the page of that origin can read why it was refused
      const refused = await fetch(`${srv.url}/health`, { headers: { origin: 'https://app.example' } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(await refused.json()).toMatchObject({ error: { code: 'unauthorized' } });

      for (const res of [await preflight(srv.url, 'https://evil.example'), await fetch(`${srv.url}/health`, { headers: { origin: 'https://evil.example', 'x-api-key': KEY } })]) {
        expect(res.headers.get('access-control-allow-origin')).toBeNull();
        await res.arrayBuffer();
      }
      expect(await srv.stop('SIGTERM')).toBe(0);
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  it('allows any origin with *, and refuses what is not an origin at start-up', async () => {
    const srv = await serveWith({ db: join(tempDir('facekit-serve-cors-'), 'g.json'), cors: ['*'] });
    try {
      const p = await preflight(srv.url, 'https://anywhere.example');
      expect(p.status).toBe(204);
      expect(p.headers.get('access-control-allow-origin')).toBe('*');
      const h = await fetch(`${srv.url}/health`, { headers: { origin: 'https://anywhere.example' } });
      expect(h.headers.get('access-control-allow-origin')).toBe('*');
      await h.arrayBuffer();
    } finally {
      await srv.stop('SIGKILL');
    }
    await expect(serveWith({ db: join(tempDir('facekit-serve-cors-'), 'g.json'), cors: ['ftp://files.example'] })).rejects.toThrow(/--cors: "ftp:\/\/files\.example" is not an origin/);
    await expect(serveWith({ db: join(tempDir('facekit-serve-cors-'), 'g.json'), cors: ['https://app.example/path'] })).rejects.toThrow(/no path/);
    await expect(serveWith({ db: join(tempDir('facekit-serve-key-'), 'g.json'), apiKey: 'two words' })).rejects.toThrow(/--api-key: the API key must be printable ASCII/);
    const env = await runCli(['serve', '--port', '0', '--db', join(tempDir('facekit-serve-key-'), 'g.json')], { env: { FACEKIT_API_KEY: 'two words' } });
    expect(env.code).toBe(2);
    expect(oneLine(env.stderr)).toMatch(/FACEKIT_API_KEY: the API key must be printable ASCII/);
  });
});
