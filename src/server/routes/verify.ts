/**
 * POST /verify: who is this? Each face of one image against the gallery (Gallery.identifyMany),
 * the top-k identities per face, and where the page can fetch each candidate's gallery photo. The
 * threshold comes from the one verification policy, as for the CLI.
 */
import type { FastifyInstance } from 'fastify';
import { decideThreshold, type FaceAnswer, type Metric } from '../../index.js';
import { matchScore } from '../score.js';
import {
  DETECT_OPTIONS, ENFORCE_DETECTION, all, checkModel, detectChoice, emptyGallery, failureUnlessAllowed, items, one, photoUrl, postRoute, withDeadline, type Context,
} from '../context.js';

export function registerVerifyRoutes(app: FastifyInstance, ctx: Context): void {
  const { gallery } = ctx;

  postRoute(app, ctx, '/verify', {
    images: { image: 1 },
    options: {
      top_k: { kind: 'int', min: 1, max: 100 }, threshold: { kind: 'number', min: 0 }, metric: { kind: 'metric' },
      model: { kind: 'model' }, ...DETECT_OPTIONS, ...ENFORCE_DETECTION,
    },
  }, async (request, reply, body) => {
    const upload = one(body, 'image');
    checkModel(ctx, body);
    if (gallery.counts().faces === 0) await gallery.refresh();
    if (gallery.counts().faces === 0) throw emptyGallery();
    const metric = (body.options.metric as Metric | undefined) ?? gallery.meta.metric;
    const decision = decideThreshold(gallery.meta.model, metric, body.options.threshold as number | undefined, 'gallery');
    const topK = (body.options.top_k as number | undefined) ?? 3;
    const [records] = await withDeadline(ctx, request, reply, (signal) => all(ctx.facekit.batch('represent', items([upload]), {
      ...gallery.settings(), ...detectChoice(ctx, body), signal,
    })));
    const fail = failureUnlessAllowed(records!, body);
    if (fail) throw fail;
    const faces = records!.filter((r) => r.face !== null);
    const answers = faces.length ? await all(gallery.identifyMany(faces, { metric, threshold: decision.threshold, topK })) : [];
    const r0 = records![0]!;
    return {
      image: upload.name, width: r0.width, height: r0.height, model: gallery.meta.model, metric, threshold: decision.threshold,
      faces: await Promise.all(answers.map((a) => withPhotos(ctx, a))),
      ...(decision.warning ? { warnings: [decision.warning] } : {}),
    };
  });
}

/**
 * An answer for clients: each candidate names the person, its match score, and where to fetch the
 * gallery photo (by content hash), never the server's own file path.
 */
async function withPhotos(ctx: Context, a: FaceAnswer) {
  return {
    ...a,
    candidates: await Promise.all(a.candidates.map(async ({ image, ...c }) => {
      const e = await ctx.gallery.entryOfImage(image);
      return { ...c, match_score: matchScore(c.distance, a.threshold), ...(e ? { photo: photoUrl(e.hash), face: e.face } : {}) };
    })),
  };
}
