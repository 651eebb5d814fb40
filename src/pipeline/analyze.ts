/**
 * The analysis step of the pipeline: runs the analysis stage on detected faces (right after
 * detection, or on detect/align records read back), maps coordinates between the record's
 * original pixels and the decoded image, and turns a spoof into an error when the plan refuses
 * spoofs. Problems with one input become error records; only bugs throw.
 */
import { FacekitError, toErrorInfo } from '../core/errors.js';
import { scaleRecord } from '../core/geometry.js';
import { decodeImage, decodeScale, originalSize, readInputFile, type RgbImage } from '../core/image.js';
import { spoofError, type FaceRecord } from '../core/records.js';
import { analyzeFaces } from '../stages/analysis.js';
import type { PipelinePlan } from './plan.js';

/** Records of faces that can be analyzed: a face with a box and no error. */
const analyzable = (r: FaceRecord): boolean => !r.error && r.face !== null && r.box !== undefined;

/**
 * Add `analysis` to the records of one image whose pixels are `img` (all of them, or the first
 * `limit`). With `plan.refuseSpoofs`, a face judged not real gets a `spoof` error.
 */
export async function analyzeDetected(img: RgbImage, records: FaceRecord[], plan: PipelinePlan, limit = records.length): Promise<FaceRecord[]> {
  const opts = plan.analysis;
  if (!opts) return records;
  const [sx, sy] = decodeScale(img);
  const picked = records.map((r, i) => ({ r, i })).filter(({ r, i }) => i < limit && analyzable(r));
  if (picked.length === 0) return records;
  const faces = picked.map(({ r }) => scaleRecord({ box: r.box!, landmarks: r.landmarks }, 1 / sx, 1 / sy));
  const results = await analyzeFaces(img, faces.map((f) => ({ box: f.box, landmarks: f.landmarks })), opts);
  const out = [...records];
  picked.forEach(({ r, i }, k) => {
    const analysis = results[k]!;
    const rec: FaceRecord = { ...r, analysis: { ...r.analysis, ...analysis } };
    const spoof = analysis.spoof;
    if (plan.refuseSpoofs && spoof && !spoof.real) rec.error = spoofError(spoof);
    out[i] = rec;
  });
  return out;
}

/**
 * Analyze records read back from detect or align (one image's records together): the image is
 * decoded once, checked against the size the records give, and each face analyzed.
 */
export async function analyzeRecords(records: FaceRecord[], plan: PipelinePlan): Promise<FaceRecord[]> {
  if (records.length === 0) return [];
  const checked = records.map((r) => (r.error || r.face === null || r.box ? r : {
    ...r, error: { code: 'missing_key' as const, message: 'record has no "box" (run `facekit detect` first; analyze needs the face\'s box)' },
  }));
  if (!checked.some(analyzable)) return checked;
  const image = checked[0]!.image;
  const fail = (err: unknown) => {
    const info = toErrorInfo(err);
    return checked.map((r) => (r.error ? r : { ...r, error: info }));
  };
  let img: RgbImage;
  try {
    img = await decodeImage(await readInputFile(image), image, { maxPixels: plan.maxPixels });
  } catch (err) {
    if (err instanceof FacekitError) return fail(err);
    throw err;
  }
  const size = originalSize(img);
  const bad = checked.find((r) => r.width !== undefined && r.height !== undefined && (r.width !== size.width || r.height !== size.height));
  if (bad) return fail(new FacekitError('bad_record', `record says ${bad.width}x${bad.height} but the image is now ${size.width}x${size.height}`, image));
  return analyzeDetected(img, checked, plan);
}
