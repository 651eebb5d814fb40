/**
 * sharp, loaded on first use. Importing it costs about 45 ms of start-up, which a usage error,
 * `--help` or a stage that reads only records should not pay: every module takes sharp from here.
 */
import { createRequire } from 'node:module';
import type { Sharp, SharpInput, SharpOptions } from 'sharp';

const require = createRequire(import.meta.url);
type SharpLib = (input?: SharpInput | SharpInput[] | SharpOptions, options?: SharpOptions) => Sharp;
let lib: SharpLib | undefined;

export function sharp(input?: SharpInput | SharpInput[] | SharpOptions, options?: SharpOptions): Sharp {
  lib ??= require('sharp') as SharpLib;
  return lib(input, options);
}
