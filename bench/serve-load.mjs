#!/usr/bin/env node
// Load test of `facekit serve`: POST /verify under a bounded concurrent load (autocannon, from this
// process; the server is a child process on loopback), next to the CLI's own rate on both cores
// (`facekit represent DIR --workers 2`). Medians of several runs. Needs ../shared/datasets/artists.
//   node bench/serve-load.mjs [--runs 3] [--duration 20] [--connections 4] [--workers 2] [--json]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'facekit.js');
const artists = resolve(root, '..', 'shared', 'datasets', 'artists');
const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : def);
const runs = opt('--runs', 3);
const duration = opt('--duration', 20);
const connections = opt('--connections', 4);
const workers = opt('--workers', 2);
const asJson = args.includes('--json');
const say = (line) => process.stderr.write(`serve-load: ${line}\n`);

if (!existsSync(artists)) {
  console.log(`serve-load: ${artists} is not here; the load test needs the artists gallery.`);
  process.exit(0);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MIME = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp' };

/** Start `facekit serve` as a child process; resolves with its URL once it listens. */
function startServer(db) {
  return new Promise((res, rej) => {
    const proc = spawn(process.execPath, [bin, 'serve', '--db', db, '--port', '0', '--workers', String(workers)], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (c) => {
      err += c;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) res({ url: m[1], proc, stderr: () => err });
    });
    proc.on('exit', (code) => rej(new Error(`serve exited (${code}) before listening:\n${err}`)));
  });
}

// Each person: every photo but the last goes in the gallery; the last one is a query.
const people = readdirSync(artists).sort().map((label) => {
  const photos = readdirSync(join(artists, label)).sort().map((f) => join(artists, label, f));
  return { label, gallery: photos.slice(0, -1), query: photos[photos.length - 1] };
});
const totalImages = people.reduce((n, p) => n + p.gallery.length + 1, 0);

