/**
 * POST /compare: 1:1, are the people in two photos the same person? The largest face of each is
 * embedded and compared with verifyPair(); the threshold comes from the one verification policy
 * (decideThreshold), so a threshold outside the metric's range is a 400, as it is for the CLI.
 * The answer's match_score puts the distance on the threshold's scale (score.ts). It also carries
 * the fields of the signature-comparison API this route replaces (image1_base64/image2_base64 in;
 * similarity, same_signature, threshold, model out), so that API's clients work unchanged.
 */
import type { FastifyInstance } from 'fastify';
import { DEFAULT_METRIC, type Metric, type RecognizerId } from '../../api/models.js';
import { decideThreshold, round4, verifyPair } from '../../api/recognition.js';
import type { FaceRecord } from '../../core/records.js';
import { fromFacekit } from '../http-errors.js';
import { matchScore } from '../score.js';
import type { Upload } from '../inputs.js';
import { DETECT_OPTIONS, detectChoice, imageFailure, one, planFor, read, runUploads, type Context } from '../context.js';

export function registerCompareRoutes(app: FastifyInstance, ctx: Context): void {
  const { store } = ctx;

  app.post('/compare', async (request, reply) => {
    const body = await read(ctx, request, {
      images: { image1: 1, image2: 1 },
      aliases: { image1_base64: 'image1', image2_base64: 'image2' },
      options: { model: { kind: 'model' }, metric: { kind: 'metric' }, threshold: { kind: 'number', min: 0 }, ...DETECT_OPTIONS },
    });
    const a = one(body, 'image1', '"image1" (or "image1_base64")');
    const b = one(body, 'image2', '"image2" (or "image2_base64")');
    const g = store.peek();
    const model = (body.options.model as RecognizerId | undefined) ?? (g.meta.model as RecognizerId);
    const metric = (body.options.metric as Metric | undefined) ?? DEFAULT_METRIC;
    const decision = decideThreshold(model, metric, body.options.threshold as number | undefined);
    const { threshold } = decision;
    const plan = planFor(ctx, g, { model, ...detectChoice(body), largestOnly: true });
    const [ra, rb] = await runUploads(ctx, request, reply, [a, b], plan);
    const side = (records: FaceRecord[], u: Upload) => {
      const fail = imageFailure(records);
      if (fail) throw fail;
      const f = records.find((r) => r.embedding);
      if (!f) throw fromFacekit(records.find((r) => r.error)?.error ?? { code: 'no_face', message: 'no face found' }, u.name);
      return { face: f, info: { image: u.name, width: f.width, height: f.height, face: f.face, box: f.box, faces: records.filter((r) => r.face !== null && !r.error).length } };
    };
    const sa = side(ra!, a), sb = side(rb!, b);
    const v = verifyPair(sa.face.embedding!.vector, sb.face.embedding!.vector, metric, threshold);
    return {
      verified: v.same, verdict: v.same ? 'same' : 'different',
      // similarity (1 - cosine distance) stays for the clients of the API this one replaces;
      // match_score is the number to show a person: 0.5 exactly at the threshold
      similarity: round4(v.similarity), distance: round4(v.distance), match_score: matchScore(v.distance, threshold), threshold, metric, model,
      // the signature-comparison API's name for the verdict (it answered similarity, threshold and model too)
      same_signature: v.same,
      image1: sa.info, image2: sb.info,
      ...(decision.warning ? { warnings: [decision.warning] } : {}),
    };
  });
}
