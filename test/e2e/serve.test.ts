/**
 * The HTTP server of `facekit serve`, in this test process (test/helpers/app.ts): spoken to through
 * fastify's inject(), or over loopback HTTP where the socket is what is tested (streamed and
 * oversized uploads). Every JSON answer is also checked against the server's own /openapi.json
 * (compat.test.ts: the routes of --compat; their API key and CORS are tested here).
 * What only a process shows (it starts and says where it listens, signals stop it after the
 * requests under way with exit 0, a bad option or a busy port is one line and exit 2) is tested
 * on `facekit serve` itself, at the end.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARTISTS, DEMO, FIXTURES, hasArtists, oneLine, runCli, tempDir } from '../helpers/cli.js';
import { serveInProcess, type InProcessServer } from '../helpers/app.js';
import { rejection } from '../helpers/engine.js';
import { checkAnswer, type Checked, type Schema } from '../helpers/openapi.js';
import { form, inject, serve, type Sent } from '../helpers/serve.js';
import { loadGallery } from '../../src/recognition/gallery-file.js';

/* ---------------------------------------------------------------- requests */

const dataUrl = (path: string) => `data:image/jpeg;base64,${readFileSync(path).toString('base64')}`;

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

/** A fetch() answer, checked against `doc` as injected ones are. */
async function fetched(doc: Schema, res: Response, path: string, method: string): Promise<Checked> {
  return checkAnswer(doc, { status: res.status, text: await res.text() }, path, method);
}

/** The CORS headers of an answer. */
const corsHeaders = (headers: Record<string, unknown>) => Object.keys(headers).filter((k) => k.startsWith('access-control-'));

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

