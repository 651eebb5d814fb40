#!/usr/bin/env node
// Synthetic labelled represent records (NDJSON on stdout) for load tests of build-db and verify:
// N faces of P identities, 128-d, spread as facekit's resnet34 embeddings are on LFW. Measured on
// 1505 faces of 267 LFW people (those with 4+ photos): unit embeddings share a common direction
// (the mean unit embedding has norm 0.918), each person's centre lies 0.347 from that mean, and
// each face 0.209 from its person's centre; so same-person euclidean_l2 distances are about 0.30
// (p99 0.45) and different people's about 0.56 (p1 0.42). Here: u = normalise(M + c_p + e), with
// M of norm 0.918 and c_p, e isotropic Gaussians of per-dimension sd 0.347/sqrt(128) and
// 0.209/sqrt(128).
//   node bench/synthetic-records.mjs 1000000 --people 100000 > records.ndjson
//   node bench/synthetic-records.mjs 200 --people 20 --queries   (fresh faces of the same people)
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const n = Number(args[0] ?? 100000);
const people = Number(opt('--people', Math.max(1, Math.round(n / 10))));
const queries = args.includes('--queries');
const dim = 128;
const centreSd = 0.347 / Math.sqrt(dim);
const faceSd = Number(opt('--face-sd', 0.209)) / Math.sqrt(dim);

// mulberry32: integer arithmetic only (an LCG in floating point loses its low bits and cycles)
function prng(seed) {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const gaussian = (rnd) => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());

const mean = (() => {
  const r = prng(7);
  const v = Array.from({ length: dim }, () => gaussian(r));
  const norm = Math.hypot(...v);
  return v.map((x) => (0.918 * x) / norm);
})();
// each identity's centre comes from its own seed, so that no table of centres is kept
const centre = (p) => {
  const r = prng(1_000_003 + p);
  return mean.map((m) => m + centreSd * gaussian(r));
};
const faces = prng(queries ? 99 : 42);

let out = '';
for (let i = 0; i < n; i++) {
  const p = i % people;
  const v = centre(p).map((x) => x + faceSd * gaussian(faces));
  const norm = Math.hypot(...v);
  const vector = v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
  const image = queries ? `synthetic-queries/p${p}/${i}.jpg` : `synthetic/p${p}/${i}.jpg`;
  out += JSON.stringify({ schema: 1, image, width: 112, height: 112, face: 0, label: `p${p}`, embedding: { model: 'resnet34', dim, vector } }) + '\n';
  if (out.length > 1 << 20) {
    if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
    out = '';
  }
}
process.stdout.write(out);
