#!/usr/bin/env node
// Any-image mode and training (issue 24), measured on sets made here (scripts/synthetic-sets.mjs;
// synthetic, said so in every line that uses them):
//  1. near-duplicates: the first --limit photos of ../shared/datasets/artists, each with 7 edits
//     (JPEG q20, blur, crop, rotate, brightness, contrast, down-scaled to 64 px): each edit queried
//     against a gallery of the originals (top-1), and the pairwise ROC AUC over all pictures;
//  2. signatures: 40 synthetic signers x 8; a siamese and a projection head trained by signer
//     (28 signers to train, 12 held out), each beside the plain embedding on the held-out pairs;
//     and /compare's verdict on those pairs with the plain model at its calibrated threshold;
//  3. one training run of 1 000 pairs x 10 epochs (siamese, 1 280-d): wall time.
//   node bench/any-image.mjs [--limit 40]       (npm run bench:any-image)
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const facekit = await import(join(root, 'dist', 'index.js'));
const { makeNearDuplicates, makeSignatures, EDITS } = await import(join(root, 'scripts', 'synthetic-sets.mjs'));
const args = process.argv.slice(2);
const limit = Number(args[args.indexOf('--limit') + 1]) || 40;
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : 'near,signatures';
const artists = resolve(root, '..', 'shared', 'datasets', 'artists');
const work = mkdtempSync(join(tmpdir(), 'facekit-bench-any-'));
const engine = new facekit.Facekit({ workers: 2 });
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const f4 = (x) => Number(x).toFixed(4);

