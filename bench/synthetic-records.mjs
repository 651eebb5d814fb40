#!/usr/bin/env node
// Synthetic labelled represent records (NDJSON on stdout) for load tests of build-db and verify:
// N faces of P identities, 128-d, each identity a random unit centre and each face that centre plus
// noise, scaled so that same-person euclidean_l2 distances sit around 0.3 and different people
// around 1.1-1.4 as dlib's embeddings do on LFW.
//   node bench/synthetic-records.mjs 1000000 --people 100000 > records.ndjson
const args = process.argv.slice(2);
const n = Number(args[0] ?? 100000);
const people = Number(args.includes('--people') ? args[args.indexOf('--people') + 1] : Math.max(1, Math.round(n / 10)));
const dim = 128;
const noise = Number(args.includes('--noise') ? args[args.indexOf('--noise') + 1] : 0.022);
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
function centre(p) {
  // recomputed from the identity's own seed, so that no table of centres is kept
  const save = seed;
  seed = (p * 2654435761) % 2147483648;
  const v = Array.from({ length: dim }, gauss);
  seed = save;
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}
let out = '';
for (let i = 0; i < n; i++) {
  const p = i % people;
  const c = centre(p);
  const vector = c.map((x) => Math.round((x + noise * gauss()) * 1e5) / 1e5);
  out += JSON.stringify({ schema: 1, image: `synthetic/p${p}/${i}.jpg`, width: 112, height: 112, face: 0, label: `p${p}`, embedding: { model: 'resnet34', dim, vector } }) + '\n';
  if (out.length > 1 << 20) {
    if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
    out = '';
  }
}
process.stdout.write(out);
