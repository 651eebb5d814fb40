#!/usr/bin/env node
// Overload test of `facekit serve`: what happens at about 10x its capacity, and when a worker
// thread dies in the middle of it. Starts its own server (2 workers, the default queue) on
// 127.0.0.1 with a small gallery made from face-api's demo photos, then:
//   1. capacity: requests/s of POST /verify with a real photo at concurrency 2 for 5 s;
//   2. overload: requests sent at 10x that rate (open loop: one every 1/rate s, whatever the
//      answers), over up to 10x-rate connections at once, for 30 s;
//   3. the same again while one worker thread is killed half way, through the test hook
//      `POST /__test__/kill-worker` when the server offers it (FACEKIT_TEST_HOOKS=1; probed with
//      GET /__test__/hooks); skipped with a message otherwise. With --shim, a stand-in for that
//      hook is injected into the server process (`node --import` of this very file, which then
//      wraps worker_threads.Worker and answers /__test__/* before fastify sees the request).
// Prints, per phase: counts of 200 / 503 / other statuses and of connection errors, p50 / p99
// latency, the server's peak RSS (VmRSS sampled every 200 ms, and VmHWM), whether /health
// answered during and after the run. All traffic goes to 127.0.0.1; it stops by itself (~90 s).
// Needs `npx tsc -p .` first.
//
//   node bench/serve-overload.mjs [--duration 30] [--factor 10] [--capacity-seconds 5]
//                                 [--workers 2] [--photo FILE] [--shim] [--json]
import { spawn } from 'node:child_process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'facekit.js');
const demo = join(root, 'node_modules', '@vladmandic', 'face-api', 'demo');
const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const duration = Number(opt('--duration', 30));
const factor = Number(opt('--factor', 10));
const capacitySeconds = Number(opt('--capacity-seconds', 5));
const workers = Number(opt('--workers', 2));
const photo = resolve(opt('--photo', join(demo, 'sample1.jpg')));
const asJson = args.includes('--json');
const useShim = args.includes('--shim');
const say = (line) => process.stderr.write(`serve-overload: ${line}\n`);
const self = fileURLToPath(import.meta.url);
// Loaded with `node --import` into the server process (--shim): install the stand-in hook only.
const SHIM = process.env.FACEKIT_OVERLOAD_SHIM === '1' && resolve(process.argv[1] ?? '') !== self;

/* ---------------------------------------------------------------- the stand-in hook (--shim) */

/**
 * Runs inside the server process, before facekit loads. Keeps a list of the worker threads (by
 * wrapping worker_threads.Worker; a worker counts as busy from a message sent to it until it
 * answers), and answers GET /__test__/hooks and POST /__test__/kill-worker before the server's own
 * request handler. The kill terminates a busy worker (else an idle one) from the outside, as a
 * crash would: the pool has not asked for it.
 */
function installShim() {
  const require = createRequire(import.meta.url);
  const wt = require('node:worker_threads');
  const http = require('node:http');
  const live = new Set();
  const Original = wt.Worker;
  wt.Worker = class ShimWorker extends Original {
    constructor(...a) {
      super(...a);
      this.shimBusy = false;
      live.add(this);
      this.on('message', () => { this.shimBusy = false; });
      this.once('exit', () => live.delete(this));
    }
    postMessage(...a) {
      this.shimBusy = true;
      return super.postMessage(...a);
    }
  };
  syncBuiltinESMExports();
  let killed = 0;
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (event, req, res) {
    if (event === 'request' && typeof req?.url === 'string' && req.url.startsWith('/__test__/')) {
      const send = (status, body) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)); };
      if (req.method === 'GET' && req.url === '/__test__/hooks') send(200, { hooks: ['kill-worker'], shim: true });
      else if (req.method === 'POST' && req.url === '/__test__/kill-worker') {
        const all = [...live];
        const w = all.find((x) => x.shimBusy) ?? all[0];
        if (!w) send(409, { error: { code: 'no_worker', message: 'no worker thread to kill' } });
        else {
          const busy = w.shimBusy;
          void w.terminate();
          killed++;
          send(200, { killed: w.threadId, busy, workersBefore: all.length, killedSoFar: killed });
        }
      } else send(404, { error: { code: 'not_found', message: 'no such test hook' } });
      req.resume();
      return true;
    }
    return emit.apply(this, arguments);
  };
}

if (SHIM) installShim();
else await main();