describe('the server (in-process, inject)', () => {
  let srv: InProcessServer;
  let doc: Schema;
  let dir: string;
  let db: string;
  /** A request, its answer checked against /openapi.json (`docPath`: the documented path). */
  const call = async (method: string, url: string, sent: Sent = {}, docPath = url.split('?')[0]!): Promise<Checked> =>
    checkAnswer(doc, await inject(srv, method, url, sent), docPath, method);
  const log = () => srv.log.join('\n');

  beforeAll(async () => {
    dir = tempDir('facekit-serve-');
    db = join(dir, 'gallery.json');
    srv = await serveInProcess({ db });
    doc = JSON.parse((await inject(srv, 'get', '/openapi.json')).text) as Schema;
  });

  it('has warm models, and documents every endpoint', async () => {
    const h = await call('get', '/health');
    expect(h.body).toMatchObject({ status: 'ok', backend: expect.any(String), models: expect.arrayContaining(['blazeface', 'mobilefacenet']), gallery: { faces: 0 } });
    const m = await call('get', '/models');
    expect((m.body.models as { id: string; loaded: boolean }[]).filter((r) => r.loaded).map((r) => r.id).sort()).toEqual(['blazeface', 'mobilefacenet']);
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.paths as object).sort()).toEqual([
      '/', '/analyze', '/compare', '/detect', '/gallery', '/gallery/photos/{hash}', '/gallery/{label}', '/health', '/models', '/openapi.json', '/represent', '/similar', '/verify',
    ]);
    const page = await inject(srv, 'get', '/');
    expect(page.header('content-type')).toMatch(/text\/html/);
    expect(page.text).toMatch(/Who is this\?[\s\S]*Compare two photos/);
  });

  it('refuses to verify against an empty gallery', async () => {
    const r = await call('post', '/verify', { form: { image: `@${Q1}` } });
    expect(r).toMatchObject({ status: 409, body: { error: { code: 'empty_gallery' } } });
  });

  it('adds people from concurrent requests without losing any, writing the gallery atomically', async () => {
    const requests = Object.entries(PEOPLE).flatMap(([label, photos]) => photos.map((p) => ({ label, p })));
    const answers = await Promise.all(requests.map(({ label, p }) => call('post', '/gallery', { form: { label, image: `@${p}` } })));
    for (const a of answers) expect(a.status).toBe(201);
    const g = await loadGallery(db);
    expect(g.size).toBe(faces());
    expect([...g.labels().keys()].sort()).toEqual([P1, P2].sort());
    expect(existsSync(`${db}.lock`)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const list = await call('get', '/gallery');
    expect((list.body.people as { label: string; faces: number }[]).map((p) => [p.label, p.faces])).toEqual(
      Object.entries(PEOPLE).map(([l, ps]) => [l, ps.length]).sort());
    // The same photo again, under any name, is not added twice.
    const again = await call('post', '/gallery', { form: { label: 'someone', images: `@${PEOPLE[P1]![0]}` } });
    expect(again).toMatchObject({ status: 200, body: { added: [], skipped: [{ label: P1 }] } });
  });

  it('says who is in a photo, with the matching gallery photos', async () => {
    const r = await call('post', '/verify', { form: { image: `@${Q1}` } });
    expect(r.status).toBe(200);
    const face = (r.body.faces as { identity: string; verdict: string; distance: number; candidates: { label: string; photo: string; face: number }[] }[])[0]!;
    expect(face).toMatchObject({ identity: P1, verdict: 'match' });
    expect(face.distance).toBeLessThanOrEqual(r.body.threshold as number);
    expect(face.candidates.map((c) => c.label)).toEqual([P1, P2]);
    // Answers name people and faces, never the server's files.
    for (const path of ['/health', '/gallery']) expect((await inject(srv, 'get', path)).text).not.toContain(dir);
    expect(JSON.stringify(r.body)).not.toContain(dir);
    const photo = await inject(srv, 'get', `${face.candidates[0]!.photo}?size=96&face=${face.candidates[0]!.face}`);
    expect(photo.status).toBe(200);
    expect(photo.header('content-type')).toBe('image/jpeg');
    expect(photo.bytes.byteLength).toBeGreaterThan(500);

    // The same photo as a data: URL in JSON (top_k 1), and as the raw body.
    const j = await call('post', '/verify', { json: { image: dataUrl(Q2), top_k: 1 } });
    const first = (a: Checked) => (a.body.faces as Record<string, unknown>[])[0];
    expect(first(j)).toMatchObject({ identity: P2, candidates: [{ label: P2 }] });
    const raw = await call('post', '/verify?topK=2', { headers: { 'content-type': 'image/jpeg' }, body: readFileSync(Q2) });
    expect(first(raw)).toMatchObject({ identity: P2 });
  });

  it('answers a photo with nobody in it with no faces when enforce_detection is false (the camera view sends such frames)', async () => {
    const noFace = join(BAD, 'no-face.jpg');
    const v = await call('post', '/verify', { form: { image: `@${noFace}`, enforce_detection: 'false', top_k: '1' } });
    expect(v).toMatchObject({ status: 200, body: { faces: [] } });
    expect(v.body.width).toEqual(expect.any(Number));
    const d = await call('post', '/detect?enforce_detection=0', { headers: { 'content-type': 'image/jpeg' }, body: readFileSync(noFace) });
    expect(d).toMatchObject({ status: 200, body: { faces: [] } });
    const j = await call('post', '/verify', { json: { image: dataUrl(noFace), enforce_detection: false } });
    expect(j).toMatchObject({ status: 200, body: { faces: [] } });
    // a face is still named; other failures are still errors; the default is deepface's, true
    const face = await call('post', '/verify', { form: { image: `@${Q1}`, enforce_detection: 'false' } });
    expect((face.body.faces as { identity: string }[])[0]).toMatchObject({ identity: P1 });
    const broken = await call('post', '/verify', { form: { image: `@${join(BAD, 'truncated.jpg')}`, enforce_detection: 'false' } });
    expect(broken).toMatchObject({ status: 422, body: { error: { code: 'corrupt_image' } } });
    const strict = await call('post', '/detect', { form: { image: `@${noFace}` } });
    expect(strict).toMatchObject({ status: 422, body: { error: { code: 'no_face' } } });
    const bad = await call('post', '/verify', { form: { image: `@${noFace}`, enforce_detection: 'maybe' } });
    expect(bad).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/"enforce_detection" must be true or false/) } } });
  });

  it('compares two photos, under the field names of the API it replaces too', async () => {
    const same = await call('post', '/compare', { form: { image1: `@${Q1}`, image2: `@${PEOPLE[P1]![0]}` } });
    expect(same.body).toMatchObject({ verified: true, verdict: 'same', model: 'mobilefacenet', metric: 'euclidean_l2' });
    const diff = await call('post', '/compare', { json: { image1_base64: readFileSync(Q1).toString('base64'), image2_base64: dataUrl(Q2) } });
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
    const bad = await call('post', '/compare', { json: { ...images, threshold: 5 } });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'usage' } } });
    expect((bad.body.error as { message: string }).message).toMatch(/threshold 5 .*euclidean_l2/);
    const loose = await call('post', '/compare', { json: { ...images, threshold: 1.8 } });
    expect(loose).toMatchObject({ status: 200, body: { threshold: 1.8 } });
    expect(loose.body.warnings).toEqual([expect.stringMatching(/far looser than the calibrated/)]);
  });

  it('detects faces and represents a batch, one error per bad image in the batch', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const d = await call('post', '/detect', { form: { image: `@${join(DEMO, 'sample1.jpg')}` } });
      expect(d.body).toMatchObject({ width: 1920, height: 1280, detector: 'blazeface' });
      expect(d.body.faces).toHaveLength(3);
      const r = await call('post', '/represent', { form: { images: [`@${Q1}`, `@${join(BAD, 'no-face.jpg')}`] } });
      const results = r.body.results as { faces: { embedding: { dim: number; vector: number[] } }[]; error?: { code: string } }[];
      expect(r.body).toMatchObject({ model: 'mobilefacenet', dim: 192 });
      expect(results[0]!.faces[0]!.embedding.vector).toHaveLength(192);
      expect(results[1]).toMatchObject({ faces: [], error: { code: 'no_face' } });
      // A full batch of 16 images: no MaxListenersExceededWarning (a process warning, which the CLI prints on stderr).
      const full = await call('post', '/represent', { form: { images: Array.from({ length: 16 }, () => `@${join(BAD, 'no-face.jpg')}`) } });
      expect((full.body.results as unknown[]).length).toBe(16);
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => /MaxListenersExceededWarning/.test(w))).toEqual([]);
    expect(log()).not.toMatch(/MaxListenersExceededWarning/);
  });

  it.each([
    ['not an image', 415, 'not_an_image', (): Sent => ({ form: { image: `@${join(BAD, 'text.jpg')}` } })],
    ['a truncated image', 422, 'corrupt_image', (): Sent => ({ form: { image: `@${join(BAD, 'truncated.jpg')}` } })],
    ['an empty file', 422, 'empty_file', (): Sent => ({ form: { image: `@${join(BAD, 'empty.jpg')}` } })],
    ['no face', 422, 'no_face', (): Sent => ({ form: { image: `@${join(BAD, 'no-face.jpg')}` } })],
    ['over the pixel limit', 413, 'too_large', (): Sent => ({ form: { image: `@${join(BAD, 'huge-20000x20000.png')}` } })],
    ['a wrong field name', 400, 'unknown_field', (): Sent => ({ form: { photo: `@${Q1}` } })],
    ['a path instead of an image', 400, 'bad_request', (): Sent => ({ json: { image: '/etc/passwd' } })],
    ['malformed JSON', 400, 'bad_json', (): Sent => ({ headers: { 'content-type': 'application/json' }, body: '{"image": "abc' })],
    ['a JSON array', 400, 'bad_json', (): Sent => ({ headers: { 'content-type': 'application/json' }, body: '[1, 2]' })],
    ['a bad option', 400, 'bad_request', (): Sent => ({ form: { image: `@${Q1}`, top_k: 'three' } })],
    ['another model than the gallery\'s', 409, 'model_mismatch', (): Sent => ({ form: { image: `@${Q1}`, model: 'faceres' } })],
    ['a text body', 415, 'unsupported_media_type', (): Sent => ({ headers: { 'content-type': 'text/plain' }, body: 'hello' })],
  ])('POST /verify with %s: %i %s', async (_what, status, code, sent) => {
    const r = await call('post', '/verify', sent());
    expect(r.status).toBe(status);
    expect((r.body.error as { code: string }).code).toBe(code);
  });

  it('answers other bad requests with JSON errors, and is still up after them all', async () => {
    const big = Buffer.alloc(11_000_000, 0xff);
    big.set([0xff, 0xd8, 0xff], 0);
    const bigForm = new FormData();
    bigForm.append('image', new Blob([big]), 'big.jpg');
    const tooBig = await call('post', '/verify', { form: bigForm });
    expect(tooBig).toMatchObject({ status: 413, body: { error: { code: 'too_large' } } });
    const wrong = await call('post', '/compare', { form: { img1: `@${Q1}`, img2: `@${Q2}` } });
    expect(wrong).toMatchObject({ status: 400, body: { error: { code: 'unknown_field' } } });
    expect((wrong.body.error as { message: string }).message).toMatch(/image1_base64/);
    const noLabel = await call('post', '/gallery', { form: { image: `@${Q1}` } });
    expect(noLabel).toMatchObject({ status: 400, body: { error: { message: '"label" is required' } } });
    const noRoute = await inject(srv, 'get', '/nope');
    expect(noRoute.status).toBe(404);
    expect(JSON.parse(noRoute.text)).toMatchObject({ error: { code: 'not_found' } });
    for (const p of ['/gallery/photos/..%2F..%2Fetc%2Fpasswd', `/gallery/photos/${'0'.repeat(64)}`, '/gallery/photos/%2Fetc%2Fpasswd']) {
      const r = await call('get', p, {}, '/gallery/photos/{hash}');
      expect(r.status).toBe(404);
    }
    expect((await inject(srv, 'get', '/health')).status).toBe(200);
    expect(log()).not.toMatch(/\n\s+at /);
  });

  // over loopback HTTP: what is tested is how the server reads a body from a socket
  it('answers a multipart body that ends half way through a part with 400 bad_request, not 500', async () => {
    const url = (p: string) => srv.url + p;
    const half = [partHead('image', 'half.jpg'), readFileSync(Q1).subarray(0, 3000)];
    const type = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
    // the headers and half a part, then the end of the request (chunked, as fetch streams it)
    const chunked = await fetched(doc, await fetch(url('/verify'), streamed(half, type)), '/verify', 'post');
    // the same with a Content-Length that the client keeps to: the form just stops
    const body = Buffer.concat(half);
    const counted = await fetched(doc, await rawPost(url('/verify'), [body], { ...type, 'content-length': String(body.length) }), '/verify', 'post');
    // and a form that never started its first part
    const preamble = await fetched(doc, await fetch(url('/verify'), streamed([Buffer.from(`--${BOUNDARY}\r\nContent-Dispo`)], type)), '/verify', 'post');
    for (const r of [chunked, counted, preamble]) {
      expect(r).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
      expect((r.body.error as { message: string }).message).toMatch(/multipart body ended early/);
    }
    // a multipart Content-Type without its boundary is the client's fault too
    const noBoundary = await call('post', '/verify', { headers: { 'content-type': 'multipart/form-data' }, body: 'x' });
    expect(noBoundary).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: expect.stringMatching(/boundary/) } } });
    expect(log()).not.toMatch(/internal error/);
  });

  // over loopback HTTP: the client must get the answer, not a connection reset under its upload
  it('refuses 1000 images in one upload with a 413 too_large that the client reads, however they are sent', async () => {
    const url = (p: string) => srv.url + p;
    const tooMany = /at most 16 images per request \(serve --max-batch\)/;
    // 1000 parts of 1 kB: within the body limit, far over --max-batch
    const small = await fetched(doc, await fetch(url('/represent'), { method: 'POST', body: manyFiles(1000, 1000) }), '/represent', 'post');
    expect(small).toMatchObject({ status: 413, body: { error: { code: 'too_large', message: expect.stringMatching(tooMany) } } });
    // 1000 parts of 50 kB, 50 MB: over four body limits, where the server used to give up reading
    // and reset the connection under the client's upload
    const big = await fetched(doc, await fetch(url('/represent'), { method: 'POST', body: manyFiles(1000, 50_000) }), '/represent', 'post');
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'too_large', message: expect.stringMatching(/over the limit of 10 MB/) } } });
    // the same 50 MB streamed without a Content-Length: refused part way through the parts
    const type = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
    const chunked = await fetched(doc, await rawPost(url('/represent'), multipartParts(1000, 50_000), type), '/represent', 'post');
    expect(chunked).toMatchObject({ status: 413, body: { error: { code: 'too_large', message: expect.stringMatching(tooMany) } } });
    // and through fetch's streaming
    const viaFetch = await fetched(doc, await fetch(url('/represent'), streamed([...multipartParts(1000, 20_000)], type)), '/represent', 'post');
    expect(viaFetch).toMatchObject({ status: 413, body: { error: { code: 'too_large' } } });
    // a JSON batch over --max-batch is the same limit
    const jsonBatch = await call('post', '/represent', { json: { images: Array.from({ length: 17 }, () => dataUrl(Q1)) } });
    expect(jsonBatch).toMatchObject({ status: 413, body: { error: { code: 'too_large', message: expect.stringMatching(tooMany) } } });
    // one image too many for a one-image field is still a malformed request
    const two = await call('post', '/verify', { form: { image: [`@${Q1}`, `@${Q2}`] } });
    expect(two).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: '"image" takes one image' } } });
    expect((await inject(srv, 'get', '/health')).status).toBe(200);
  });

  // over loopback HTTP: found by the bad-input corpus ("body over --body-limit (11 MB, Content-Length)")
  it('a client that asks to close the connection (Connection: close) and sends a body over --body-limit reads the 413, not EPIPE', async () => {
    // a server of its own process: in this one, client and server share the event loop and the
    // server never closes before the client's upload is done
    const own = await serve(['--db', join(tempDir('facekit-serve-close-'), 'g.json'), '--workers', '1']);
    const { port } = new URL(own.url);
    const post = (path: string, type: string, body: Buffer) => new Promise<{ status?: number; error?: string; text: string }>((resolve) => {
      // Node's http.request with agent: false says "Connection: close", as curl -H and many simple clients do
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { 'content-type': type, 'content-length': String(body.length) } });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        let text = '';
        res.on('data', (c: Buffer) => { text += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', (e: NodeJS.ErrnoException) => { if (!answered) resolve({ error: e.code, text: '' }); });
      // written in pieces, as a client streams a file: the answer comes while it is still sending
      let off = 0;
      const step = (): void => {
        while (off < body.length) {
          const piece = body.subarray(off, off + 256 * 1024);
          off += piece.length;
          if (!req.write(piece)) return void req.once('drain', step);
        }
        req.end();
      };
      step();
    });
    const over = randomBytes(11_000_000);
    const json = Buffer.from(JSON.stringify({ image1: over.toString('base64'), image2: 'x' }));
    try {
      for (let i = 0; i < 3; i++) {
        for (const [path, type, body] of [['/verify', 'image/jpeg', over], ['/compare', 'application/json', json]] as const) {
          const r = await post(path, type, body);
          expect(r, `${path} ${type}, try ${i + 1}`).toMatchObject({ status: 413 });
          expect(JSON.parse(r.text)).toMatchObject({ error: { code: 'too_large' } });
        }
      }
      expect((await fetch(`${own.url}/health`)).status).toBe(200);
    } finally {
      await own.stop();
    }
  }, 60_000);

  it('sends no CORS header unless --cors says so', async () => {
    const preflight = await inject(srv, 'options', '/verify', {
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key' },
    });
    const plain = await inject(srv, 'get', '/health', { headers: { origin: 'https://app.example' } });
    for (const res of [preflight, plain]) expect(corsHeaders(res.headers)).toEqual([]);
    expect(preflight.status).toBe(404);
    expect(plain.status).toBe(200);
  });

  it('removes a person', async () => {
    const del = await call('delete', `/gallery/${encodeURIComponent(P2)}`, {}, '/gallery/{label}');
    expect(del).toMatchObject({ status: 200, body: { label: P2, removed: PEOPLE[P2]!.length } });
    const again = await call('delete', `/gallery/${encodeURIComponent(P2)}`, {}, '/gallery/{label}');
    expect(again.status).toBe(404);
    expect([...(await loadGallery(db)).labels().keys()]).toEqual([P1]);
    const r = await call('post', '/verify', { form: { image: `@${Q2}` } });
    expect((r.body.faces as { identity: string | null }[])[0]!.identity).not.toBe(P2);
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

describe('the server with an API key, CORS and --compat (in-process)', () => {
  let srv: InProcessServer;
  let keyDoc: Schema;
  const call = (method: string, path: string, headers: Record<string, string> = {}) =>
    inject(srv, method, path, { headers, ...(method === 'post' ? { form: { image: `@${Q1}` } } : {}) });
  const preflight = (origin: string) => inject(srv, 'options', '/verify', {
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key' },
  });
  const log = () => srv.log.join('\n');

  beforeAll(async () => {
    // --compat too: the key and CORS apply to the routes of the APIs facekit replaces as well
    srv = await serveInProcess({ db: join(tempDir('facekit-serve-key-'), 'g.json'), workers: 1, apiKey: KEY, cors: ['https://app.example', 'http://localhost:5173/'], compat: true });
    const res = await inject(srv, 'get', '/openapi.json');
    expect(res.status).toBe(200);
    keyDoc = JSON.parse(res.text) as Schema;
  });

  it('serves the page and the OpenAPI document to anyone, which documents the key', async () => {
    const page = await inject(srv, 'get', '/');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/Who is this\?/);
    expect((keyDoc.components as Schema).securitySchemes).toMatchObject({
      bearer: { type: 'http', scheme: 'bearer' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    });
    expect(keyDoc.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    const paths = keyDoc.paths as Record<string, Record<string, Schema>>;
    expect(paths['/']!.get!.security).toEqual([]);
    expect(paths['/openapi.json']!.get!.security).toEqual([]);
    for (const [method, , path] of PROTECTED) expect((paths[path]![method]!.responses as Schema)['401'], `${method} ${path}`).toBeDefined();
    expect(log()).toMatch(/an API key is needed/);
    expect(log()).not.toContain(KEY);
  });

  it('answers 401 unauthorized with WWW-Authenticate: Bearer without the key, or with any other', async () => {
    for (const [method, path, docPath] of PROTECTED) {
      const bad: Record<string, string>[] = [{}, ...OTHER_KEYS.flatMap((k): Record<string, string>[] => [{ authorization: `Bearer ${k}` }, { 'x-api-key': k }]), { authorization: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` }];
      for (const headers of bad) {
        const res = await call(method, path, headers);
        expect(res.header('www-authenticate'), `${method} ${path} ${JSON.stringify(headers)}`).toMatch(/^Bearer realm="facekit"/);
        const r = checkAnswer(keyDoc, res, docPath, method);
        expect(r, `${method} ${path} ${JSON.stringify(headers)}`).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
      }
    }
    // no endpoint is given away either
    expect((await inject(srv, 'get', '/nope')).status).toBe(401);
    // a refused upload is still read to its end: the client gets the 401, not a reset (over loopback HTTP: the socket is what is tested)
    const big = await fetched(keyDoc, await fetch(`${srv.url}/represent`, { method: 'POST', body: manyFiles(1000, 50_000) }), '/represent', 'post');
    expect(big.status).toBe(401);
  });

  it('takes the key as a Bearer token or as X-API-Key', async () => {
    const good: Record<string, string>[] = [{ authorization: `Bearer ${KEY}` }, { authorization: `bearer ${KEY}` }, { 'x-api-key': KEY }, { authorization: 'Bearer wrong', 'x-api-key': KEY }];
    for (const headers of good) {
      const h = checkAnswer(keyDoc, await inject(srv, 'get', '/health', { headers }), '/health', 'get');
      expect(h.status, JSON.stringify(headers)).toBe(200);
    }
    const v = checkAnswer(keyDoc, await call('post', '/verify', { 'x-api-key': KEY }), '/verify', 'post');
    expect(v).toMatchObject({ status: 409, body: { error: { code: 'empty_gallery' } } });
    expect((await inject(srv, 'get', '/nope', { headers: { 'x-api-key': KEY } })).status).toBe(404);
    expect(log()).not.toContain(KEY);
  });

  it('answers preflights and echoes an allowed origin, a 401 included; other origins get no grant', async () => {
    expect(log()).toMatch(/cross-origin requests allowed from https:\/\/app\.example, http:\/\/localhost:5173/);
    const ok = await preflight('https://app.example');
    expect(ok.status).toBe(204);
    expect(ok.header('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.header('access-control-allow-methods')).toMatch(/POST/);
    expect(ok.header('access-control-allow-headers')).toMatch(/X-API-Key/i);
    expect(ok.header('vary')).toMatch(/Origin/);
    const local = await preflight('http://localhost:5173');
    expect(local.header('access-control-allow-origin')).toBe('http://localhost:5173');

    const h = await inject(srv, 'get', '/health', { headers: { origin: 'https://app.example', 'x-api-key': KEY } });
    expect(h.status).toBe(200);
    expect(h.header('access-control-allow-origin')).toBe('https://app.example');
    expect(h.header('access-control-expose-headers')).toMatch(/Retry-After/);
    // the page of that origin can read why it was refused
    const refused = await inject(srv, 'get', '/health', { headers: { origin: 'https://app.example' } });
    expect(refused.status).toBe(401);
    expect(refused.header('access-control-allow-origin')).toBe('https://app.example');
    expect(JSON.parse(refused.text)).toMatchObject({ error: { code: 'unauthorized' } });

    for (const res of [await preflight('https://evil.example'), await inject(srv, 'get', '/health', { headers: { origin: 'https://evil.example', 'x-api-key': KEY } })]) {
      expect(res.header('access-control-allow-origin')).toBeUndefined();
    }
  });

  it('needs the key on every compat route (/status included), and grants the allowed origin there too', async () => {
    const b64 = (path: string) => readFileSync(path).toString('base64');
    const SAMPLE = join(DEMO, 'sample1.jpg');
    const image = JSON.stringify({ base64: b64(SAMPLE) });
    // as each API's client sends it: the workshop's JSON without a Content-Type, the Flask API's forms
    const calls: [string, string, () => ReturnType<typeof inject>][] = [
      ['/status', 'get', () => inject(srv, 'get', '/status')],
      ['/deteccao-facial-api/status', 'get', () => inject(srv, 'get', '/deteccao-facial-api/status')],
      ['/echo', 'post', () => inject(srv, 'post', '/echo', { body: '{"a": 1}' })],
      ['/detect-face', 'post', () => inject(srv, 'post', '/detect-face', { body: image })],
      ['/deteccao-facial-api/recognize-face', 'post', () => inject(srv, 'post', '/deteccao-facial-api/recognize-face', { body: image })],
      ['/api/health', 'get', () => inject(srv, 'get', '/api/health')],
      ['/api/models', 'get', () => inject(srv, 'get', '/api/models')],
      ['/api/embedding', 'post', () => inject(srv, 'post', '/api/embedding', { form: { image: `@${SAMPLE}` } })],
      ['/api/embeddings/batch', 'post', () => inject(srv, 'post', '/api/embeddings/batch', { form: { images: `@${SAMPLE}` } })],
      ['/api/milvus/insert', 'post', () => inject(srv, 'post', '/api/milvus/insert', { form: { images: `@${SAMPLE}`, person_id: 'x' } })],
    ];
    for (const [path, method, call] of calls) {
      const res = await call();
      expect(res.header('www-authenticate'), path).toMatch(/^Bearer realm="facekit"/);
      expect(checkAnswer(keyDoc, res, path, method), path).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    }
    const ok = await inject(srv, 'post', '/detect-face', { body: image, headers: { 'x-api-key': KEY } });
    expect(checkAnswer(keyDoc, ok, '/detect-face', 'post').body).toHaveLength(3);
    const status = await inject(srv, 'get', '/deteccao-facial-api/status', { headers: { authorization: `Bearer ${KEY}`, origin: 'https://app.example' } });
    expect(status.status).toBe(200);
    expect(status.header('access-control-allow-origin')).toBe('https://app.example');
    expect(JSON.parse(status.text)).toEqual({ status: 'ok' });
    const preflight = await inject(srv, 'options', '/api/embedding', {
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.header('access-control-allow-origin')).toBe('https://app.example');
    expect(log()).not.toContain(KEY);
  });

  it('refuses what is not an origin, and a key that cannot travel in a header, before loading any model', async () => {
    const db = join(tempDir('facekit-serve-cors-'), 'g.json');
    const refused = async (options: Parameters<typeof serveInProcess>[0]) => (await rejection(serveInProcess(options))).line;
    expect(await refused({ db, cors: ['ftp://files.example'] })).toMatch(/--cors: "ftp:\/\/files\.example" is not an origin/);
    expect(await refused({ db, cors: ['https://app.example/path'] })).toMatch(/no path/);
    expect(await refused({ db, apiKey: 'two words' })).toMatch(/--api-key: the API key must be printable ASCII/);
    expect(existsSync(db)).toBe(false);
  });
});

/* ---------------------------------------------------------------- `facekit serve` as a process */

describe('facekit serve (the process)', () => {
  /** POST `body`; resolves once the server has its image in a worker's hands (GET /health says so), with the answer to come. */
  async function underWay(base: string, path: string, body: FormData, headers: Record<string, string> = {}): Promise<{ pending: Promise<Response> }> {
    const pending = fetch(base + path, { method: 'POST', body, headers });
    for (let i = 0; i < 200; i++) {
      const h = (await (await fetch(`${base}/health`, { headers })).json()) as { queue: { running: number } };
      if (h.queue.running > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    return { pending };
  }

  it('listens on loopback and says where; on SIGTERM it finishes a gallery write under way, then exits 0', async () => {
    const dir = tempDir('facekit-serve-proc-');
    const db = join(dir, 'gallery.json');
    const srv = await serve(['--db', db]);
    try {
      expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(srv.stderr()).toMatch(/^facekit: serve: listening on http:\/\/127\.0\.0\.1:\d+ \(gallery .*gallery\.json: 0 people, 0 faces, mobilefacenet; \w+ backend\)$/m);
      const extra = hasArtists ? artist('nina_simone', 'nina-simone-getty-scaled.jpg') : join(DEMO, 'sample3.jpg');
      const { pending } = await underWay(srv.url, '/gallery', form({ label: 'late', image: `@${extra}` }));
      const code = await srv.stop('SIGTERM');
      const res = await pending;
      expect(res.status).toBe(201);
      expect(code).toBe(0);
      expect(srv.stderr()).toMatch(/SIGTERM: stopping after 1 request under way[\s\S]*serve: stopped/);
      expect(srv.stderr()).not.toMatch(/\n\s+at /);
      const g = await loadGallery(db);
      expect(g.labels().get('late')).toBe(1);
      expect(existsSync(`${db}.lock`)).toBe(false);
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  it('takes its options from argv and its key from FACEKIT_API_KEY; under a burst it answers 503 + Retry-After; SIGINT stops it with exit 0', async () => {
    // one worker, no waiting room, 10 ms per request: the first request times out and keeps the
    // worker busy for a while; everything sent meanwhile is refused at once
    const srv = await serve(['--db', join(tempDir('facekit-serve-burst-'), 'g.json'), '--workers', '1', '--queue', '0', '--timeout', '0.01', '--cors', '*'],
      { env: { FACEKIT_API_KEY: KEY } });
    try {
      expect(srv.stderr()).toMatch(/an API key is needed/);
      expect(srv.stderr()).toMatch(/cross-origin requests allowed from \*/);
      expect((await fetch(`${srv.url}/health`)).status).toBe(401);
      const headers = { 'x-api-key': KEY };
      const slow = () => fetch(`${srv.url}/detect`, { method: 'POST', headers, body: form({ image: `@${join(DEMO, 'sample5.jpg')}` }) });
      const first = await slow();
      expect(first.status).toBe(503);
      expect(await first.json()).toMatchObject({ error: { code: 'timeout' } });
      const burst = await Promise.all(Array.from({ length: 4 }, slow));
      const codes: string[] = [];
      for (const r of burst) {
        expect(r.status).toBe(503);
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        codes.push(((await r.json()) as { error: { code: string } }).error.code);
      }
      expect(codes).toContain('overloaded');
      for (const c of codes) expect(['overloaded', 'timeout']).toContain(c);
      const health = await (await fetch(`${srv.url}/health`, { headers })).json() as { status: string; queue: { maxWaiting: number } };
      expect(health).toMatchObject({ status: 'ok', queue: { maxWaiting: 0 } });
      // --cors '*': any origin, the preflight answered without the key
      const p = await fetch(`${srv.url}/verify`, {
        method: 'OPTIONS', headers: { origin: 'https://anywhere.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key' },
      });
      expect(p.status).toBe(204);
      expect(p.headers.get('access-control-allow-origin')).toBe('*');
      const h = await fetch(`${srv.url}/health`, { headers: { ...headers, origin: 'https://anywhere.example' } });
      expect(h.headers.get('access-control-allow-origin')).toBe('*');
      await h.arrayBuffer();
      expect(await srv.stop('SIGINT')).toBe(0);
      expect(srv.stderr()).toMatch(/SIGINT: stopping after \d+ requests? under way[\s\S]*serve: stopped/);
      expect(srv.stderr()).not.toContain(KEY);
      expect(srv.stderr()).not.toMatch(/\n\s+at /);
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  it('says a bad option, a damaged gallery or a port in use in one line, and exits 2', async () => {
    const dir = tempDir('facekit-serve-bad-');
    writeFileSync(join(dir, 'g.json'), '{"format": "facekit-gallery", "schema": 1, "entr');
    const damaged = await runCli(['serve', '--db', join(dir, 'g.json'), '--port', '0']);
    expect(damaged.code).toBe(2);
    expect(oneLine(damaged.stderr)).toMatch(/g\.json: gallery is not valid JSON/);
    const env = await runCli(['serve', '--port', '0', '--db', join(dir, 'k.json')], { env: { FACEKIT_API_KEY: 'two words' } });
    expect(env.code).toBe(2);
    expect(oneLine(env.stderr)).toMatch(/FACEKIT_API_KEY: the API key must be printable ASCII/);
    const cors = await runCli(['serve', '--port', '0', '--db', join(dir, 'c.json'), '--cors', 'ftp://files.example']);
    expect(cors.code).toBe(2);
    expect(oneLine(cors.stderr)).toMatch(/--cors: "ftp:\/\/files\.example" is not an origin/);
    // a port another program holds
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    try {
      const port = (holder.address() as AddressInfo).port;
      const busy = await runCli(['serve', '--port', String(port), '--db', join(dir, 'p.json'), '--workers', '1']);
      expect(busy.code).toBe(2);
      // The port is taken only once the models are loaded: the start-up's own log line comes
      // first, then the one line of the error (no stack trace).
      const lines = busy.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(lines).toEqual(['facekit: serve: loading the models in 1 worker...', expect.stringMatching(/^facekit: /)]);
      expect(oneLine(`${lines[1]}\n`)).toMatch(new RegExp(`port ${port} is already in use on 127\\.0\\.0\\.1`));
      expect(busy.stderr).not.toMatch(/\n\s+at |node:internal/);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });
});
