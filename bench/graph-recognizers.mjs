#!/usr/bin/env node
// Forward time per face of the recognizers run from a converted graph (MobileFaceNet), on each
// engine: onnxruntime-node on the in-memory ONNX conversion, and the tfjs executor on the WASM
// backend; one thread each, batches of 1 and 2 (2 = a face and its mirror image, what represent
// runs by default). Also the one-off costs: reading the .tflite, converting, starting a session.
// Needs `npm run build`.   node bench/graph-recognizers.mjs [--runs N]
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', p);
const { RECOGNIZERS } = await import(dist('models/catalogue.js'));
const { modelPath, initBackend } = await import(dist('models/runtime.js'));
const { readTflite } = await import(dist('models/graph/tflite.js'));
const { fusePrelu } = await import(dist('models/graph/fuse.js'));
const { tfliteToOnnx } = await import(dist('models/graph/to-onnx.js'));
const { createSession, ortAvailable } = await import(dist('models/ort.js'));
const { loadTfliteRecognizer } = await import(dist('models/recognizers/mobilefacenet.js'));

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 30;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const info = RECOGNIZERS.mobilefacenet;
const file = modelPath(info.files[0].pkg, info.files[0].file);

let t0 = performance.now();
const bytes = readFileSync(file);
const graph = readTflite(bytes);
const tRead = performance.now() - t0;
t0 = performance.now();
const fused = fusePrelu(graph);
const tFuse = performance.now() - t0;
t0 = performance.now();
const onnx = tfliteToOnnx(fused, 'mobilefacenet');
const tConvert = performance.now() - t0;
let tSession = NaN;
if (ortAvailable()) {
  t0 = performance.now();
  await createSession(onnx.bytes);
  tSession = performance.now() - t0;
}
console.log(`mobilefacenet: read ${tRead.toFixed(0)} ms, fuse PReLU ${tFuse.toFixed(0)} ms, convert to ONNX ${tConvert.toFixed(0)} ms (${(onnx.bytes.length / 1e6).toFixed(1)} MB), ORT session ${tSession.toFixed(0)} ms`);

// The converter's two ways to write PReLU, on ORT alone, alternating so that load hits both alike.
if (ortAvailable()) {
  const variants = {};
  for (const prelu of ['relu-min', 'PRelu']) {
    const c = tfliteToOnnx(fused, 'mobilefacenet', { prelu });
    variants[prelu] = { session: await createSession(c.bytes), c, times: [] };
  }
  const x = Float32Array.from({ length: 112 * 112 * 3 }, () => Math.random() * 2 - 1);
  for (let i = 0; i < runs + 3; i++) {
    for (const v of Object.values(variants)) {
      const s = performance.now();
      await v.session.run({ [v.c.inputName]: { data: x, dims: [1, 112, 112, 3] } });
      if (i >= 3) v.times.push(performance.now() - s);
    }
  }
  console.log(`ORT, batch 1, PReLU written as: ${Object.entries(variants).map(([k, v]) => `${k} ${median(v.times).toFixed(1)} ms`).join(', ')}`);
}

const face = () => Float32Array.from({ length: 112 * 112 * 3 }, () => Math.random() * 2 - 1);
const engines = ortAvailable() ? ['ort', 'tfjs'] : ['tfjs'];
if (engines.includes('tfjs')) console.log(`tfjs backend: ${await initBackend('wasm')}`);
for (const engine of engines) {
  const rec = await loadTfliteRecognizer(info, engine);
  for (const n of [1, 2]) {
    const batch = Array.from({ length: n }, face);
    for (let i = 0; i < 3; i++) await rec.embed(batch); // warm-up
    const times = [];
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      await rec.embed(batch);
      times.push(performance.now() - s);
    }
    console.log(`${engine.padEnd(4)} batch ${n}: median ${median(times).toFixed(1)} ms per call, ${(median(times) / n).toFixed(1)} ms per face (${runs} runs)`);
  }
}
