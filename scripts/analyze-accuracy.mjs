#!/usr/bin/env node
/**
 * Accuracy of analyze's models on labelled photos (README "analyze: accuracy"):
 *   node scripts/analyze-accuracy.mjs [ARTISTS_DIR] [--spoofs DIR] [--json OUT]
 * Each photo's largest face is detected once; every model of every task then runs on it.
 * - gender: accuracy against fixtures/analysis/artists-gender.json, per model;
 * - age: no ground truth here: the estimates per person (min / median / max), per model;
 * - emotion: against fixtures/analysis/artists-expression.json (smiling or not, labelled by eye):
 *   a confusion table (label x dominant emotion) and happy-vs-the-rest accuracy, per model;
 * - spoof: each model's realness scores on the real photos and, with --spoofs DIR (made by
 *   scripts/make-spoofs.mjs: DIR/<kind>/<person>/<photo>.jpg), on the spoofs of each kind;
 *   the true-accept rate (real judged real) and true-reject rate (spoof judged spoof) at each
 *   model's threshold, and the threshold that balances them.
 */
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { buildPlan } = await import(join(root, 'dist/pipeline/plan.js'));
const { runImage } = await import(join(root, 'dist/pipeline/run.js'));
const { analyzeRecords } = await import(join(root, 'dist/pipeline/analyze.js'));
const { AGE_GENDER_MODELS, EMOTION_MODELS, SPOOF_MODELS } = await import(join(root, 'dist/models/analyzers/index.js'));

const args = process.argv.slice(2);
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args.splice(i, 2)[1] : undefined; };
const spoofDir = opt('--spoofs');
const jsonOut = opt('--json');
const artists = args[0] ?? join(root, '../shared/datasets/artists');
if (!existsSync(artists)) { console.error(`no ${artists}: nothing to measure`); process.exit(0); }
const labels = JSON.parse(readFileSync(join(root, 'fixtures/analysis/artists-gender.json'), 'utf8')).gender;
const expressions = JSON.parse(readFileSync(join(root, 'fixtures/analysis/artists-expression.json'), 'utf8')).expression;
const EMOTIONS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
const isImage = (f) => /\.(jpe?g|png|webp)$/i.test(f);

/** The largest face of each photo of DIR/<person>/*, as a detect record. */
async function faces(dir) {
  const out = [];
  const plan = buildPlan({ upTo: 'detect' });
  for (const person of readdirSync(dir).sort()) {
    for (const f of readdirSync(join(dir, person)).filter(isImage).sort()) {
      const image = join(dir, person, f);
      const [r] = await runImage(image, plan);
      if (!r || r.error) { console.error(`${person}/${f}: ${r?.error?.message ?? 'no face'}`); out.push({ person, image, face: null }); continue; }
      out.push({ person, image, face: r });
    }
  }
  return out;
}

