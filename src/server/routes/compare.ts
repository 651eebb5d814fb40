/**
 * POST /compare: 1:1, are the people in two photos the same person? The verify verb: the largest
 * face of each, under the one verification policy (a threshold outside the metric's range is a
 * 400, as it is for the CLI). The answer's match_score puts the distance on the threshold's scale
 * (score.ts). It also carries the fields of the signature-comparison API this route replaces
 * (image1_base64/image2_base64 in; similarity, same_signature, threshold, model out), so that API's
 * clients work unchanged.
 */
import type { FastifyInstance } from 'fastify';
import { DEFAULT_METRIC, type FaceRecord, type Metric, type RecognizerId } from '../../index.js';
import { FacekitError } from '../../core/errors.js';
import { fromFacekit } from '../http-errors.js';
import { matchScore } from '../score.js';
import { DETECT_OPTIONS, detectChoice, one, read, withDeadline, type Context } from '../context.js';

export function registerCompareRoutes(app: FastifyInstance, ctx: Context): void {
  const { gallery } = ctx;

  app.post('/compare', async (request, reply) => {
    const body = await read(ctx, request, {
      images: { image1: 1, image2: 1 },
      aliases: { image1_base64: 'image1', image2_base64: 'image2' },
      options: { model: { kind: 'model' }, metric: { kind: 'metric' }, threshold: { kind: 'number', min: 0 }, ...DETECT_OPTIONS },
    });
    const a = one(body, 'image1', '"image1" (or "image1_base64")');
    const b = one(body, 'image2', '"image2" (or "image2_base64")');
    const model = (body.options.model as RecognizerId | undefined) ?? (gallery.meta.model as RecognizerId);
    const settings = model === gallery.meta.model ? gallery.settings() : { model };
    // serve --head: a head trained on this model's embeddings decides (its own distance and threshold)
    const head = ctx.head?.recognizer === model ? ctx.head : undefined;
    const metric = (body.options.metric as Metric | undefined) ?? DEFAULT_METRIC;
    const v = await withDeadline(ctx, request, reply, (signal) => ctx.facekit.verify(a.bytes, b.bytes, {
      ...settings, ...detectChoice(ctx, body, model), metric, threshold: body.options.threshold as number | undefined, names: [a.name, b.name], signal,
      ...(head ? { head } : {}),
    })).catch((err: unknown) => {
      // an image's own failure (no face, not an image) names the image, as every route does
      throw err instanceof FacekitError && err.where !== undefined && err.code !== 'usage' ? fromFacekit(err, err.where) : err;
    });
    const info = (f: FaceRecord, found: number) => ({ image: f.image, width: f.width, height: f.height, face: f.face, box: f.box, faces: found });
    const warnings = v.warnings.filter((w) => !/holds more than one face/.test(w));
    return {
      verified: v.verified, verdict: v.verified ? 'same' : 'different',
      // similarity (1 - cosine distance) stays for the clients of the API this one replaces;
      // match_score is the number to show a person: 0.5 exactly at the threshold
      similarity: v.similarity, distance: v.distance, match_score: matchScore(v.distance, v.threshold), threshold: v.threshold,
      metric: head ? v.metric : metric, model, ...(v.head ? { head: v.head } : {}),
      // the signature-comparison API's name for the verdict (it answered similarity, threshold and model too)
      same_signature: v.verified,
      image1: info(v.faces[0], v.facesFound[0]), image2: info(v.faces[1], v.facesFound[1]),
      ...(warnings.length ? { warnings } : {}),
    };
  });
}
