/**
 * The pipeline: runs the stages in order on one image, or carries records from one stage to the
 * next, reading the pixels and writing the files that stages make (aligned PNGs, normalized .npy).
 * The stage modules stay pure; this module does their I/O. It is also what a worker thread runs.
 */
import { readRegularFile } from '../core/files.js';
import { ensureDir, sha256, writeFileAtomic } from '../core/files.js';
import { extname, join } from 'node:path';
import { RECOGNIZERS } from '../models/catalogue.js';
import { artifactStem, runs, type PipelinePlan, type StageName } from './plan.js';
export { buildPlan, DEFAULT_PLAN, artifactStem, type PipelinePlan, type PlanChoice, type StageName } from './plan.js';
import { FacekitError, fsError, toErrorInfo } from '../core/errors.js';
import { decodeImage, decodeScale, downscale, encodePng, fromPixels, originalSize, readInputFile, cropImage, type DecodedImage, type RgbImage } from '../core/image.js';
import { scaleRecord } from '../core/geometry.js';
import { decodeNpy, encodeNpy } from '../core/npy.js';
import { errorRecord, requireKey, type FaceRecord } from '../core/records.js';
import { alignFace, TEMPLATES } from '../stages/alignment.js';
import { detectFaces, detectionRecords, prealignedRecord, wholeImageRecord } from '../stages/detection.js';
import { detectors } from '../models/detectors/index.js';
import { normalizeCrop } from '../stages/normalization.js';
import { loadRecognizer } from '../models/recognizers/index.js';
import { represent } from '../stages/representation.js';
import { annotate } from '../core/annotate.js';
import { analyzeDetected, analyzeRecords } from './analyze.js';

/** Decode an image given by path (or bytes already read, e.g. from stdin). */
export async function readImage(image: string, maxPixels: number, bytes?: Uint8Array, pixels?: DecodedImage, whileDecoding?: () => void): Promise<RgbImage> {
  if (pixels) return fromPixels(pixels, image, { maxPixels });
  return decodeImage(bytes ?? (await readInputFile(image)), image, { maxPixels, ...(whileDecoding ? { whileDecoding } : {}) });
}

let warmed = false;

/**
 * Start loading the plan's detector and recognizer once per thread, without waiting, while sharp
 * decodes the first image on libuv's threads: a cold start overlaps the two. Failures are
 * left to the calls that need the models (they load them again and report).
 */
function warmModels(plan: PipelinePlan): void {
  if (warmed) return;
  warmed = true;
  if (!plan.skipDetect && plan.detector !== 'none') detectors[plan.detector].warm?.().catch(() => undefined);
  if (runs(plan, 'represent')) loadRecognizer(plan.model).catch(() => undefined);
}

/**
 * Run the stages from detect up to `plan.upTo` on one image. Problems with this image become an
 * error record (nothing is dropped); only bugs throw.
 */
export async function runImage(image: string, plan: PipelinePlan, bytes?: Uint8Array, pixels?: DecodedImage): Promise<FaceRecord[]> {
  let img: RgbImage;
  try {
    img = await readImage(image, plan.maxPixels, bytes, pixels, () => warmModels(plan));
  } catch (err) {
    if (err instanceof FacekitError) return [errorRecord(image, toErrorInfo(err))];
    throw err;
  }
  let records: FaceRecord[];
  if (plan.skipDetect) {
    records = [prealignedRecord(image, img)];
  } else if (plan.detector === 'none') {
    records = [wholeImageRecord(image, img)];
  } else {
    const faces = await detectFaces(img, {
      detector: plan.detector, minScore: plan.minScore, maxFaces: plan.maxFaces, maxSide: 1280,
    });
    records = detectionRecords(image, img, faces, plan.detector, plan.mesh);
    if (plan.annotatePath) {
      const ext = extname(plan.annotatePath).toLowerCase();
      const format = ext === '.png' ? 'png' : ext === '.webp' ? 'webp' : 'jpeg';
      await writeFileAtomic(plan.annotatePath, await annotate(img, records, format));
    }
    if (plan.cropsDir) await writeCrops(img, records, plan.cropsDir, plan.cropMargin);
  }
  // Analysis (and refusing spoofs) comes right after detection, before any later stage.
  if (plan.analysis) records = await analyzeDetected(img, records, plan, plan.largestOnly ? 1 : records.length);
  if (!runs(plan, 'align')) return records;
  if (plan.largestOnly) {
    // The other faces come back as detect records only, so that the caller can report them.
    return [...(await continueRecords(records.slice(0, 1), img, plan, 'align')), ...records.slice(1)];
  }
  return continueRecords(records, img, plan, 'align');
}

