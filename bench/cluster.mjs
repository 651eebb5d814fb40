#!/usr/bin/env node
// Many machines, one gallery (issue 25): two `facekit serve` processes over one PostgreSQL gallery
// of N synthetic faces (bench/synthetic-records.mjs: resnet34-like 128-d), sharing one --photos
// store, as two machines would. Measures: the build of the gallery; /verify latency (p50/p99,
// the model included) on each instance; a person added through A and identified through B (the
// time from A's answer to B's first match); each instance's RSS; and an instance killed (SIGKILL)
// in the middle of a stream of adds: every add it had acknowledged is in the gallery.
//   scripts/postgres.sh start   (prints the URL)
//   node bench/cluster.mjs --pg postgres://postgres@127.0.0.1:55432/facekit [--faces 100000] [--requests 60]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { PgGallery } from '../dist/recognition/store/pg.js';
import { openDb, parseDbUrl } from '../dist/recognition/store/sql-client.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const pg = opt('--pg', process.env.FACEKIT_TEST_PG);
const faces = Number(opt('--faces', 100000));
const requests = Number(opt('--requests', 60));
if (!pg) {
  console.log('bench/cluster: give --pg postgres://… (scripts/postgres.sh start prints one)');
  process.exit(0);
}
// one face a photo (the artists' photos when ../shared is here; else face-api's demo photos, 3 to 5 faces each)
const artists = resolve(root, '..', 'shared', 'datasets', 'artists');
const demo = join(root, 'node_modules', '@vladmandic', 'face-api', 'demo');
const photos = existsSync(artists)
  ? readdirSync(artists).sort().map((p) => join(artists, p, readdirSync(join(artists, p)).sort()[0]))
  : readdirSync(demo).filter((f) => /^sample\d\.jpg$/.test(f)).map((f) => join(demo, f));
const name = `cluster_${faces}`;
const url = `${pg.replace(/\/?$/, '')}?gallery=${name}`;
const work = mkdtempSync(join(tmpdir(), 'facekit-cluster-'));
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const ms = (x) => `${x.toFixed(1)} ms`;

function run(cmd) {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn('bash', ['-o', 'pipefail', '-c', cmd], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? done((performance.now() - t0) / 1000) : fail(new Error(`${cmd}: exit ${code}\n${err}`))));
  });
}

/** `facekit serve` in a process of its own; resolves with its URL once it listens. */
function serve(store) {
  return new Promise((done, fail) => {
    const proc = spawn(process.execPath, ['bin/facekit.js', 'serve', '--port', '0', '--db', url, '--photos', store, '--workers', '1'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(err);
      if (m) done({ url: m[1], proc, rssMiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024 });
    });
    proc.on('exit', (code) => fail(new Error(`serve exited ${code}: ${err}`)));
  });
}

async function post(base, path, fields) {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (v.startsWith('@')) f.append(k, new Blob([readFileSync(v.slice(1))]), 'photo.jpg');
    else f.append(k, v);
  }
  const res = await fetch(base + path, { method: 'POST', body: f });
  return { status: res.status, body: await res.json().catch(() => null) };
}

