#!/usr/bin/env node
// facekit's benchmarks (`npm run bench`): speed and memory, side by side with the face-api
// baseline in the same run, medians of several runs. Needs ../shared/datasets/artists.
//   node bench/run.mjs [--runs N] [--only build,cold,search,stages,analyze,gallery]
// (gallery: bench/gallery-scale.mjs at 100 000 faces; `npm run bench:gallery -- --sizes 1000000` for a million)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'facekit.js');
const artists = resolve(root, '..', 'shared', 'datasets', 'artists');
const baseline = resolve(root, '..', 'shared', 'bench', 'baseline-faceapi.mjs');
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 3;
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : ['build', 'cold', 'search', 'stages', 'analyze', 'gallery'];

if (!existsSync(artists)) {
  console.log(`bench: ${artists} is not here; the benchmarks need the artists gallery.`);
  process.exit(0);
}
const images = readdirSync(artists).reduce((n, p) => n + readdirSync(join(artists, p)).length, 0);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 2) => Number(x).toFixed(d);
const hasTime = existsSync('/usr/bin/time');

/** Run a command; returns wall seconds, peak resident memory (MiB, with /usr/bin/time) and output. */
function timed(cmd, cmdArgs, opts = {}) {
  const full = hasTime ? ['/usr/bin/time', ['-f', 'FACEKIT_MAXRSS_KB=%M', cmd, ...cmdArgs]] : [cmd, cmdArgs];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0], full[1], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} ${cmdArgs.join(' ')} failed (${r.status}): ${r.stderr}`);
  const kb = /FACEKIT_MAXRSS_KB=(\d+)/.exec(r.stderr ?? '')?.[1];
  return { secs, rssMiB: kb ? Number(kb) / 1024 : NaN, stdout: r.stdout, stderr: r.stderr };
}

console.log(`# facekit benchmarks (${new Date().toISOString()}, node ${process.version}, ${runs} runs each, medians)`);

if (only.includes('build')) {
  console.log(`\n## build-db vs the face-api baseline on ${images} artist photos (side by side, alternating)`);
  const ours = [], theirs = [], rss = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'facekit-bench-'));
    const b = timed(process.execPath, [baseline, artists]);
    const m = /images_per_s=([\d.]+)/.exec(b.stdout);
    theirs.push(Number(m?.[1]));
    const r = timed(process.execPath, [bin, 'build-db', artists, '--db', join(dir, 'gallery.json')]);
    ours.push(images / r.secs);
    rss.push(r.rssMiB);
    rmSync(dir, { recursive: true, force: true });
    console.log(`run ${i + 1}: baseline ${fmt(theirs.at(-1))} images/s, facekit build-db ${fmt(ours.at(-1))} images/s (wall, start-up included), peak RSS ${fmt(rss.at(-1), 0)} MiB`);
  }
  console.log(`median: baseline ${fmt(median(theirs))} images/s, facekit ${fmt(median(ours))} images/s, ratio ${fmt(median(ours) / median(theirs))}x; build-db peak RSS ${fmt(median(rss), 0)} MiB`);
  // The baseline's clock starts after its models are loaded; ours includes the process and the
  // workers starting. A two-photo build measures that fixed cost, to compare like with like.
  const tiny = mkdtempSync(join(tmpdir(), 'facekit-bench-'));
  const person = readdirSync(artists).sort()[0];
  const two = readdirSync(join(artists, person)).sort().slice(0, 2);
  const { mkdirSync, copyFileSync } = await import('node:fs');
  mkdirSync(join(tiny, 'in', person), { recursive: true });
  for (const f of two) copyFileSync(join(artists, person, f), join(tiny, 'in', person, f));
  const fixed = [];
  for (let i = 0; i < runs; i++) fixed.push(timed(process.execPath, [bin, 'build-db', join(tiny, 'in'), '--db', join(tiny, `g${i}.json`)]).secs);
  const whole = images / median(ours);
  const steady = (images - 2) / (whole - median(fixed));
  console.log(`start-up (a 2-photo build-db): ${fmt(median(fixed))} s; without it facekit does ${fmt(steady)} images/s = ${fmt(steady / median(theirs))}x the baseline`);
  rmSync(tiny, { recursive: true, force: true });
}

if (only.includes('cold')) {
  console.log('\n## cold verify: one photo against the artists gallery, a fresh process each time');
  const dir = mkdtempSync(join(tmpdir(), 'facekit-bench-'));
  const db = join(dir, 'gallery.json');
  timed(process.execPath, [bin, 'build-db', artists, '--db', db]);
  const person = readdirSync(artists).sort()[0];
  const photo = join(artists, person, readdirSync(join(artists, person)).sort()[0]);
  const times = [], mem = [];
  for (let i = 0; i < Math.max(5, runs); i++) {
    const r = timed(process.execPath, [bin, 'verify', photo, '--db', db, '--json']);
    times.push(r.secs);
    mem.push(r.rssMiB);
  }
  const help = [], bare = [];
  for (let i = 0; i < Math.max(5, runs); i++) {
    help.push(timed(process.execPath, [bin, '--version']).secs);
    bare.push(timed(process.execPath, ['-e', '0']).secs);
  }
  console.log(`verify wall times: ${times.map((t) => fmt(t)).join(' ')} s; median ${fmt(median(times))} s (peak RSS ${fmt(median(mem), 0)} MiB); node + CLI start alone (--version): ${fmt(median(help))} s`);
  console.log(`cold verify / bare \`node -e 0\` (${fmt(median(bare), 3)} s, same run): ${fmt(median(times) / median(bare), 1)}x`);
  rmSync(dir, { recursive: true, force: true });
}

if (only.includes('search') || only.includes('stages')) {
  // In-process measurements use the built modules directly.
  const r = spawnSync(process.execPath, [join(root, 'bench', 'inprocess.mjs'), artists, String(runs), only.join(',')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (only.includes('analyze')) {
  // age, gender, emotion, spoof: per face in one thread, a folder on both cores, a cold start
  const r = spawnSync(process.execPath, [join(root, 'bench', 'analyze.mjs'), artists, String(runs)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (only.includes('gallery')) {
  const r = spawnSync(process.execPath, [join(root, 'bench', 'gallery-scale.mjs'), '--sizes', '100000', '--queries', '300'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
