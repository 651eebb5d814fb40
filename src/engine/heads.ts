/**
 * `--head DIR`: a head trained by `facekit train`, loaded once per process, checked against the
 * recognizer it is used with. A projection head turns an embedding into its 256-d projection (a
 * new embedding: represent's records carry it, tagged with the head); a siamese head scores pairs
 * (verify A B, /compare). Neither needs tfjs: the weights are applied in plain JavaScript.
 */
import { resolve } from 'node:path';
import { FacekitError } from '../core/errors.js';
import type { FaceRecord } from '../core/records.js';
import { isRecognizerId, type RecognizerId } from '../models/catalogue.js';
import type { GalleryMeta } from '../recognition/gallery.js';
import { applyHead, loadHead, type Head } from '../training/head-file.js';

const heads = new Map<string, Promise<Head>>();

/** The head in folder `dir` (a Head passes through), read once per process. */
export function openHead(head: string | Head): Promise<Head> {
  if (typeof head !== 'string') return Promise.resolve(head);
  const key = resolve(head);
  let h = heads.get(key);
  if (!h) {
    h = loadHead(head);
    heads.set(key, h);
    h.catch(() => heads.delete(key));
  }
  return h;
}

/** The recognizer a head was trained on; one this facekit does not have is a `bad_head` line. */
export function headRecognizer(head: Head): RecognizerId {
  if (!isRecognizerId(head.recognizer)) throw new FacekitError('bad_head', `head was trained on "${head.recognizer}" embeddings, a recognizer this facekit does not have`, head.dir);
  return head.recognizer;
}

/** A head used with another recognizer's embeddings is one clear line. */
export function checkHeadModel(head: Head, model: string): void {
  if (head.recognizer !== model) {
    throw new FacekitError('bad_head', `head was trained on ${head.recognizer} embeddings, not ${model}: use --model ${head.recognizer} (or leave --model out)`, head.dir);
  }
}

/** The name a record's embedding gives the head that made it. */
export const headTag = (head: Head): string => `${head.kind}:${head.weights.sha256.slice(0, 12)}`;

/** A represent record with a projection head applied to its embedding (others pass through). */
export function projectRecord(r: FaceRecord, head: Head): FaceRecord {
  if (!r.embedding || r.error) return r;
  // a record projected already (a query that went through represent --head) passes as it is
  if (r.embedding.head !== undefined) {
    if (r.embedding.head !== headTag(head)) throw new FacekitError('model_mismatch', `embedding was projected by ${r.embedding.head}, not by ${headTag(head)}`, `${r.image} face ${r.face}`);
    return r;
  }
  checkHeadModel(head, r.embedding.model);
  const v = applyHead(head, r.embedding.vector);
  return { ...r, embedding: { model: r.embedding.model, dim: v.length, vector: Array.from(v, (x) => Math.round(x * 1e7) / 1e7), head: headTag(head) } };
}

/** What a gallery records of the head it is built with. */
export function galleryHeadOf(head: Head): { path: string; tag: string; dim: number } {
  return { path: resolve(head.dir), tag: headTag(head), dim: head.outputDim };
}

/** The head a gallery was built with, read from its folder; a changed or missing head is one line. */
export async function headOfGallery(meta: GalleryMeta, where: string): Promise<Head | undefined> {
  if (!meta.head) return undefined;
  let head: Head;
  try {
    head = await openHead(meta.head.path);
  } catch (err) {
    if (!(err instanceof FacekitError)) throw err;
    throw new FacekitError('bad_head', `gallery was built with the head at ${meta.head.path}, which cannot be read (${err.message})`, where);
  }
  if (headTag(head) !== meta.head.tag) {
    throw new FacekitError('bad_head', `the head at ${meta.head.path} is ${headTag(head)}, not the ${meta.head.tag} this gallery was built with (retrained?): build the gallery again`, where);
  }
  return head;
}

/** Only a projection head makes embeddings. */
export function requireProjection(head: Head, use: string): void {
  if (head.kind !== 'projection') {
    throw new FacekitError('bad_head', `a siamese head scores pairs (verify A B --head, /compare); ${use} needs embeddings: train one with --head projection`, head.dir);
  }
}
