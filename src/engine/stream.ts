/**
 * Images and records through the pipeline as a stream, results in input order: each image is one
 * job for the workers (several at once); records made by an earlier stage are carried on in this
 * thread, the records of one image together (its pixels are decoded once for all its faces).
 */
import { FacekitError } from '../core/errors.js';
import type { FaceRecord } from '../core/records.js';
import { orderedMap } from '../pipeline/ordered.js';
import type { PipelinePlan, StageName } from '../pipeline/plan.js';
import type { ImageJob, JobSession } from '../pipeline/pool.js';
import { runRecords } from '../pipeline/run.js';
import { isImageInput, toJob, type ImageInput } from './images.js';
import type { Progress } from './options.js';

/** An image with what goes with it: a name for bytes or pixels, the person it shows, where to draw it. */
export interface PhotoInput {
  image: ImageInput;
  /** the name for a Buffer or pixel input in records and messages */
  name?: string;
  /** the person (a folder of people gives it): records get `label` */
  label?: string;
  /** detect: draw boxes and landmarks onto a copy of this image at this path */
  annotate?: string;
}

const DONE = Symbol('facekit.done');

/** Records that need no more work: they pass through a stream as they are, in their place. */
export interface Done {
  readonly [DONE]: FaceRecord[];
}

export const done = (records: FaceRecord[]): Done => ({ [DONE]: records });

/** What a stream takes: images, images with their labels, or records of the stage before. */
export type StreamItem = ImageInput | PhotoInput | FaceRecord | Done;

type Unit = { kind: 'image'; job: ImageJob; label?: string } | { kind: 'records'; records: FaceRecord[] } | { kind: 'done'; records: FaceRecord[] };

export function isFaceRecord(v: unknown): v is FaceRecord {
  return typeof v === 'object' && v !== null && !isImageInput(v) && 'schema' in v && typeof (v as { image?: unknown }).image === 'string';
}

export function isPhotoInput(v: unknown): v is PhotoInput {
  return typeof v === 'object' && v !== null && !isImageInput(v) && !('schema' in v) && isImageInput((v as { image?: unknown }).image);
}

/** Items as units of work: an image, or the records of one image that came together. */
async function* units(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, plan: PipelinePlan, records: boolean): AsyncGenerator<Unit> {
  let group: FaceRecord[] = [];
  for await (const item of items) {
    if (typeof item === 'object' && item !== null && DONE in item) {
      if (group.length > 0) {
        yield { kind: 'records', records: group };
        group = [];
      }
      yield { kind: 'done', records: item[DONE] };
      continue;
    }
    if (isFaceRecord(item)) {
      if (!records) throw new FacekitError('usage', 'detect takes images, not records (records already hold detections)', item.image);
      if (group.length > 0 && group[0]!.image !== item.image) {
        yield { kind: 'records', records: group };
        group = [];
      }
      group.push(item);
      continue;
    }
    if (group.length > 0) {
      yield { kind: 'records', records: group };
      group = [];
    }
    const p: PhotoInput = isPhotoInput(item) ? item : { image: item as ImageInput };
    const job = toJob(p.image, p.annotate ? { ...plan, annotatePath: p.annotate } : plan, p.name);
    yield { kind: 'image', job, ...(p.label !== undefined ? { label: p.label } : {}) };
  }
  if (group.length > 0) yield { kind: 'records', records: group };
}

export interface StreamContext {
  session: JobSession;
  /** records of earlier stages are taken (detect takes images only) */
  records: boolean;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** each image's records as they come (the engine notes which models ran) */
  onImage?: (records: FaceRecord[]) => void;
}

/**
 * Run `items` through `plan` (records from `stage` on), yielding each image's records (or each
 * group of records carried on) in input order. An image that cannot be processed is an error
 * record; the stream goes on. When the signal aborts, no new image starts and, after those under
 * way, the stream throws the signal's reason.
 */
export async function* runItems(items: Iterable<StreamItem> | AsyncIterable<StreamItem>, plan: PipelinePlan, stage: StageName, c: StreamContext): AsyncGenerator<FaceRecord[]> {
  const all = Array.isArray(items) ? await arrayOf(units(items, plan, c.records)) : undefined;
  const total = all?.filter((u) => u.kind === 'image').length;
  let done = 0;
  const admitted = new Map<Unit, Promise<FaceRecord[]>>();
  if (all && c.session.together) {
    const images = all.filter((u) => u.kind === 'image');
    c.session.submit(images.map((u) => u.job)).forEach((p, i) => {
      p.catch(() => undefined); // raised in its turn
      admitted.set(images[i]!, p);
    });
  }
  const run = async (u: Unit): Promise<FaceRecord[]> => {
    if (u.kind === 'done') return u.records;
    if (u.kind === 'records') return runRecords(u.records, plan, stage);
    const records = await (admitted.get(u) ?? c.session.submit([u.job])[0]!);
    c.onImage?.(records);
    c.onProgress?.({ done: ++done, ...(total !== undefined ? { total } : {}) });
    return u.label === undefined ? records : records.map((r) => (r.label === undefined ? { ...r, label: u.label } : r));
  };
  const concurrency = c.session.parallel > 1 ? 2 * c.session.parallel : 1;
  yield* orderedMap(all ?? units(items, plan, c.records), run, { concurrency: admitted.size > 0 ? Infinity : concurrency, stop: () => c.signal?.aborted === true });
  if (c.signal?.aborted) throw c.signal.reason;
}

async function arrayOf<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}