/** Run the stages from `from` up to `plan.upTo` on records of one image whose pixels are `img`. */
async function continueRecords(records: FaceRecord[], img: RgbImage | undefined, plan: PipelinePlan, from: StageName): Promise<FaceRecord[]> {
  const model = RECOGNIZERS[plan.model];
  const template = TEMPLATES[model.template];
  const out: FaceRecord[] = [];
  const tensors: { index: number; data: Float32Array }[] = [];
  for (const rec of records) {
    if (rec.error || rec.face === null) {
      out.push(rec);
      continue;
    }
    const where = `${rec.image} face ${rec.face}`;
    try {
      let r = rec;
      let crop: RgbImage | undefined;
      let tensor: Float32Array | undefined;
      if (from === 'align') {
        if (!img) throw new Error('align needs pixels');
        const [sx, sy] = decodeScale(img);
        // a whole image (a template without points): sharp shrinks it to the template's size
        // first, filtered; the warp's bilinear sampling alone would alias a large picture
        const whole = template.fitSets.length === 0;
        const { image: source, scale } = whole ? await downscale(img, Math.max(...template.size), 'lanczos3') : { image: img, scale: 1 };
        const a = alignFace(source, scaleRecord({ landmarks: whole ? undefined : r.landmarks, box: r.box }, scale / sx, scale / sy), template, plan.rotate);
        crop = a.crop;
        r = { ...r };
        if (plan.alignDir) {
          // The name carries what makes crops differ, so another run's crops never overwrite these.
          const path = join(plan.alignDir, `${artifactStem(r.image, r.face!)}-${cropKind(template.id, a.rotated)}.png`);
          const png = await encodePng(crop);
          await writeFileAtomic(path, png);
          r.aligned = { path, size: [crop.width, crop.height], angle: a.angle, template: template.id, rotated: a.rotated, sha256: sha256(png) };
        }
      }
      if (runs(plan, 'normalize') && from !== 'represent') {
        if (!crop) crop = await readAligned(r, template.id, where);
        const n = normalizeCrop(crop, plan.scheme);
        tensor = n.data;
        if (plan.normDir) {
          const kind = `${cropKind(template.id, r.aligned?.rotated ?? plan.rotate)}-${plan.scheme}`;
          const path = join(plan.normDir, `${artifactStem(r.image, r.face!)}-${kind}.npy`);
          const npy = encodeNpy({ shape: n.shape, data: n.data });
          await writeFileAtomic(path, npy);
          r = { ...r, normalized: { path, scheme: plan.scheme, shape: n.shape, mean: n.mean, std: n.std, sha256: sha256(npy) } };
        }
      }
      if (runs(plan, 'represent')) {
        if (!tensor) tensor = await readNormalized(r, plan, where);
        tensors.push({ index: out.length, data: tensor });
      }
      out.push(r);
    } catch (err) {
      if (!(err instanceof FacekitError)) throw err;
      out.push({ ...rec, error: toErrorInfo(err, where) });
    }
  }
  if (tensors.length > 0) {
    const rec = await loadRecognizer(plan.model);
    const embeddings = await represent(rec, tensors.map((t) => t.data), { flip: plan.flip });
    tensors.forEach((t, i) => {
      out[t.index] = { ...out[t.index]!, embedding: embeddings[i]! };
    });
  }
  return out;
}

/** The aligned crop a record points to, checked against the template the model needs. */
async function readAligned(r: FaceRecord, template: string, where: string): Promise<RgbImage> {
  const a = requireKey(r, 'aligned', 'align', where);
  if (a.template !== template) {
    throw new FacekitError('model_mismatch', `crop follows template ${a.template}, the model needs ${template} (align again with this --model)`, where);
  }
  const bytes = await readInputFile(a.path);
  assertUnchanged(bytes, a.sha256, a.path);
  return decodeImage(bytes, a.path);
}