try {
  if (!only.includes('near')) {
    // skipped (--only)
  } else if (existsSync(artists)) {
    const nd = join(work, 'near-duplicates');
    await makeNearDuplicates(nd, artists, { limit });
    const db = join(work, 'originals.json');
    const people = readdirSync(nd).sort();
    const originals = people.map((p) => ({ image: join(nd, p, 'original.jpg'), label: p }));
    let t0 = Date.now();
    await facekit.buildGallery(originals, { db, subject: 'image', engine });
    const buildS = (Date.now() - t0) / 1000;
    const g = await facekit.Gallery.open(db, { engine });
    const perEdit = Object.fromEntries(EDITS.map((e) => [e, [0, 0]]));
    t0 = Date.now();
    const queries = people.flatMap((p) => EDITS.map((e) => ({ image: join(nd, p, `${e}.jpg`), label: p, edit: e })));
    for (const q of queries) {
      const a = await g.similar(q.image, { top: 1 });
      perEdit[q.edit][1]++;
      if (a.matches[0]?.label === q.label) perEdit[q.edit][0]++;
    }
    const queryS = (Date.now() - t0) / 1000;
    await g.close();
    const ok = Object.values(perEdit).reduce((s, [k]) => s + k, 0);
    const five = ['jpeg-q20', 'blur', 'crop', 'rotate', 'brightness'];
    const okFive = five.reduce((s, e) => s + perEdit[e][0], 0);
    const ev = (await facekit.evaluate(nd, { subject: 'image', engine, cache: null })).report;
    console.log(`near-duplicates (${people.length} artists photos x ${EDITS.length} edits, synthetic edits): top-1 edit -> original ${ok}/${queries.length} = ${pct(ok / queries.length)}; `
      + `the issue's five edits (JPEG, blur, crop, rotate, brightness) ${okFive}/${five.length * people.length} = ${pct(okFive / (five.length * people.length))}`);
    console.log(`  per edit: ${EDITS.map((e) => `${e} ${perEdit[e][0]}/${perEdit[e][1]}`).join(', ')}`);
    console.log(`  all pairs (${ev.pairs.same} same, ${ev.pairs.different} different): ROC AUC ${f4(ev.auc)}, EER ${pct(ev.eer.rate)}; `
      + `TAR at FAR 1% ${pct(ev.tarAtFar[0].tar)} (distance ${ev.tarAtFar[0].threshold}), at FAR 0.1% ${pct(ev.tarAtFar[1].tar)} (distance ${ev.tarAtFar[1].threshold}); gallery of ${people.length} built in ${buildS.toFixed(1)} s, ${queries.length} similar() queries in ${queryS.toFixed(1)} s`);
  } else {
    console.log(`near-duplicates: skipped (${artists} is not here)`);
  }

  const sig = join(work, 'signatures');
  if (only.includes('signatures')) {
  await makeSignatures(sig, { signers: 40, samples: 8, seed: 2 });
  for (const head of ['siamese', 'projection']) {
    const t0 = Date.now();
    const r = await facekit.train(sig, { subject: 'image', head, out: join(work, `head-${head}`), engine });
    const s = (Date.now() - t0) / 1000;
    console.log(`synthetic signatures, ${head} head on mobilenetv2 (${r.classes.train.length} signers to train, ${r.classes.test.length} held out, ${r.pairs.test} held-out pairs): `
      + `head AUC ${f4(r.head.auc)}, accuracy ${pct(r.head.accuracy)} at its trained threshold (best ${pct(r.head.bestAccuracy)}), F1 ${f4(r.head.f1)}; `
      + `plain embedding AUC ${f4(r.baseline.auc)}, accuracy ${pct(r.baseline.accuracy)} at its best threshold on these pairs, F1 ${f4(r.baseline.f1)}; ${s.toFixed(1)} s in all`);
    if (head === 'siamese') {
      // /compare's verdicts on the held-out pairs: the plain model at its calibrated threshold, and the head
      const loaded = await facekit.loadHead(join(work, `head-${head}`));
      const held = new Set(r.classes.test);
      const files = readdirSync(sig).filter((d) => held.has(d)).flatMap((d) => readdirSync(join(sig, d)).sort().map((f) => ({ label: d, image: join(sig, d, f) })));
      const vectors = new Map();
      for await (const rec of engine.representEach(files.map((x) => ({ image: x.image, label: x.label })), { subject: 'image' })) vectors.set(rec.image, rec.embedding.vector);
      const threshold = facekit.RECOGNIZERS.mobilenetv2.thresholds.euclidean_l2;
      const headT = facekit.pairDistanceThreshold(loaded);
      let plain = 0, trained = 0, n = 0, same = 0;
      for (let i = 0; i < files.length; i++) {
        for (let j = i + 1; j < files.length; j++) {
          const a = vectors.get(files[i].image), b = vectors.get(files[j].image);
          const truth = files[i].label === files[j].label;
          let d = 0;
          for (let k = 0; k < a.length; k++) d += (a[k] - b[k]) ** 2;
          if ((Math.sqrt(d) <= threshold) === truth) plain++;
          if ((facekit.pairDistance(loaded, a, b) <= headT) === truth) trained++;
          n++;
          if (truth) same++;
        }
      }
      console.log(`  /compare on all ${n} pairs of the ${held.size} held-out signers (${same} same): plain mobilenetv2 at its calibrated ${threshold} ${pct(plain / n)}; with serve --head (siamese) ${pct(trained / n)}`);
    }
  }

  // 1 000 pairs x 10 epochs, 1 280-d (the synthetic signatures' embeddings, pairs capped at 1 000 per split)
  const t0 = Date.now();
  const r = await facekit.train(sig, { subject: 'image', head: 'siamese', out: join(work, 'timing'), epochs: 10, maxPairs: 1000, engine });
  console.log(`training: siamese, ${r.pairs.train} pairs x 10 epochs of 1280-d embeddings in ${r.seconds} s on ${r.backend} (one thread: tfjs's WASM backend in Node); embedding the 320 pictures first on 2 workers, ${((Date.now() - t0) / 1000 - r.seconds).toFixed(1)} s`);
  }
} finally {
  await engine.close();
  await facekit.close();
  rmSync(work, { recursive: true, force: true });
}
