/**
 * The engine shared by the module functions (`detect`, `represent`, `verify`, `Gallery.open`
 * without an engine): made on first use, with the options of that first call; `close()` ends it.
 */
import { FacekitError } from '../core/errors.js';
import { Facekit } from './facekit.js';
import type { FacekitOptions } from './options.js';

let shared: Facekit | undefined;

/** The shared engine; options given once it exists must agree with the ones it was made with. */
export function sharedEngine(opts: FacekitOptions = {}): Facekit {
  if (!shared) {
    shared = new Facekit(opts);
    return shared;
  }
  for (const key of ['backend', 'workers', 'maxPixels'] as const) {
    if (opts[key] !== undefined && opts[key] !== shared[key]) {
      throw new FacekitError('usage', `the shared engine already runs with ${key} ${String(shared[key])}; call close() first, or make a new Facekit({ ${key}: ... })`);
    }
  }
  return shared;
}

/** Release the shared engine's worker threads; the next call makes a new one. */
export async function closeSharedEngine(): Promise<void> {
  const e = shared;
  shared = undefined;
  await e?.close();
}