async function analyzeAll(list, analysis) {
  const plan = buildPlan({ upTo: 'detect', analysis });
  const res = [];
  for (const item of list) {
    if (!item.face) { res.push(null); continue; }
    const [r] = await analyzeRecords([item.face], plan);
    res.push(r.analysis ?? null);
  }
  return res;
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
const pct = (n, d) => `${(100 * n / d).toFixed(1)}% (${n}/${d})`;
const report = { gender: {}, age: {}, emotion: {}, spoof: {} };

const real = await faces(artists);
const found = real.filter((x) => x.face).length;
console.log(`artists: ${real.length} photos, a face found in ${found}`);

for (const id of Object.keys(AGE_GENDER_MODELS)) {
  const t0 = performance.now();
  const res = await analyzeAll(real, { actions: ['age', 'gender'], ageGenderModel: id });
  const ms = (performance.now() - t0) / found;
  let right = 0;
  const wrong = [];
  const ages = {};
  res.forEach((a, i) => {
    const { person, image } = real[i];
    if (a?.gender === labels[person]) right++;
    else wrong.push(`${person}/${image.split('/').pop()} (${a?.gender ?? 'no face'} ${a?.genderScore ?? ''})`);
    if (a) (ages[person] ??= []).push(a.age);
  });
  const perGender = ['woman', 'man'].map((g) => {
    const idx = real.map((x, i) => i).filter((i) => labels[real[i].person] === g);
    return `${g} ${pct(idx.filter((i) => res[i]?.gender === g).length, idx.length)}`;
  });
  console.log(`\ngender ${id}: ${pct(right, real.length)} of all photos; ${perGender.join(', ')}; ${ms.toFixed(1)} ms/face (age+gender)`);
  if (wrong.length) console.log(`  wrong: ${wrong.join('; ')}`);
  console.log(`age ${id} (years; min / median / max per person):`);
  for (const [p, a] of Object.entries(ages)) console.log(`  ${p.padEnd(16)} ${Math.min(...a).toFixed(0)} / ${median(a).toFixed(0)} / ${Math.max(...a).toFixed(0)}   [${a.map((x) => x.toFixed(0)).join(' ')}]`);
  report.gender[id] = { right, total: real.length, wrong };
  report.age[id] = ages;
}

for (const id of Object.keys(EMOTION_MODELS)) {
  const res = await analyzeAll(real, { actions: ['emotion'], emotionModel: id });
  const counts = {};
  res.forEach((a) => { if (a) counts[a.dominantEmotion] = (counts[a.dominantEmotion] ?? 0) + 1; });
  console.log(`\nemotion ${id}: dominant emotions on all 77 artist photos: ${JSON.stringify(counts)}`);
  // confusion table on the faces labelled by eye
  const table = { happy: {}, not_happy: {} };
  let right = 0, n = 0;
  res.forEach((a, i) => {
    const key = real[i].image.split('/').slice(-2).join('/');
    const label = expressions[key];
    if (!label || !a) return;
    table[label][a.dominantEmotion] = (table[label][a.dominantEmotion] ?? 0) + 1;
    n++;
    if ((a.dominantEmotion === 'happy') === (label === 'happy')) right++;
  });
  console.log(`  labelled by eye (${n} faces): happy vs the rest ${pct(right, n)}`);
  console.log(`  ${'label \\ predicted'.padEnd(18)}${EMOTIONS.map((e) => e.padStart(9)).join('')}`);
  for (const [label, row] of Object.entries(table)) console.log(`  ${label.padEnd(18)}${EMOTIONS.map((e) => String(row[e] ?? 0).padStart(9)).join('')}`);
  report.emotion[id] = { counts, perPhoto: res.map((a, i) => [real[i].image.split('/').slice(-2).join('/'), a?.dominantEmotion]) };
}

const spoofKinds = spoofDir && existsSync(spoofDir) ? readdirSync(spoofDir).filter((k) => !k.startsWith('.')).sort() : [];
const spoofSets = {};
for (const k of spoofKinds) spoofSets[k] = await faces(join(spoofDir, k));
for (const id of Object.keys(SPOOF_MODELS)) {
  const threshold = SPOOF_MODELS[id].threshold;
  const score = async (list) => (await analyzeAll(list, { actions: ['spoof'], spoofModel: id })).map((a) => a?.spoof?.score).filter((s) => s !== undefined);
  const realScores = await score(real);
  const accepted = realScores.filter((s) => s >= threshold).length;
  console.log(`\nspoof ${id} (threshold ${threshold}): real photos: median score ${median(realScores).toFixed(3)}, true-accept ${pct(accepted, realScores.length)}`);
  const all = [];
  report.spoof[id] = { threshold, real: realScores, spoofs: {} };
  for (const k of spoofKinds) {
    const s = await score(spoofSets[k]);
    all.push(...s);
    report.spoof[id].spoofs[k] = s;
    console.log(`  ${k.padEnd(10)} median score ${median(s).toFixed(3)}, true-reject ${pct(s.filter((v) => v < threshold).length, s.length)} (faces found in ${s.length} of ${spoofSets[k].length})`);
  }
  if (all.length) {
    // the threshold at which true-accept and true-reject are closest (equal error rate)
    let best = { t: 0, gap: Infinity };
    for (let t = 0; t <= 1.0001; t += 0.005) {
      const ta = realScores.filter((v) => v >= t).length / realScores.length;
      const tr = all.filter((v) => v < t).length / all.length;
      if (Math.abs(ta - tr) < best.gap) best = { t, gap: Math.abs(ta - tr), ta, tr };
    }
    console.log(`  all spoofs: true-reject ${pct(all.filter((v) => v < threshold).length, all.length)}; balanced at threshold ${best.t.toFixed(3)}: true-accept ${(100 * best.ta).toFixed(1)}%, true-reject ${(100 * best.tr).toFixed(1)}%`);
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(report, null, 1));
