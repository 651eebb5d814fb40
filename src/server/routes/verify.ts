/**
 * POST /verify: who is this? Each face of one image against the gallery with identify(), the
 * top-k identities per face, and where the page can fetch each candidate's gallery photo. The
 * threshold comes from the one verification policy (decideThreshold), as for the CLI.
 */
import type { FastifyInstance } from 'fastify';
import type { Metric, RecognizerId } from '../../api/models.js';
import { decideThreshold, identify, type FaceAnswer, type InMemoryGallery } from '../../api/recognition.js';
import { HttpError } from '../http-errors.js';
import { matchScore } from '../score.js';
import { DETECT_OPTIONS, ENFORCE_DETECTION, checkModel, detectChoice, failureUnlessAllowed, one, photoUrl, planFor, read, runUploads, type Context } from '../context.js';

export function registerVerifyRoutes(app: FastifyInstance, ctx: Context): void {
  const { store } = ctx;

  app.post('/verify', async (request, reply) => {
    const body = await read(ctx, request, {
      images: { image: 1 },
      options: {
        top_k: { kind: 'int', min: 1, max: 100 }, threshold: { kind: 'number', min: 0 }, metric: { kind: 'metric' },
        model: { kind: 'model' }, ...DETECT_OPTIONS, ...ENFORCE_DETECTION,
      },
    });
    const upload = one(body, 'image');
    const g = await store.current();
    checkModel(g, body);
    if (g.size === 0) throw new HttpError(409, 'empty_gallery', 'the gallery is empty: add people first (POST /gallery, or facekit build-db)');
    const metric = (body.options.metric as Metric | undefined) ?? g.meta.metric;
    const decision = decideThreshold(g.meta.model, metric, body.options.threshold as number | undefined, 'gallery');
    const { threshold } = decision;
    const topK = (body.options.top_k as number | undefined) ?? 3;
    const plan = planFor(ctx, g, { model: g.meta.model as RecognizerId, ...detectChoice(body) });
    const [records] = await runUploads(ctx, request, reply, [upload], plan);
    const fail = failureUnlessAllowed(records!, body);
    if (fail) throw fail;
    const now = await store.current(); // the gallery may have changed while the image was in work
    const faces = records!.filter((r) => r.face !== null);
    const answers = identify(now, faces, { metric, threshold, topK });
    const r0 = records![0]!;
    return {
      image: upload.name, width: r0.width, height: r0.height, model: now.meta.model, metric, threshold,
      faces: answers.map((a) => withPhotos(now, a)),
      ...(decision.warning ? { warnings: [decision.warning] } : {}),
    };
  });
}

/**
 * identify()'s answer for clients: each candidate names the person, its match score, and where to
 * fetch the gallery photo (by content hash), never the server's own file path.
 */
function withPhotos(g: InMemoryGallery, a: FaceAnswer) {
  const byImage = new Map<string, { hash: string; face: number }>();
  for (const e of g.entries) if (!byImage.has(e.image)) byImage.set(e.image, { hash: e.hash, face: e.face });
  return {
    ...a,
    candidates: a.candidates.map(({ image, ...c }) => {
      const e = byImage.get(image);
      return { ...c, match_score: matchScore(c.distance, a.threshold), ...(e ? { photo: photoUrl(e.hash), face: e.face } : {}) };
    }),
  };
}
