// FaceMesh on every LFW crop, the input of scripts/fit-mesh-five.mjs: {"Name/Name_0001.jpg":
// {"lm", "box", "mesh": [[x, y] x468]} | null} for the largest face. Run once per CPU core:
//   npm run build; node scripts/lfw-meshes.mjs SHARD NSHARDS OUT.json   (SHARD = 0..NSHARDS-1)
// The mesh depends on how blazeface finds the face, not on the five points: this script's output
// does not change when mesh-five.ts does.
import { readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../dist/models/runtime.js';
import { decodeImage } from '../dist/core/image.js';
import { detectFaces } from '../dist/stages/detection.js';
const root = process.env.LFW_IMAGES ?? '/work/shared/datasets/lfw-aligned/images';
const [shard, nsh, out, limit] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4], Number(process.argv[5] ?? 1e9)];
const detector = process.env.DET ?? 'blazeface';
await initBackend('auto');
const files = [];
for (const p of readdirSync(root).sort()) for (const f of readdirSync(join(root, p)).sort()) files.push(`${p}/${f}`);
const mine = files.filter((_, i) => i % nsh === shard).slice(0, limit);
const res = {};
const t0 = Date.now();
for (const f of mine) {
  const img = await decodeImage(readFileSync(join(root, f)), f);
  const faces = await detectFaces(img, { detector, minScore: 0.5, maxFaces: 10, maxSide: 1280 });
  if (!faces.length) { res[f] = null; continue; }
  const face = faces[0];
  res[f] = { lm: face.landmarks, box: face.box, mesh: face.mesh.map((q) => [Math.round(q[0] * 1000) / 1000, Math.round(q[1] * 1000) / 1000]) };
}
writeFileSync(out, JSON.stringify(res));
console.error(`${mine.length} images in ${(Date.now() - t0) / 1000}s`);
