// The analyze benchmarks, run by bench/run.mjs (or alone):
//   node bench/analyze.mjs ARTISTS_DIR [RUNS]
// - ms per face on one thread (WASM backend, in this process): each action with its default
//   model, the other models, and all four actions together; the faces (the largest of each
//   artist photo) are detected first, untimed;
// - images/s of `facekit analyze DIR` on both cores (--workers 2; wall time, start-up included);
// - a cold `facekit analyze photo.jpg` (all actions): median wall time of fresh processes, beside
//   `node -e 0` (Node's own start) measured in the same run.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlan } from '../dist/pipeline/plan.js';
import { readImage, runImage } from '../dist/pipeline/run.js';
import { analysisOptions, analyzeFaces } from '../dist/stages/analysis.js';
import { scaleRecord } from '../dist/core/geometry.js';
import { decodeScale } from '../dist/core/image.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'facekit.js');
const [artists, runsArg] = process.argv.slice(2);
const runs = Number(runsArg) || 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 1) => Number(x).toFixed(d);

const photos = readdirSync(artists).sort().flatMap((p) => readdirSync(join(artists, p)).sort().map((f) => join(artists, p, f)));
console.log(`\n## analyze: ms per face on one thread (${photos.length} artist photos, the largest face of each; medians of ${runs} passes)`);
const plan = buildPlan({ upTo: 'detect' });
const faces = [];
for (const path of photos) {
  const img = await readImage(path, plan.maxPixels);
  const [r] = await runImage(path, plan);
  if (!r || r.error) continue;
  const [sx, sy] = decodeScale(img);
  faces.push({ img, face: scaleRecord({ box: r.box, landmarks: r.landmarks }, 1 / sx, 1 / sy) });
}
const configs = [
  ['age+gender (faceapi, default)', { actions: 'age,gender' }],
  ['age+gender (ssrnet)', { actions: 'age,gender', ageGenderModel: 'ssrnet' }],
  ['emotion (faceapi, default)', { actions: 'emotion' }],
  ['emotion (human)', { actions: 'emotion', emotionModel: 'human' }],
  ['spoof (minifasnet, default)', { actions: 'spoof' }],
  ['spoof (antispoof)', { actions: 'spoof', spoofModel: 'antispoof' }],
  ['spoof (liveness)', { actions: 'spoof', spoofModel: 'liveness' }],
  ['all four actions, default models', {}],
];
for (const [name, choice] of configs) {
  const opts = analysisOptions(choice);
  await analyzeFaces(faces[0].img, [faces[0].face], opts); // load the models, warm up
  const passes = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    for (const f of faces) await analyzeFaces(f.img, [f.face], opts);
    passes.push((performance.now() - t0) / faces.length);
  }
  console.log(`${name.padEnd(34)} ${fmt(median(passes))} ms/face`);
}

function wall(args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0 && r.status !== 2) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

console.log(`\n## analyze: ${photos.length} artist photos, all actions, --workers 2 (wall, start-up included)`);
const rates = [];
for (let i = 0; i < runs; i++) rates.push(photos.length / wall([bin, 'analyze', artists, '--workers', '2', '--json']));
console.log(`images/s: ${rates.map((r) => fmt(r, 2)).join(' ')}; median ${fmt(median(rates), 2)}`);

console.log('\n## cold `facekit analyze photo.jpg` (all actions; a fresh process each time)');
const photo = photos[0];
const cold = [], bare = [];
for (let i = 0; i < Math.max(5, runs); i++) {
  bare.push(wall(['-e', '0']));
  cold.push(wall([bin, 'analyze', photo, '--json']));
}
console.log(`facekit analyze: ${cold.map((t) => fmt(t, 2)).join(' ')} s; median ${fmt(median(cold), 2)} s; node -e 0: median ${fmt(median(bare), 3)} s`);
