/**
 * POST /analyze: each face of one image with its box and `analysis` (age, gender, emotion,
 * real-or-spoof). Options pick the actions and the models, as `facekit analyze` does.
 */
import type { FastifyInstance } from 'fastify';
import { analysisOptions } from '../../index.js';
import { FacekitError } from '../../core/errors.js';
import { fromFacekit } from '../http-errors.js';
import { DETECT_OPTIONS, ENFORCE_DETECTION, all, detectChoice, facePart, failureUnlessAllowed, items, one, postRoute, withDeadline, type Context } from '../context.js';

export const ANALYZE_OPTIONS = {
  actions: { kind: 'string' },
  age_gender_model: { kind: 'string' },
  emotion_model: { kind: 'string' },
  spoof_model: { kind: 'string' },
  spoof_threshold: { kind: 'number', min: 0, max: 1 },
} as const;

export function registerAnalyzeRoutes(app: FastifyInstance, ctx: Context): void {
  postRoute(app, ctx, '/analyze', { images: { image: 1 }, options: { ...ANALYZE_OPTIONS, ...DETECT_OPTIONS, ...ENFORCE_DETECTION } }, async (request, reply, body) => {
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
    const choice = detectChoice(ctx, body);
    const [records] = await withDeadline(ctx, request, reply, (signal) => all(ctx.facekit.batch('analyze', items([upload]), { ...choice, ...analysis, signal })));
    const fail = failureUnlessAllowed(records!, body);
    if (fail) throw fail;
    const r0 = records![0]!;
    return {
      image: upload.name, width: r0.width, height: r0.height, detector: choice.detector ?? r0.detector, actions: analysis.actions,
      faces: records!.filter((r) => r.face !== null && !r.error).map((r) => ({ ...facePart(r), analysis: r.analysis })),
    };
  });
}