const target = parseDbUrl(url);
const client = await openDb(target, { create: true });
try {
  const existing = await PgGallery.open(client, name);
  if (existing && (await existing.count()) >= faces) {
    console.log(`gallery ${name}: ${await existing.count()} faces already there (reused)`);
  } else {
    await existing?.drop();
    // resnet34's embeddings (128-d), as the synthetic faces are; the servers then embed with resnet34
    const secs = await run(`node bench/synthetic-records.mjs ${faces} --people ${faces / 10} | node bin/facekit.js build-db - --db '${url}' --model resnet34`);
    console.log(`build: ${faces} synthetic faces into PostgreSQL through build-db - in ${secs.toFixed(1)} s`);
  }
  // the search alone, in this process, as each instance runs it: fresh faces of known people,
  // pgvector's HNSW (default ef_search) against an exact scan in the database
  const g = await PgGallery.open(client, name);
  const queries = execFileSync(process.execPath, ['bench/synthetic-records.mjs', '200', '--people', String(faces / 10), '--queries'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 })
    .trim().split('\n').map((l) => JSON.parse(l));
  const times = [];
  let same = 0;
  for (const q of queries) {
    const t0 = performance.now();
    const [hit] = await g.search(q.embedding.vector, 'euclidean_l2', 1);
    times.push(performance.now() - t0);
    const [exact] = await g.search(q.embedding.vector, 'euclidean_l2', 1, { exact: true });
    if (hit?.label === exact?.label) same++;
  }
  console.log(`search in PostgreSQL (HNSW, default ef_search), ${queries.length} fresh faces of known people: p50 ${ms(pct(times, 0.5))}, p99 ${ms(pct(times, 0.99))}; same person as exact search ${same}/${queries.length}`);
  const store = join(work, 'photos');
  const [a, b] = [await serve(store), await serve(store)];
  try {
    // warm both, then /verify latency on each (a real photo: detection and embedding included)
    for (const s of [a, b]) await post(s.url, '/verify', { image: `@${photos[0]}` });
    for (const [label, s] of [['A', a], ['B', b]]) {
      const times = [];
      for (let i = 0; i < requests; i++) {
        const t0 = performance.now();
        const r = await post(s.url, '/verify', { image: `@${photos[i % photos.length]}` });
        if (r.status !== 200) throw new Error(`/verify ${r.status}: ${JSON.stringify(r.body)}`);
        times.push(performance.now() - t0);
      }
      console.log(`instance ${label}: /verify over ${faces} faces, ${requests} requests one at a time: p50 ${ms(pct(times, 0.5))}, p99 ${ms(pct(times, 0.99))}; RSS ${s.rssMiB().toFixed(0)} MiB`);
    }
    // added through A, identified through B
    // a photo of its own each run (a kept gallery already holds the last run's): a new add, a 201
    const probe = join(work, 'probe.jpg');
    await sharp(photos[1]).modulate({ brightness: 0.9 + Math.random() / 5 }).jpeg({ quality: 92 }).toFile(probe);
    const label = `cluster-probe-${Date.now()}`;
    const added = await post(a.url, '/gallery', { label, image: `@${probe}` });
    const t0 = performance.now();
    let seen = -1;
    while (performance.now() - t0 < 5000) {
      const r = await post(b.url, '/verify', { image: `@${probe}` });
      if (r.body?.faces?.[0]?.identity === label) { seen = performance.now() - t0; break; }
    }
    console.log(`added through A (${added.status}), identified through B after ${seen < 0 ? 'more than 5 s' : ms(seen)} (the first /verify after A's answer)`);
    // A killed in the middle of a stream of adds: every add it acknowledged is there (each add a
    // photo of its own: a photo already in is skipped, not added)
    const variants = [];
    for (let i = 0; i < 120; i++) {
      const path = join(work, `variant-${i}.jpg`);
      await sharp(photos[i % photos.length]).modulate({ brightness: 0.8 + (i % 40) / 100 }).jpeg({ quality: 90 - Math.floor(i / 40) }).toFile(path);
      variants.push(path);
    }
    const acknowledged = [];
    let stop = false;
    const adds = (async () => {
      for (let i = 0; !stop && i < variants.length; i++) {
        const r = await post(a.url, '/gallery', { label: `kill-${i}`, image: `@${variants[i]}` }).catch(() => ({ status: 0 }));
        if (r.status === 201) acknowledged.push(`kill-${i}`);
        if (r.status === 0) break;
      }
    })();
    await new Promise((r) => setTimeout(r, 1500));
    a.proc.kill('SIGKILL');
    stop = true;
    await adds;
    const labels = await (await PgGallery.open(client, name)).labels();
    const lost = acknowledged.filter((l) => !labels.has(l));
    console.log(`A killed (SIGKILL) during a stream of adds: ${acknowledged.length} acknowledged, ${lost.length} of them lost`);
  } finally {
    for (const s of [a, b]) s.proc.kill('SIGTERM');
  }
} finally {
  if (!args.includes('--keep')) await (await PgGallery.open(client, name))?.drop();
  await client.close();
  rmSync(work, { recursive: true, force: true });
}
