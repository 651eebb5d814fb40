/**
 * What the API accepts as an image: a path, the bytes of an encoded image (JPEG, PNG, WebP, ...),
 * or pixels the caller decoded already. Each becomes a pipeline job.
 */
import { FacekitError } from '../core/errors.js';
import { isDecodedImage, type DecodedImage } from '../core/image.js';
import type { PipelinePlan } from '../pipeline/plan.js';
import type { ImageJob } from '../pipeline/pool.js';
import type { Photo } from '../pipeline/photos.js';

export type { DecodedImage } from '../core/image.js';

/** A path, an encoded image's bytes (Buffer or Uint8Array), or decoded pixels. */
export type ImageInput = string | Uint8Array | DecodedImage;

export function isImageInput(v: unknown): v is ImageInput {
  return typeof v === 'string' || v instanceof Uint8Array || isDecodedImage(v);
}

/** The name an input goes by in records and messages: its path, or what the caller called it. */
export function imageName(input: ImageInput, name?: string): string {
  if (name !== undefined) return name;
  if (typeof input === 'string') return input;
  return input instanceof Uint8Array ? '<buffer>' : '<pixels>';
}

export function toJob(input: ImageInput, plan: PipelinePlan, name?: string): ImageJob {
  // A path is read by whoever runs the job, so it stays the job's name.
  if (typeof input === 'string') return { image: input, plan };
  if (input instanceof Uint8Array) return { image: imageName(input, name), plan, bytes: input };
  if (isDecodedImage(input)) return { image: imageName(input, name), plan, pixels: input };
  throw new FacekitError('usage', 'an image must be a path, a Buffer/Uint8Array of an encoded image, or {data, width, height, channels}');
}

/** An input as the photo loop takes it (a path is read by whoever hashes or runs it). */
export function toPhoto(input: ImageInput, name?: string): Photo {
  if (typeof input === 'string') return { image: input };
  if (input instanceof Uint8Array) return { image: imageName(input, name), bytes: input };
  if (isDecodedImage(input)) return { image: imageName(input, name), pixels: input };
  throw new FacekitError('usage', 'an image must be a path, a Buffer/Uint8Array of an encoded image, or {data, width, height, channels}');
}