const dir = mkdtempSync(join(tmpdir(), 'facekit-serve-load-'));
const server = await startServer(join(dir, 'gallery.json'));
say(`server at ${server.url} (${workers} workers); adding ${people.length} people`);
try {
  for (const p of people) {
    const fd = new FormData();
    fd.append('label', p.label);
    for (const f of p.gallery) fd.append('images', new Blob([readFileSync(f)]), basename(f));
    const r = await fetch(`${server.url}/gallery`, { method: 'POST', body: fd });
    if (r.status >= 300) throw new Error(`POST /gallery ${p.label}: ${r.status} ${await r.text()}`);
  }
  const health = await (await fetch(`${server.url}/health`)).json();
  say(`gallery: ${health.gallery.people} people, ${health.gallery.faces} faces`);

  // Every artists photo in turn (the same 77 images the CLI run below embeds), as raw bodies
  // (Content-Type image/...), one per request, round-robin over all connections.
  const asRequest = (f) => ({
    method: 'POST', path: '/verify', headers: { 'content-type': MIME[extname(f).toLowerCase()] ?? 'application/octet-stream' }, body: readFileSync(f),
  });
  const all = people.flatMap((p) => [...p.gallery, p.query]).map(asRequest);
  let next = 0;
  const requests = [{ method: 'POST', path: '/verify', setupRequest: (req) => ({ ...req, ...all[next++ % all.length] }) }];
  const heldOut = people.map((p) => asRequest(p.query));
  let correct = 0;
  for (const [i, rq] of heldOut.entries()) {
    const r = await (await fetch(server.url + rq.path, { method: 'POST', headers: rq.headers, body: rq.body })).json();
    if (r.faces?.[0]?.identity === people[i].label) correct++;
  }
  say(`check: ${correct}/${people.length} held-out photos (not in the gallery) identified correctly`);

  const rows = [];
  for (let run = 1; run <= runs; run++) {
    const load = loadavg()[0];
    const res = await autocannon({ url: server.url, connections, duration, requests, timeout: 60 });
    // The CLI over the whole gallery folder, on the same cores (the server is idle meanwhile).
    const t0 = process.hrtime.bigint();
    const cli = spawnSync(process.execPath, [bin, 'represent', artists, '--workers', String(workers)], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
    const cliSecs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (cli.status !== 0 && cli.status !== 2) throw new Error(`facekit represent failed (${cli.status}): ${cli.stderr}`);
    // ... and on one photo: its start-up cost, to estimate the CLI's rate once running
    const t1 = process.hrtime.bigint();
    spawnSync(process.execPath, [bin, 'represent', people[0].query], { cwd: root, encoding: 'utf8' });
    const oneSecs = Number(process.hrtime.bigint() - t1) / 1e9;
    const row = {
      run,
      reqPerSec: res.requests.average,
      p50ms: res.latency.p50,
      p99ms: res.latency.p99,
      requests: res.requests.total,
      errors: res.errors,
      timeouts: res.timeouts,
      non2xx: res.non2xx,
      cliImagesPerSec: totalImages / cliSecs,
      cliSteadyImagesPerSec: (totalImages - 1) / Math.max(0.001, cliSecs - oneSecs),
      loadBefore: load,
    };
    rows.push(row);
    say(`run ${run}: ${row.reqPerSec.toFixed(2)} req/s, p50 ${row.p50ms} ms, p99 ${row.p99ms} ms, ${row.errors} errors, ${row.non2xx} non-2xx; CLI ${row.cliImagesPerSec.toFixed(2)} images/s, ~${row.cliSteadyImagesPerSec.toFixed(2)} without start-up (load avg before ${load.toFixed(2)})`);
  }

  const summary = {
    machine: `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`,
    load: `autocannon, ${connections} connections, ${duration} s, POST /verify of the ${all.length} artists photos in turn (raw image bodies)`,
    gallery: `${health.gallery.people} people, ${health.gallery.faces} faces (${health.gallery.model}), server with ${workers} workers (${health.backend})`,
    runs: rows,
    median: {
      reqPerSec: median(rows.map((r) => r.reqPerSec)),
      p50ms: median(rows.map((r) => r.p50ms)),
      p99ms: median(rows.map((r) => r.p99ms)),
      errors: median(rows.map((r) => r.errors + r.timeouts + r.non2xx)),
      cliImagesPerSec: median(rows.map((r) => r.cliImagesPerSec)),
      cliSteadyImagesPerSec: median(rows.map((r) => r.cliSteadyImagesPerSec)),
    },
  };
  if (asJson) console.log(JSON.stringify(summary, null, 2));
  else {
    const m = summary.median;
    console.log(`# facekit serve load test (${new Date().toISOString()})`);
    console.log(`# ${summary.machine}; ${summary.load}; ${summary.gallery}; ${runs} runs, medians`);
    console.log(`| run | POST /verify req/s | p50 ms | p99 ms | errors | non-2xx | CLI represent --workers ${workers} images/s | CLI without start-up (est.) | load avg before |`);
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      console.log(`| ${r.run} | ${r.reqPerSec.toFixed(2)} | ${r.p50ms} | ${r.p99ms} | ${r.errors + r.timeouts} | ${r.non2xx} | ${r.cliImagesPerSec.toFixed(2)} | ${r.cliSteadyImagesPerSec.toFixed(2)} | ${r.loadBefore.toFixed(2)} |`);
    }
    console.log(`| median | ${m.reqPerSec.toFixed(2)} | ${m.p50ms} | ${m.p99ms} | ${m.errors} | | ${m.cliImagesPerSec.toFixed(2)} | ${m.cliSteadyImagesPerSec.toFixed(2)} | |`);
    console.log(`# server/CLI rate: ${(m.reqPerSec / m.cliImagesPerSec).toFixed(2)} against the CLI's whole run over ${totalImages} images (start-up and model loading included), ` +
      `${(m.reqPerSec / m.cliSteadyImagesPerSec).toFixed(2)} against its estimated rate once running (whole run minus a one-photo run)`);
  }
} finally {
  server.proc.kill('SIGTERM');
  await new Promise((r) => server.proc.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