async function main() {
  if (!existsSync(join(root, 'dist', 'main.js'))) {
    say('dist/ is missing: run `npx tsc -p .` first');
    process.exit(2);
  }

  /* ---------------------------------------------------------------- the server */

  function startServer(db) {
    return new Promise((res, rej) => {
      // FACEKIT_TEST_HOOKS=1 asks for the test hooks; a build without them ignores it.
      const pre = useShim ? ['--import', self] : [];
      const proc = spawn(process.execPath, [...pre, bin, 'serve', '--db', db, '--host', '127.0.0.1', '--port', '0', '--workers', String(workers)], {
        cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FACEKIT_TEST_HOOKS: '1', ...(useShim ? { FACEKIT_OVERLOAD_SHIM: '1' } : {}) },
      });
      let err = '';
      const timer = setTimeout(() => { proc.kill('SIGKILL'); rej(new Error(`serve did not start in 120 s:\n${err}`)); }, 120_000);
      proc.stderr.on('data', (c) => {
        err += c;
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          const url = m[1];
          if (new URL(url).hostname !== '127.0.0.1') { proc.kill('SIGKILL'); rej(new Error(`server listens on ${url}, not 127.0.0.1`)); }
          res({ url, proc, stderr: () => err });
        }
      });
      proc.on('exit', (code) => { clearTimeout(timer); rej(new Error(`serve exited (${code}) before listening:\n${err}`)); });
    });
  }

  /** The server's memory from /proc: current and peak resident set, in MiB. */
  function memory(pid) {
    try {
      const s = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
      return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
    } catch {
      return undefined;
    }
  }

  /* ---------------------------------------------------------------- requests */

  function multipartBody(fields) {
    const boundary = `----overload${randomBytes(8).toString('hex')}`;
    const parts = [];
    for (const f of fields) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"`;
      if (f.filename) head += `; filename="${f.filename}"\r\nContent-Type: image/jpeg`;
      parts.push(Buffer.from(`${head}\r\n\r\n`), Buffer.isBuffer(f.data) ? f.data : Buffer.from(String(f.data)), Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`));
    return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
  }

  const verifyBody = multipartBody([{ name: 'image', filename: basename(photo), data: readFileSync(photo) }]);

  /** One POST /verify; never throws: { status, ms, retryAfter } or { error, ms }. */
  async function verifyOnce(url, timeoutMs = 45_000) {
    const t0 = performance.now();
    try {
      const r = await fetch(`${url}/verify`, {
        method: 'POST', headers: { 'Content-Type': verifyBody.type }, body: verifyBody.body, signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await r.text();
      let code;
      if (r.status !== 200) { try { code = JSON.parse(text).error?.code; } catch { code = 'not JSON'; } }
      return { status: r.status, code, retryAfter: r.headers.get('retry-after'), ms: performance.now() - t0 };
    } catch (e) {
      return { error: e.cause?.code ?? e.name ?? String(e), ms: performance.now() - t0 };
    }
  }

  async function health(url, timeoutMs = 5000) {
    const t0 = performance.now();
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = await r.json();
      return { ok: r.status === 200 && body.status === 'ok', status: r.status, body, ms: performance.now() - t0 };
    } catch (e) {
      return { ok: false, error: e.cause?.code ?? e.name, ms: performance.now() - t0 };
    }
  }

  const pct = (xs, p) => {
    if (xs.length === 0) return NaN;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  };
  const ms = (v) => (Number.isFinite(v) ? `${Math.round(v)} ms` : '-');

  /** Closed loop at a fixed concurrency: the server's sustainable rate. */
  async function capacity(url, concurrency, seconds) {
    const end = performance.now() + seconds * 1000;
    const results = [];
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) results.push(await verifyOnce(url));
    }));
    const ok = results.filter((r) => r.status === 200);
    return { rps: ok.length / seconds, total: results.length, ok: ok.length, p50: pct(ok.map((r) => r.ms), 50), p99: pct(ok.map((r) => r.ms), 99), other: results.length - ok.length };
  }

  /**
   * Open loop: a request every 1/rate s for `seconds`, at most `maxInFlight` at once (beyond that an
   * arrival is not sent, and counted). Samples the server's memory every 200 ms and /health every
   * second. `at(offsetS, fn)` runs fn once that far into the phase (the worker kill).
   */
  async function overload(url, pid, { rate, maxInFlight, seconds, at }) {
    const t0 = performance.now();
    const results = [];
    const inflight = new Set();
    let notSent = 0;
    let maxRss = 0, hwm = 0;
    const memTimer = setInterval(() => {
      const m = memory(pid);
      if (m) { maxRss = Math.max(maxRss, m.rss); hwm = Math.max(hwm, m.hwm); }
    }, 200);
    const healthDuring = [];
    const healthTimer = setInterval(() => { void health(url, 5000).then((h) => healthDuring.push(h)); }, 1000);
    let event;
    const eventTimer = at ? setTimeout(async () => { event = { t: (performance.now() - t0) / 1000, ...(await at.fn()) }; }, at.offsetS * 1000) : undefined;

    const interval = 1000 / rate;
    let sent = 0;
    while (performance.now() - t0 < seconds * 1000) {
      const due = t0 + sent * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      sent++;
      if (inflight.size >= maxInFlight) { notSent++; continue; }
      const start = (performance.now() - t0) / 1000;
      const p = verifyOnce(url).then((r) => { results.push({ ...r, start }); inflight.delete(p); });
      inflight.add(p);
    }
    await Promise.all(inflight);
    clearInterval(memTimer);
    clearInterval(healthTimer);
    clearTimeout(eventTimer);
    const m = memory(pid);
    if (m) { maxRss = Math.max(maxRss, m.rss); hwm = Math.max(hwm, m.hwm); }
    return { results, notSent, maxRss, hwm, healthDuring, event, wall: (performance.now() - t0) / 1000 };
  }

  function summarize(run) {
    const by = (f) => run.results.filter(f);
    const ok = by((r) => r.status === 200);
    const busy = by((r) => r.status === 503);
    const other = by((r) => r.status !== undefined && r.status !== 200 && r.status !== 503);
    const errors = by((r) => r.status === undefined);
    const tally = (xs, key) => Object.entries(xs.reduce((o, r) => { const k = key(r); o[k] = (o[k] ?? 0) + 1; return o; }, {})).map(([k, n]) => `${n} ${k}`).join(', ');
    return {
      sent: run.results.length, notSent: run.notSent,
      status200: ok.length, status503: busy.length, other: other.length, errors: errors.length,
      busyCodes: tally(busy, (r) => r.code), busyWithoutRetryAfter: busy.filter((r) => !r.retryAfter).length,
      otherDetail: tally(other, (r) => `${r.status} ${r.code ?? ''}`.trim()), errorDetail: tally(errors, (r) => r.error),
      latency: {
        all: { p50: pct(run.results.map((r) => r.ms), 50), p99: pct(run.results.map((r) => r.ms), 99) },
        ok: { p50: pct(ok.map((r) => r.ms), 50), p99: pct(ok.map((r) => r.ms), 99), max: Math.max(0, ...ok.map((r) => r.ms)) },
        busy: { p50: pct(busy.map((r) => r.ms), 50), p99: pct(busy.map((r) => r.ms), 99) },
      },
      goodput: ok.length / run.wall,
      maxRssMiB: Math.round(run.maxRss), hwmMiB: Math.round(run.hwm),
      healthDuring: { asked: run.healthDuring.length, answered: run.healthDuring.filter((h) => h.ok).length, slowest: Math.max(0, ...run.healthDuring.map((h) => h.ms)) },
    };
  }

  function printPhase(title, s, extra = []) {
    console.log(title);
    console.log(`  sent ${s.sent} requests${s.notSent ? ` (${s.notSent} more not sent: client cap on connections reached)` : ''}: ` +
      `200: ${s.status200}, 503: ${s.status503}${s.status503 ? ` (${s.busyCodes}${s.busyWithoutRetryAfter ? `; ${s.busyWithoutRetryAfter} without Retry-After` : '; all with Retry-After'})` : ''}, ` +
      `other: ${s.other}${s.other ? ` (${s.otherDetail})` : ''}, connection errors: ${s.errors}${s.errors ? ` (${s.errorDetail})` : ''}`);
    console.log(`  latency p50 / p99: all ${ms(s.latency.all.p50)} / ${ms(s.latency.all.p99)}; 200s ${ms(s.latency.ok.p50)} / ${ms(s.latency.ok.p99)} (max ${ms(s.latency.ok.max)}); 503s ${ms(s.latency.busy.p50)} / ${ms(s.latency.busy.p99)}`);
    console.log(`  goodput: ${s.goodput.toFixed(2)} answers 200/s`);
    console.log(`  server peak RSS: ${s.maxRssMiB} MiB (VmRSS sampled every 200 ms); VmHWM since start ${s.hwmMiB} MiB`);
    console.log(`  /health during the run: ${s.healthDuring.answered} of ${s.healthDuring.asked} answered ok, slowest ${ms(s.healthDuring.slowest)}`);
    for (const l of extra) console.log(`  ${l}`);
  }

  /* ---------------------------------------------------------------- main */

  const dir = mkdtempSync(join(tmpdir(), 'facekit-overload-'));
  let server;
  const report = { machine: `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`, photo: basename(photo) };
  let exitCode = 0;
  const hardStop = setTimeout(() => { say('taking far too long: stopping'); server?.proc.kill('SIGKILL'); process.exit(3); }, (capacitySeconds + 2 * duration + 240) * 1000);
  hardStop.unref();
  try {
    server = await startServer(join(dir, 'gallery.json'));
    const pid = server.proc.pid;
    say(`server pid ${pid} at ${server.url} (${workers} workers, default queue)`);

    // A small gallery: the largest face of three demo photos, one person each.
    for (const [i, f] of ['sample2.jpg', 'sample3.jpg', 'sample4.jpg'].entries()) {
      const b = multipartBody([{ name: 'label', data: `person${i + 1}` }, { name: 'images', filename: f, data: readFileSync(join(demo, f)) }]);
      const r = await fetch(`${server.url}/gallery`, { method: 'POST', headers: { 'Content-Type': b.type }, body: b.body });
      if (r.status >= 300) throw new Error(`POST /gallery ${f}: ${r.status} ${await r.text()}`);
    }
    const h0 = await health(server.url);
    report.server = { url: server.url, pid, workers: h0.body?.workers, queue: h0.body?.queue?.maxWaiting, backend: h0.body?.backend, gallery: h0.body?.gallery };
    say(`gallery: ${h0.body?.gallery?.people} people, ${h0.body?.gallery?.faces} faces; queue: ${h0.body?.queue?.maxWaiting} may wait`);

    // The test hook (a debug endpoint the server may offer): probed without side effects.
    let hookStatus;
    const hooks = await fetch(`${server.url}/__test__/hooks`).then(async (r) => { hookStatus = r.status; return r.status === 200 ? r.json() : undefined; })
      .catch((e) => { hookStatus = e.cause?.code ?? e.name; return undefined; });
    const canKill = Boolean(hooks && Array.isArray(hooks.hooks) && hooks.hooks.includes('kill-worker'));
    const hookName = hooks?.shim ? 'the stand-in hook injected by --shim' : 'the server\'s test hook';

    await verifyOnce(server.url); // warm
    const cap = await capacity(server.url, 2, capacitySeconds);
    report.capacity = cap;
    if (cap.ok === 0) throw new Error(`no POST /verify answered 200 while measuring capacity (${cap.total} requests, ${cap.other} other answers)`);
    const rate = factor * cap.rps;
    const maxInFlight = Math.max(4, Math.ceil(factor * cap.rps));
    console.log(`# facekit serve overload (${new Date().toISOString()}), ${report.machine}`);
    console.log(`server: ${server.url} pid ${pid}, ${report.server.workers} workers, queue ${report.server.queue}, ${report.server.backend} backend; gallery ${report.server.gallery?.people} people, ${report.server.gallery?.faces} faces`);
    console.log(`capacity: ${cap.rps.toFixed(2)} requests/s of POST /verify (${report.photo}, multipart) at concurrency 2 over ${capacitySeconds} s; p50 ${ms(cap.p50)}, p99 ${ms(cap.p99)}${cap.other ? `; ${cap.other} answers not 200` : ''}`);
    console.log(`load: ${rate.toFixed(1)} requests/s (${factor}x capacity, open loop) over at most ${maxInFlight} connections at once, for ${duration} s per phase`);

    // Phase 1: overload.
    const p1 = await overload(server.url, pid, { rate, maxInFlight, seconds: duration });
    const s1 = summarize(p1);
    const after1 = await health(server.url);
    report.overload = { ...s1, healthAfter: after1 };
    printPhase(`phase 1: overload, ${duration} s`, s1, [`/health after: ${after1.ok ? `ok in ${ms(after1.ms)}` : `NOT ok (${after1.error ?? after1.status})`}; queue then ${JSON.stringify(after1.body?.queue ?? null)}`]);
    if (!after1.ok || s1.other > 0 || s1.errors > 0) exitCode = 1;

    // Phase 2: the same, with one worker thread killed half way.
    if (!canKill) {
      const why = `skipped: this server offers no way to kill one worker thread from outside (GET /__test__/hooks answered ${hookStatus}). ` +
        'Workers are threads of the one server process, so no signal can reach just one. It needs a test hook, e.g.: with ' +
        'FACEKIT_TEST_HOOKS=1, GET /__test__/hooks -> {"hooks":["kill-worker"]} and POST /__test__/kill-worker -> terminate one ' +
        'busy worker thread as a crash (not a cancel), answering {"killed": <threadId>, "busy": true|false}; /health could also report "replaced" workers. ' +
        '(--shim injects a stand-in for that hook into the server process to run this phase today.)';
      report.workerKill = { skipped: why };
      console.log(`phase 2: worker killed half way: ${why}`);
    } else {
      // let the queue drain before the second phase
      await new Promise((r) => setTimeout(r, 2000));
      const kill = async () => {
        try {
          const r = await fetch(`${server.url}/__test__/kill-worker`, { method: 'POST', signal: AbortSignal.timeout(5000) });
          return { status: r.status, body: await r.text() };
        } catch (e) {
          return { error: e.cause?.code ?? e.name };
        }
      };
      const p2 = await overload(server.url, pid, { rate, maxInFlight, seconds: duration, at: { offsetS: duration / 2, fn: kill } });
      const s2 = summarize(p2);
      const after2 = await health(server.url);
      const killT = p2.event?.t ?? duration / 2;
      const around = p2.results.filter((r) => r.start >= killT - 0.5 && r.start < killT + 3);
      const firstOkAfter = p2.results.filter((r) => r.status === 200 && r.start >= killT).sort((a, b) => a.start - b.start)[0];
      const after = p2.results.filter((r) => r.start >= killT + 3);
      const okRateAfter = after.filter((r) => r.status === 200).length / Math.max(0.001, duration - killT - 3);
      const okRateBefore = p2.results.filter((r) => r.start < killT - 0.5 && r.status === 200).length / Math.max(0.001, killT - 0.5);
      const inFlight = p2.results.filter((r) => r.start <= killT && r.start + r.ms / 1000 >= killT);
    const tallyInFlight = Object.entries(inFlight.reduce((o, r) => { const k = `${r.status ?? r.error}${r.code ? ` ${r.code}` : ''}`; o[k] = (o[k] ?? 0) + 1; return o; }, {})).map(([k, n]) => `${n}x ${k}`).join(', ');
    const tallyAround = Object.entries(around.reduce((o, r) => { const k = r.status ?? r.error; o[k] = (o[k] ?? 0) + 1; return o; }, {})).map(([k, n]) => `${n}x ${k}`).join(', ');
      report.workerKill = { ...s2, kill: p2.event, healthAfter: after2, inFlightAtKill: tallyInFlight, aroundKill: tallyAround, firstOkAfterS: firstOkAfter ? firstOkAfter.start - killT : null, okRateBefore, okRateAfter };
      printPhase(`phase 2: overload, ${duration} s, one worker thread killed at ${killT.toFixed(1)} s (${hookName})`, s2, [
        `kill: ${p2.event ? (p2.event.error ? `hook failed: ${p2.event.error}` : `POST /__test__/kill-worker answered ${p2.event.status} ${p2.event.body}`) : 'not done'}`,
        `requests in flight at the kill (sent before, answered after): ${tallyInFlight || 'none'}`,
        `answers to requests sent from 0.5 s before to 3 s after the kill: ${tallyAround || 'none'}`,
        `first 200 for a request sent after the kill: ${firstOkAfter ? `${(firstOkAfter.start - killT).toFixed(2)} s after` : 'none'}; 200/s before ${okRateBefore.toFixed(2)}, from 3 s after ${okRateAfter.toFixed(2)}`,
        `/health after: ${after2.ok ? `ok in ${ms(after2.ms)}, ${after2.body?.workers} workers` : `NOT ok (${after2.error ?? after2.status})`}`,
      ]);
      if (!after2.ok || s2.errors > 0) exitCode = 1;
    }
    if (asJson) console.log(JSON.stringify(report, null, 2));
  } catch (err) {
    say(`error: ${err.stack ?? err}`);
    exitCode = 2;
  } finally {
    if (server && server.proc.exitCode === null) {
      server.proc.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(() => { server.proc.kill('SIGKILL'); r(); }, 15_000); server.proc.once('exit', () => { clearTimeout(t); r(); }); });
    }
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(exitCode);
}
