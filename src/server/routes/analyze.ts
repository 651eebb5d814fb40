/**
 * POST /analyze: each face of one image with its box and `analysis` (age, gender, emotion,
 * real-or-spoof). Options pick the actions and the models, as `facekit analyze` does.
 */
import type { FastifyInstance } from 'fastify';
import { analysisOptions, type RecognizerId } from '../../api/models.js';
import { FacekitError } from '../../core/errors.js';
import { fromFacekit } from '../http-errors.js';
import { DETECT_OPTIONS, ENFORCE_DETECTION, detectChoice, facePart, failureUnlessAllowed, one, planFor, read, runUploads, type Context } from '../context.js';

export const ANALYZE_OPTIONS = {
  actions: { kind: 'string' },
  age_gender_model: { kind: 'string' },
  emotion_model: { kind: 'string' },
  spoof_model: { kind: 'string' },
  spoof_threshold: { kind: 'number', min: 0, max: 1 },
} as const;

export function registerAnalyzeRoutes(app: FastifyInstance, ctx: Context): void {
  const { store } = ctx;

  app.post('/analyze', async (request, reply) => {
    const body = await read(ctx, request, { images: { image: 1 }, options: { ...ANALYZE_OPTIONS, ...DETECT_OPTIONS, ...ENFORCE_DETECTION } });
    const o = body.options;
    const str = (k: string) => (o[k] === undefined ? undefined : String(o[k]));
    let analysis;
    try {
      analysis = analysisOptions({
        actions: str('actions'), ageGenderModel: str('age_gender_model'), emotionModel: str('emotion_model'),
        spoofModel: str('spoof_model'), spoofThreshold: o.spoof_threshold as number | undefined,
      });
    } catch (err) {
      if (err instanceof FacekitError) throw fromFacekit(err);
      throw err;
    }
    const upload = one(body, 'image');
    const g = store.peek();
    const plan = { ...planFor(ctx, g, { model: g.meta.model as RecognizerId, ...detectChoice(body), upTo: 'detect' }), analysis };
    const [records] = await runUploads(ctx, request, reply, [upload], plan);
    const fail = failureUnlessAllowed(records!, body);
    if (fail) throw fail;
    const r0 = records![0]!;
    return {
      image: upload.name, width: r0.width, height: r0.height, detector: plan.detector, actions: analysis.actions,
      faces: records!.filter((r) => r.face !== null && !r.error).map((r) => ({ ...facePart(r), analysis: r.analysis })),
    };
  });
}