/** What distinguishes crops of one face: the template, and box-only crops (align --no-rotate). */
function cropKind(template: string, rotated: boolean): string {
  return rotated ? template : `${template}-box`;
}


/** A file a record points to must still be the one that record describes. */
function assertUnchanged(bytes: Uint8Array, expected: string | undefined, path: string): void {
  if (expected !== undefined && sha256(bytes) !== expected) {
    throw new FacekitError('bad_record', 'file is not the one its record describes (its sha256 differs): it was overwritten or edited since; run the stage again', path);
  }
}

async function readNormalized(r: FaceRecord, plan: PipelinePlan, where: string): Promise<Float32Array> {
  const n = requireKey(r, 'normalized', 'normalize', where);
  const model = RECOGNIZERS[plan.model];
  let buf: Buffer;
  try {
    buf = await readRegularFile(n.path);
  } catch (err) {
    throw fsError(err, n.path);
  }
  assertUnchanged(buf, n.sha256, n.path);
  const arr = decodeNpy(buf, n.path);
  const [w, h] = model.size;
  const want = [1, h, w, 3];
  const shape = arr.shape.length === 3 ? [1, ...arr.shape] : arr.shape;
  if (shape.join(',') !== want.join(',')) {
    throw new FacekitError('bad_tensor', `tensor shape is (${arr.shape.join(', ')}), ${model.id} needs (${want.join(', ')})`, n.path);
  }
  if (n.scheme !== model.scheme && !plan.anyScheme) {
    throw new FacekitError('model_mismatch',
      `tensor was normalized with scheme "${n.scheme}", ${model.id} needs "${model.scheme}" (normalize again, or pass --any-scheme to embed it anyway)`, where);
  }
  return arr.data;
}

/**
 * Take records made by earlier stages and run the stages from `from` up to `plan.upTo`. Records
 * of one image should come together: its pixels are decoded once for all its faces.
 */
export async function runRecords(records: FaceRecord[], plan: PipelinePlan, from: StageName): Promise<FaceRecord[]> {
  if (records.length === 0) return [];
  // Detect (or align) records given to analyze: the analysis is the only step to run.
  if (from === 'detect' && plan.analysis) return analyzeRecords(records, plan);
  let img: RgbImage | undefined;
  if (from === 'align' && records.some((r) => !r.error && r.face !== null)) {
    const image = records[0]!.image;
    try {
      img = await readImage(image, plan.maxPixels);
    } catch (err) {
      if (!(err instanceof FacekitError)) throw err;
      const info = toErrorInfo(err);
      return records.map((r) => (r.error ? r : { ...r, error: info }));
    }
    // The record's coordinates are only valid for the same picture.
    const size = originalSize(img);
    const bad = records.find((r) => r.width !== undefined && r.height !== undefined && (r.width !== size.width || r.height !== size.height));
    if (bad) {
      const info = toErrorInfo(new FacekitError('bad_record', `record says ${bad.width}x${bad.height} but the image is now ${size.width}x${size.height}`, image));
      return records.map((r) => (r.error ? r : { ...r, error: info }));
    }
  }
  return continueRecords(records, img, plan, from);
}

async function writeCrops(img: RgbImage, records: FaceRecord[], dir: string, margin: number): Promise<void> {
  await ensureDir(dir);
  for (const r of records) {
    if (!r.box || r.face === null) continue;
    const [sx, sy] = decodeScale(img);
    const [x, y, w, h] = scaleRecord({ box: r.box }, 1 / sx, 1 / sy).box!;
    const crop = cropImage(img, x - w * margin, y - h * margin, w * (1 + 2 * margin), h * (1 + 2 * margin));
    const path = join(dir, `${artifactStem(r.image, r.face)}.png`);
    await writeFileAtomic(path, await encodePng(crop));
    r.crop = path;
  }
}

export async function prepareDirs(plan: PipelinePlan): Promise<void> {
  for (const d of [plan.alignDir, plan.normDir, plan.cropsDir]) if (d) await ensureDir(d);
}

