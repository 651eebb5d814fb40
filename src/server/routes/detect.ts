/**
 * POST /detect: the faces of one image (boxes, scores, landmarks), without embeddings; the
 * pipeline stops after detection, so it is the cheapest model route.
 */
import type { FastifyInstance } from 'fastify';
import { DETECT_OPTIONS, ENFORCE_DETECTION, all, detectChoice, facePart, failureUnlessAllowed, items, one, read, withDeadline, type Context } from '../context.js';

export function registerDetectRoutes(app: FastifyInstance, ctx: Context): void {
  app.post('/detect', async (request, reply) => {
    const body = await read(ctx, request, { images: { image: 1 }, options: { ...DETECT_OPTIONS, ...ENFORCE_DETECTION } });
    const upload = one(body, 'image');
    const choice = detectChoice(ctx, body);
    const [records] = await withDeadline(ctx, request, reply, (signal) => all(ctx.facekit.batch('detect', items([upload]), { ...choice, signal })));
    const fail = failureUnlessAllowed(records!, body);
    if (fail) throw fail;
    const r0 = records![0]!;
    const faces = records!.filter((r) => r.face !== null); // none when enforce_detection: false found nobody
    return { image: upload.name, width: r0.width, height: r0.height, detector: choice.detector ?? r0.detector, faces: faces.map(facePart) };
  });
}
