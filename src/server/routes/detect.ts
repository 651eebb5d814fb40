/**
 * POST /detect: the faces of one image (boxes, scores, landmarks), without embeddings; the
 * pipeline stops after detection, so it is the cheapest model route.
 */
import type { FastifyInstance } from 'fastify';
import type { RecognizerId } from '../../api/models.js';
import { DETECT_OPTIONS, ENFORCE_DETECTION, detectChoice, facePart, failureUnlessAllowed, one, planFor, read, runUploads, type Context } from '../context.js';

export function registerDetectRoutes(app: FastifyInstance, ctx: Context): void {
  const { store } = ctx;

  app.post('/detect', async (request, reply) => {
    const body = await read(ctx, request, { images: { image: 1 }, options: { ...DETECT_OPTIONS, ...ENFORCE_DETECTION } });
    const upload = one(body, 'image');
    const g = store.peek();
    const plan = planFor(ctx, g, { model: g.meta.model as RecognizerId, ...detectChoice(body), upTo: 'detect' });
    const [records] = await runUploads(ctx, request, reply, [upload], plan);
    const fail = failureUnlessAllowed(records!, body);
    if (fail) throw fail;
    const r0 = records![0]!;
    const faces = records!.filter((r) => r.face !== null); // none when enforce_detection: false found nobody
    return { image: upload.name, width: r0.width, height: r0.height, detector: plan.detector, faces: faces.map(facePart) };
  });
}
