#!/usr/bin/env node
// Large galleries (`npm run bench:gallery`, or `npm run bench -- --only gallery`): synthetic faces
// spread like resnet34's on LFW (bench/synthetic-records.mjs), ten per identity, built through
// `facekit build-db -` from records; then load time, search time per query (p50/p99) and how often
// the indexed search names the same identity as the exact search, over fresh faces of known people.
// With --pg URL, the same faces also go into PostgreSQL + pgvector (a gallery scale_<N> there,
// dropped afterwards) and are searched there.
// --keep DIR keeps the galleries, and reuses one that is there.
//   node bench/gallery-scale.mjs [--sizes 100000,1000000] [--queries 500] [--keep DIR] [--pg postgres://…]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadGallery } from '../dist/recognition/gallery-file.js';
import { InMemoryGallery } from '../dist/recognition/gallery.js';
import { PgGallery } from '../dist/recognition/store/pg.js';
import { openDb, parseDbUrl } from '../dist/recognition/store/sql-client.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const sizes = opt('--sizes', '100000').split(',').map(Number);
const nQueries = Number(opt('--queries', 500));
const pg = opt('--pg', undefined);
const fmt = (x, d = 1) => Number(x).toFixed(d);
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

/** `synthetic | facekit build-db -`, timed, with the builder's peak memory. */
function build(n, db) {
  return new Promise((done, fail) => {
    const cmd = `node bench/synthetic-records.mjs ${n} --people ${n / 10} | /usr/bin/time -f FACEKIT_MAXRSS_KB=%M node bin/facekit.js build-db - --db ${db}`;
    const t0 = performance.now();
    const child = spawn('bash', ['-o', 'pipefail', '-c', cmd], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) return fail(new Error(`build-db failed (${code}): ${err}`));
      done({ secs: (performance.now() - t0) / 1000, rssMiB: Number(/FACEKIT_MAXRSS_KB=(\d+)/.exec(err)?.[1] ?? NaN) / 1024 });
    });
  });
}

/** `facekit verify - --db` of one query record, cold, three times: median wall time and peak memory, beside `node -e 0`. */
function coldVerify(db, vector) {
  const record = JSON.stringify({ schema: 1, image: 'query.jpg', face: 0, embedding: { model: 'resnet34', dim: vector.length, vector } });
  const run = (cmd, input) => {
    const t = performance.now();
    const r = spawnSync('bash', ['-c', `/usr/bin/time -f FACEKIT_MAXRSS_KB=%M ${cmd}`], { cwd: root, input, encoding: 'utf8' });
    if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} failed (${r.status}): ${r.stderr}`);
    return { secs: (performance.now() - t) / 1000, rssMiB: Number(/FACEKIT_MAXRSS_KB=(\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024 };
  };
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const runs = [0, 1, 2].map(() => run(`node bin/facekit.js verify - --db ${db} --json`, record));
  const node = median([0, 1, 2].map(() => run('node -e 0', '').secs));
  return { secs: median(runs.map((r) => r.secs)), rssMiB: median(runs.map((r) => r.rssMiB)), node };
}

/** Fresh faces of people in the gallery (another noise seed), as vectors. */
function queries(n, people) {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['bench/synthetic-records.mjs', String(n), '--people', String(people), '--queries'], { cwd: root });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', () => done(out.trim().split('\n').map((l) => JSON.parse(l).embedding.vector)));
  });
}

console.log(`# large galleries (${new Date().toISOString()}, node ${process.version}), ${nQueries} queries each, one thread per query`);
for (const n of sizes) {
  const dir = opt('--keep', undefined) ?? mkdtempSync(join(tmpdir(), 'facekit-scale-'));
  const db = join(dir, `g${n}.json`);
  // --keep DIR with a gallery of this size already in it: measured again without building it anew
  const b = args.includes('--keep') && existsSync(db) ? { secs: NaN, rssMiB: NaN } : await build(n, db);
  const bytes = readdirSync(dir).filter((f) => f.startsWith(`g${n}.`)).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  const t0 = performance.now();
  const g = await loadGallery(db, { readOnly: true }); // as verify and serve read it: the graph memory-mapped
  const load = performance.now() - t0;
  const qs = await queries(nQueries, n / 10);
  const cold = coldVerify(db, qs[0]);
  const times = [];
  const answers = qs.map((q) => {
    const t = performance.now();
    const a = g.search(q, g.meta.metric, 5);
    times.push(performance.now() - t);
    return a[0].label;
  });
  // The same gallery searched exactly (native SIMD scan, no graph) for the reference answers.
  const exact = new InMemoryGallery(g.meta, g.entries, g.vectors);
  exact.indexPolicy = 'exact';
  const exactTimes = [];
  let same = 0;
  qs.forEach((q, i) => {
    const t = performance.now();
    if (exact.search(q, g.meta.metric, 5)[0].label === answers[i]) same++;
    exactTimes.push(performance.now() - t);
  });
  console.log(`${n.toLocaleString('en')} faces (${(n / 10).toLocaleString('en')} people): build-db - ${fmt(b.secs)} s, peak ${fmt(b.rssMiB, 0)} MiB; ` +
    `files ${fmt(bytes / 2 ** 20)} MiB; load ${fmt(load, 0)} ms (${g.ann ? 'with its HNSW graph' : 'exact search, no graph'})`);
  console.log(`  search: p50 ${fmt(pct(times, 0.5), 2)} ms, p99 ${fmt(pct(times, 0.99), 2)} ms per query; ` +
    `exact scan: p50 ${fmt(pct(exactTimes, 0.5), 2)} ms, p99 ${fmt(pct(exactTimes, 0.99), 2)} ms; same top-1 identity as exact: ${same}/${qs.length} (${fmt((100 * same) / qs.length, 1)}%)`);
  console.log(`  cold \`facekit verify - --db\` of one query record (a process: start-up, load, search): median ${fmt(cold.secs, 2)} s of 3, peak ${fmt(cold.rssMiB, 0)} MiB; bare \`node -e 0\` ${fmt(cold.node, 2)} s`);
  if (pg) await inPostgres(n, qs, exact);
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}

/** The same faces in PostgreSQL: build-db's time (load, then the HNSW index), search p50/p99, agreement. */
async function inPostgres(n, qs, exact) {
  const url = `${pg}${pg.includes('?') ? '&' : '?'}gallery=scale_${n}`;
  const b = await build(n, `'${url}'`);
  const target = parseDbUrl(url);
  const g = await PgGallery.open(await openDb(target), target.gallery);
  try {
    const times = [];
    let same = 0;
    for (const q of qs) {
      const t = performance.now();
      const a = await g.search(q, g.meta.metric, 5);
      times.push(performance.now() - t);
      if (a[0].label === exact.search(q, g.meta.metric, 5)[0].label) same++;
    }
    console.log(`  PostgreSQL + pgvector: build-db - ${fmt(b.secs)} s (rows, then the HNSW index); search: p50 ${fmt(pct(times, 0.5), 2)} ms, ` +
      `p99 ${fmt(pct(times, 0.99), 2)} ms; same top-1 identity as exact: ${same}/${qs.length} (${fmt((100 * same) / qs.length, 1)}%)`);
    await g.drop();
  } finally {
    await g.client.close();
  }
}
