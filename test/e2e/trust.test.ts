/**
 * Regression tests of issue 22 ("Nothing lost, nothing stalls"): what a hostile user and a new user
 * found, one test per item, each named after it. The library and the CLI's main() in this process
 * (test/helpers/engine.ts, cli-in-process.ts), the server through inject() (app.ts); a spawned CLI
 * only where a process is what shows it: exit codes with stdin, a signal, a lock held by another
 * process. Pure logic has its tests in the unit files (guards: PGlite's failures in words;
 * plan-policy: the stricter-threshold warning; image: labels on tight crops, videos named).
 *
 * A real PGlite database costs about 13 CPU-seconds to make (initdb in WASM): the PGlite tests here
 * stop before PGlite starts (the folder's lock, its PG_VERSION), which is where the fixes are.
 *
 * Items of the issue tested elsewhere already:
 * - deepface's pairs file with score columns (master.csv): unit/evaluation.test.ts, "reads
 *   deepface's master.csv: its columns by name, the distance columns after them ignored";
 * - output formats: verify prints NDJSON off a terminal and a table with --table (e2e/gallery.test.ts,
 *   "verify: exit 0 when all match, ..."), analyze NDJSON off a terminal (cli/stages.test.ts), db
 *   list one record per person and tables not cut off a terminal (unit/tables.test.ts, "facekit db
 *   list and db info", "the width is $COLUMNS off a terminal, else none").
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaceRecord } from '../../dist/index.js';
import { Progress, warn } from '../../dist/cli/output.js';
import { acquireLock, acquireLockWaiting } from '../../dist/recognition/gallery-lock.js';
import { ARTISTS, BIN, DEMO, FIXTURES, ROOT, hasArtists, oneLine, records, tempDir, type CliResult } from '../helpers/cli.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { collect, engine, facekit, rejection, using } from '../helpers/engine.js';
import { serveInProcess, type InProcessServer } from '../helpers/app.js';
import { inject } from '../helpers/serve.js';
import { ndjson, syntheticRecords, syntheticText } from '../helpers/group-b.js';
// (synthetic faces: 300 resnet34 records of 30 people, and 300 fresh ones of them, made once for the file)

const { buildGallery, folderGallery, decideThreshold, DEFAULT_RECOGNIZER, DEFAULT_METRIC } = facekit;


/** Every file under `dir` with the sha256 of its bytes: a folder compared before and after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    const p = join(dir, f);
    out[f] = statSync(p).isDirectory() ? 'dir' : createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

/** `facekit ...args` as a process, with what it printed, its exit code and how long it took. */
function spawnCli(args: string[], opts: { stdin?: number | 'pipe' } = {}): { child: ChildProcess; done: Promise<CliResult & { ms: number }> } {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  child.stdin?.on('error', () => undefined);
  const done = new Promise<CliResult & { ms: number }>((resolve) => child.on('close', (code, signal) => resolve({
    code: code ?? (signal ? 128 : -1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - t0,
  })));
  return { child, done };
}

/** A process's resident memory now, in MB (0 when it is gone). */
function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return 0;
  }
}

/**
 * A tiny folder of people (DIR/<person>/...): two people, two small photos each, from the artists
 * when they are here (face-api's demo photos otherwise).
 */
const PEOPLE_PHOTOS: Record<string, string[]> = hasArtists
  ? {
    bob_dylan: [join(ARTISTS, 'bob_dylan', 'gettyimages-3315233.jpg'), join(ARTISTS, 'bob_dylan', 'cronica-bob-dylan-672x438.jpg')],
    nina_simone: [join(ARTISTS, 'nina_simone', 'images.jpeg'), join(ARTISTS, 'nina_simone', 'images (1).jpeg')],
  }
  : { ana: [join(DEMO, 'sample2.jpg'), join(DEMO, 'sample3.jpg')], bo: [join(DEMO, 'sample5.jpg'), join(DEMO, 'sample6.jpg')] };
if (!hasArtists) console.warn('trust.test: ../shared/datasets/artists is absent: the people folder is made of face-api\'s demo photos');

let people: Promise<{ dir: string; db: string }> | undefined;
/** The people folder, and its gallery as `facekit build-db DIR` makes it (buildGallery), made once. */
function peopleGallery(): Promise<{ dir: string; db: string }> {
  people ??= (async () => {
    const root = tempDir('facekit-trust-people-');
    const dir = join(root, 'people');
    for (const [person, photos] of Object.entries(PEOPLE_PHOTOS)) {
      mkdirSync(join(dir, person), { recursive: true });
      for (const p of photos) copyFileSync(p, join(dir, person, p.split('/').pop()!));
    }
    const db = join(root, 'db', 'gallery.json');
    const s = await buildGallery(dir, { db, engine: engine() });
    expect(s).toMatchObject({ galleryPeople: 2, galleryFaces: 4, failures: [] });
    return { dir, db };
  })();
  return people;
}

/* ================================================================ data loss */

describe('issue 22, data loss', () => {
  it('saving one gallery leaves the sidecars of another gallery in the same folder alone (db/gallery.json beside db/gallery.v2.json)', async () => {
    const dir = join(tempDir(), 'db');
    const v2 = join(dir, 'gallery.v2.json');
    const v1 = join(dir, 'gallery.json');
    const a = syntheticRecords(300, 30);
    const b = syntheticRecords(300, 30, true);
    // each with its vectors, entries and HNSW graph sidecars
    await buildGallery(a, { db: v2, index: 'hnsw' });
    const theirs = () => Object.fromEntries(Object.entries(snapshot(dir)).filter(([f]) => f.startsWith('gallery.v2.') && f !== 'gallery.v2.json'));
    const before = theirs();
    expect(Object.keys(before).map((f) => f.replace(/[0-9a-f]{12}/, 'HASH')).sort()).toEqual(['gallery.v2.HASH.entries.bin', 'gallery.v2.HASH.f32', 'gallery.v2.HASH.hnsw']);
    // gallery.json made, then saved again (its own old sidecars go)
    await buildGallery(b.slice(0, 150), { db: v1, index: 'hnsw' });
    await buildGallery(b.slice(150), { db: v1, index: 'hnsw' });
    expect(theirs()).toEqual(before);
    expect(readdirSync(dir).filter((f) => /^gallery\.[0-9a-f]{12}\./.test(f))).toHaveLength(3);
    // both still open and identify
    expect((await using(v2, (g) => g.identify(a[7]!)))[0]).toMatchObject({ identity: 'p7', distance: 0 });
    expect((await using(v1, (g) => g.identify(b[200]!)))[0]).toMatchObject({ identity: b[200]!.label, distance: 0 });
    expect(await using(v2, (g) => g.info())).toMatchObject({ faces: 300 });
    expect(await using(v1, (g) => g.info())).toMatchObject({ faces: 300 });
  });

  describe('a PGlite folder is one process\'s at a time', () => {
    // What facekit holds while a PGlite database is open (a server, an open Gallery, a build-db):
    // the lock beside the folder (DIR.lock), the one store/sql-client.ts takes before PGlite starts.
    let dir: string;
    let snap: Record<string, string>;
    beforeAll(() => {
      dir = join(tempDir('facekit-trust-pglite-'), 'data');
      mkdirSync(dir);
      // a folder that passes facekit's look at it (PG_VERSION): a real database costs 13 CPU-seconds
      // to make, and facekit decides before PGlite starts
      writeFileSync(join(dir, 'PG_VERSION'), '17\n');
      snap = snapshot(dir);
    });

    it('a second writer (build-db) or reader (db info) while another process holds the PGlite folder waits up to 5 s, then is refused with one line, exit 2', async () => {
      const release = acquireLock(dir);
      try {
        const writer = spawnCli(['build-db', '-', '--db', `pglite:${dir}`], { stdin: 'pipe' });
        writer.child.stdin!.end(syntheticText(300, 30));
        const reader = spawnCli(['db', 'info', '--db', `pglite:${dir}`]);
        for (const r of await Promise.all([writer.done, reader.done])) {
          expect(r.code, r.stderr).toBe(2);
          expect(oneLine(r.stderr)).toMatch(/^facekit: pglite:.*: the PGlite database is open in another facekit \(pid \d+ since .*\); wait for it, or delete data\.lock if that process is gone; PGlite serves one process at a time \(PostgreSQL serves many\)$/);
          expect(r.stderr).toContain(`pglite:${dir}: `);
          expect(r.stderr).toContain(`(pid ${process.pid} since `);
          expect(r.stdout).toBe('');
          expect(r.ms).toBeGreaterThan(4500); // it waited
          expect(r.ms).toBeLessThan(15_000);
        }
      } finally {
        release();
      }
      expect(snapshot(dir)).toEqual(snap);
    }, 30_000);

    it('a second opener of a PGlite folder waits while another process holds it, and goes on when it is let go', async () => {
      // another process holds the folder's lock for 1.5 s (the lock facekit takes before PGlite starts)
      const holder = spawn(process.execPath, ['--input-type=module', '-e', `
        const { acquireLock } = await import(${JSON.stringify(join(ROOT, 'dist', 'recognition', 'gallery-lock.js'))});
        const release = acquireLock(${JSON.stringify(dir)});
        console.log('held');
        setTimeout(release, 1500);`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((r) => holder.stdout!.once('data', () => r()));
      const t0 = Date.now();
      // what store/sql-client.ts's lockPglite waits with: 5 s
      const release = await acquireLockWaiting(dir, 5000);
      const waited = Date.now() - t0;
      release();
      expect(waited).toBeGreaterThan(1000);
      expect(waited).toBeLessThan(4000);
      expect(snapshot(dir)).toEqual(snap);
      expect(existsSync(`${dir}.lock`)).toBe(false);
    });
  });

  it('a read never creates: db info of a PGlite folder without PG_VERSION is one "damaged" line, exit 2, its files unchanged; a pglite: path that is not there is refused and not made', async () => {
    const root = tempDir('facekit-trust-damaged-');
    // a PGlite data folder (its layout; the bytes do not matter) that lost its PG_VERSION
    const dir = join(root, 'data');
    for (const sub of ['base/1', 'global', 'pg_wal', 'pg_xact', 'pg_multixact/offsets']) mkdirSync(join(dir, sub), { recursive: true });
    for (const [f, size] of [['base/1/1259', 8192], ['global/pg_control', 8192], ['pg_wal/000000010000000000000001', 65536], ['pg_xact/0000', 8192]] as const) {
      writeFileSync(join(dir, f), createHash('sha512').update(f).digest().toString('hex').repeat(size / 128));
    }
    writeFileSync(join(dir, 'postgresql.conf'), "listen_addresses = ''\n");
    const before = snapshot(dir);
    const info = await cliInProcess(['db', 'info', '--db', `pglite:${dir}`]);
    expect(info.code).toBe(2);
    expect(oneLine(info.stderr)).toBe(`facekit: pglite:${dir}: this folder is not a PGlite database, or a damaged one (it has no PG_VERSION); nothing was changed`);
    expect(info.stdout).toBe('');
    expect(snapshot(dir)).toEqual(before);
    expect(existsSync(`${dir}.lock`)).toBe(false);
    // verify and db list read too
    const list = await cliInProcess(['db', 'list', '--db', `pglite:${dir}`]);
    expect(list.code).toBe(2);
    expect(snapshot(dir)).toEqual(before);

    const nowhere = join(root, 'nowhere');
    const none = await cliInProcess(['db', 'info', '--db', `pglite:${nowhere}`]);
    expect(none.code).toBe(2);
    expect(oneLine(none.stderr)).toMatch(/no PGlite database here \(build one with `facekit build-db DIR --db pglite:DIR`\)/);
    expect(existsSync(nowhere)).toBe(false);
    expect(readdirSync(root).sort()).toEqual(['data']);
  });

  it('`facekit detect in.jpg --out in.jpg` is refused and the photo is untouched; --out onto the records file being read still rewrites it in place', async () => {
    const dir = tempDir();
    const photo = join(dir, 'in.jpg');
    copyFileSync(join(DEMO, 'sample2.jpg'), photo);
    const bytes = readFileSync(photo);
    const res = await cliInProcess(['detect', photo, '--out', photo]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toBe(`facekit: ${photo}: is an image: --out would replace it with records; give a records file (.ndjson)`);
    expect(readFileSync(photo).equals(bytes)).toBe(true);
    // any name: the bytes say it is an image
    const png = join(dir, 'photo.ndjson');
    await sharp(photo).png().toFile(png);
    const pngBytes = readFileSync(png);
    expect((await cliInProcess(['detect', photo, '--out', png])).code).toBe(2);
    expect(readFileSync(png).equals(pngBytes)).toBe(true);

    // a records file updated in place: detect's records, then align's over them
    const recs = join(dir, 'faces.ndjson');
    expect((await cliInProcess(['detect', photo, '--out', recs])).code).toBe(0);
    const detected = records(readFileSync(recs, 'utf8'));
    expect(detected).toHaveLength(3);
    const aligned = await cliInProcess(['align', recs, '--out', recs, '--out-dir', join(dir, 'aligned')]);
    expect(aligned.code, aligned.stderr).toBe(0);
    const after = records(readFileSync(recs, 'utf8')) as unknown as FaceRecord[];
    expect(after.map((r) => [r.face, Boolean(r.aligned)])).toEqual([[0, true], [1, true], [2, true]]);
  });
});

/* ================================================================ crash, stall, leak */

describe('issue 22, crash, stall, leak', () => {
  it('an endless image on stdin (`facekit verify - < /dev/zero`) is refused promptly with one line, exit 2, its memory bounded', async () => {
    const { child, done } = spawnCli(['verify', '-'], { stdin: openSync('/dev/zero', 'r') });
    let peak = 0;
    const watch = setInterval(() => {
      peak = Math.max(peak, rssMb(child.pid!));
      if (peak > 1500) child.kill('SIGKILL'); // unbounded: stop it before it takes the machine
    }, 50);
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const r = await done;
    clearInterval(watch);
    clearTimeout(killer);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe('facekit: stdin: more than 268 MB arrived: larger than any image facekit reads (268 MB)');
    expect(r.ms).toBeLessThan(15_000);
    // what it held: at most the bound (256 MiB, as base64 text 4/3 of it) and node itself
    expect(peak).toBeLessThan(800);
  }, 30_000);

  it('a record line nested 100 000 levels deep is an error record at once (`verify FILE`, `represent FILE`), the lines after it go on', async () => {
    const dir = tempDir();
    const faces = syntheticRecords(300, 30).slice(0, 20);
    const db = join(dir, 'g.json');
    await buildGallery(faces, { db });
    const nested = '{"schema":1,"image":"x.jpg","face":0,"x":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    const file = join(dir, 'nested.ndjson');
    writeFileSync(file, `${nested}\n${JSON.stringify(faces[3])}\n`);
    let t = Date.now();
    const v = await cliInProcess(['verify', file, '--db', db]);
    expect(Date.now() - t).toBeLessThan(3000); // 59 s before (the issue), under a busy machine's noise
    expect(v.code).toBe(2);
    expect(oneLine(v.stderr)).toBe(`facekit: ${file} line 1: JSON nested more than 64 levels deep`);
    expect(records(v.stdout).map((a) => a.verdict)).toEqual(['error', 'match']);
    writeFileSync(file, `${nested}\n`);
    t = Date.now();
    const rep = await cliInProcess(['represent', file]);
    expect(Date.now() - t).toBeLessThan(3000); // 59 s before (the issue), under a busy machine's noise
    expect(rep.code).toBe(2);
    expect(records(rep.stdout)).toEqual([{ schema: 1, image: file, face: null, error: { code: 'bad_record', message: 'line 1: JSON nested more than 64 levels deep' } }]);
  });

  it('`build-db -` fed the same record forever stops promptly on SIGTERM, its memory bounded, the gallery intact', async () => {
    const dir = tempDir();
    const db = join(dir, 'g.json');
    const [kept, fed] = syntheticRecords(300, 30);
    await buildGallery([kept!], { db });
    const before = readFileSync(db);
    const line = Buffer.from(JSON.stringify(fed) + '\n');
    const chunk = Buffer.concat(Array.from({ length: 256 }, () => line));
    const { child, done } = spawnCli(['build-db', '-', '--db', db], { stdin: 'pipe' });
    let stop = false;
    let sent = 0;
    const pump = () => {
      while (!stop) {
        sent += chunk.length;
        if (!child.stdin!.write(chunk)) return void child.stdin!.once('drain', pump);
      }
    };
    pump();
    let peak = 0;
    const watch = setInterval(() => { peak = Math.max(peak, rssMb(child.pid!)); }, 100);
    // until it has read 2 MB of them (its start takes a while on a busy machine)
    for (let i = 0; i < 200 && sent < 2e6; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    const killedAt = Date.now();
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const r = await done;
    const stoppedIn = Date.now() - killedAt;
    stop = true;
    clearInterval(watch);
    clearTimeout(killer);
    expect(sent).toBeGreaterThan(2e6); // it was reading
    expect(stoppedIn).toBeLessThan(2000);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/^facekit: interrupted: finishing the work under way, then stopping/);
    expect(r.stderr).toMatch(/facekit: stopped: .*run build-db again to go on from there\n$/);
    expect(peak).toBeLessThan(300);
    expect(readFileSync(db).equals(before)).toBe(true);
    expect(await using(db, (g) => g.info())).toMatchObject({ faces: 1 });
    expect(existsSync(`${db}.lock`)).toBe(false);
  }, 30_000);
});

/* ================================================================ the server */

describe('issue 22, the server', () => {
  let srv: InProcessServer;
  beforeAll(async () => {
    const { db } = await peopleGallery();
    srv = await serveInProcess({ db, compat: true });
  });
  afterAll(async () => {
    // an answer's request stream is read after it is sent: let the last one end before stopping
    await new Promise((r) => setTimeout(r, 50));
  });

  it('a gallery whose vector sidecar is damaged refuses the start, naming the sidecar, instead of failing the first request', async () => {
    // a file gallery opens on its header; the corpus found serve listening over a truncated sidecar
    const dir = tempDir();
    const db = join(dir, 'gallery.json');
    await buildGallery(syntheticRecords(40, 4), { db });
    const vectors = readdirSync(dir).find((f) => f.endsWith('.f32'))!;
    writeFileSync(join(dir, vectors), readFileSync(join(dir, vectors)).subarray(0, 100));
    const before = snapshot(dir);
    const refused = await rejection(serveInProcess({ db }));
    expect(refused.line).toContain(vectors);
    expect(snapshot(dir)).toEqual(before);
  });

  it('a deeply nested JSON body is a 400 in milliseconds, and /health is not held up meanwhile', async () => {
    const depth = 1_000_000; // 2 MB, under the 10 MB body limit
    const body = '{"image":' + '['.repeat(depth) + ']'.repeat(depth) + '}';
    const t0 = Date.now();
    let healthAt = 0;
    const [nested, health] = await Promise.all([
      inject(srv, 'post', '/verify', { body, headers: { 'content-type': 'application/json' } }),
      inject(srv, 'get', '/health').then((h) => { healthAt = Date.now() - t0; return h; }),
    ]);
    const took = Date.now() - t0;
    expect(nested.status).toBe(400);
    expect(JSON.parse(nested.text)).toEqual({ error: { code: 'bad_json', message: 'the body is refused: JSON nested more than 64 levels deep' } });
    expect(took).toBeLessThan(2000); // 28 s before (the issue)
    expect(health.status).toBe(200);
    expect(healthAt).toBeLessThan(2000);
  });

  it('the compat /echo answers a nested body (600 KB) with a 400, not a 500 "Maximum call stack size exceeded"', async () => {
    // its JSON comes without a Content-Type (the workshop's clients send it so)
    const echo = await inject(srv, 'post', '/echo', { body: '{"a":' + '['.repeat(300_000) + ']'.repeat(300_000) + '}' });
    expect(echo.status).toBe(400);
    expect(JSON.parse(echo.text).error).toMatchObject({ code: 'bad_json', message: expect.stringMatching(/nested more than 64 levels deep/) });
  });

  it('a JSON body with a "__proto__" key is refused with a message that says so, not "not valid JSON"', async () => {
    for (const url of ['/verify', '/echo']) {
      const res = await inject(srv, 'post', url, { body: '{"__proto__": {"polluted": 1}, "image": "x"}', headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(400);
      const e = JSON.parse(res.text).error as { code: string; message: string };
      expect(e).toEqual({ code: 'bad_json', message: 'the body is refused: a key named "__proto__" is refused' });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a threshold of 1e309 is refused naming what it is (Infinity), not "must be a number, got null"', async () => {
    const res = await inject(srv, 'post', '/verify', { body: '{"image": "data:image/jpeg;base64,AAAA", "threshold": 1e309}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    const message = JSON.parse(res.text).error.message as string;
    expect(message).toMatch(/"threshold" must be .*, got Infinity/);
    expect(message).not.toMatch(/null/);
  });

  it('on the command line too: --threshold 1e309 says it is Infinity', async () => {
    const { parseNumber } = await import('../../dist/cli/options.js');
    expect(() => parseNumber('--threshold')('1e309')).toThrow('--threshold must be a number, got "1e309" (1e309 is Infinity, past the largest number)');
    expect(() => parseNumber('--threshold')('-1e309')).toThrow(/is -Infinity/);
    expect(() => parseNumber('--threshold')('high')).toThrow(/^--threshold must be a number, got "high"$/);
    expect(parseNumber('--threshold')('1e-3')).toBe(0.001);
  });

  it('GET /gallery pages its people (offset, limit, total_people, next_offset)', async () => {
    const labels = Object.keys(PEOPLE_PHOTOS).sort();
    const all = JSON.parse((await inject(srv, 'get', '/gallery')).text);
    expect(all).toMatchObject({ total_people: 2, next_offset: null, faces: 4 });
    expect(all.people.map((p: { label: string }) => p.label)).toEqual(labels);
    const first = JSON.parse((await inject(srv, 'get', '/gallery?limit=1')).text);
    expect(first).toMatchObject({ total_people: 2, next_offset: 1, people: [{ label: labels[0], faces: 2 }] });
    const second = JSON.parse((await inject(srv, 'get', '/gallery?offset=1&limit=1')).text);
    expect(second).toMatchObject({ total_people: 2, next_offset: null, people: [{ label: labels[1], faces: 2 }] });
    const past = JSON.parse((await inject(srv, 'get', '/gallery?offset=5')).text);
    expect(past).toMatchObject({ total_people: 2, next_offset: null, people: [] });
    const bad = await inject(srv, 'get', '/gallery?limit=0');
    expect(bad.status).toBe(400);
  });

  it('the Gallery tab asks for thumbnails (?size=104), and the photo route serves a small image for them', async () => {
    const page = await inject(srv, 'get', '/');
    expect(page.text).toContain('?size=104&face=');
    const list = JSON.parse((await inject(srv, 'get', '/gallery')).text);
    const ph = list.people[0].photos[0] as { photo: string; face: number };
    const full = await inject(srv, 'get', ph.photo);
    const thumb = await inject(srv, 'get', `${ph.photo}?size=104&face=${ph.face}`);
    expect(thumb.status).toBe(200);
    expect(thumb.header('content-type')).toBe('image/jpeg');
    const meta = await sharp(thumb.bytes).metadata();
    expect(Math.max(meta.width!, meta.height!)).toBeLessThanOrEqual(104);
    expect(thumb.bytes.byteLength).toBeLessThan(full.bytes.byteLength);
  });

  it('/docs answers an interactive page (Swagger UI) over /openapi.json', async () => {
    let res = await inject(srv, 'get', '/docs');
    for (let i = 0; i < 3 && res.status >= 300 && res.status < 400; i++) res = await inject(srv, 'get', new URL(res.header('location')!, 'http://x/docs').pathname);
    expect(res.status).toBe(200);
    expect(res.header('content-type')).toMatch(/text\/html/);
    expect(res.text).toMatch(/Swagger UI/);
    const doc = await inject(srv, 'get', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(JSON.parse(doc.text).openapi).toMatch(/^3\.1/);
  });
});

/* ================================================================ what a new user tripped on */

describe('issue 22, what a new user tripped on', () => {
  it('`--threshold 0.4` on the default model warns, naming the model\'s calibrated threshold; `verify --help` examples use real thresholds', async () => {
    const { db } = await peopleGallery();
    const [face] = await using(db, (g) => collect(g.export()));
    const warnings: string[] = [];
    await using(db, (g) => g.identify(face!.embedding!.vector, { threshold: 0.4, onWarn: (l) => warnings.push(l) }));
    expect(warnings).toEqual([expect.stringMatching(/^threshold 0\.4 is far stricter than the calibrated 0\.98 for mobilefacenet with euclidean_l2: the same person will mostly not match/)]);
    // the CLI says it on stderr, once, and answers
    const file = join(tempDir(), 'q.ndjson');
    writeFileSync(file, ndjson([face!]));
    const v = await cliInProcess(['verify', file, '--db', db, '--threshold', '0.4']);
    expect(v.code).toBe(0); // the face is in the gallery: distance 0
    expect(oneLine(v.stderr)).toMatch(/^facekit: threshold 0\.4 is far stricter than the calibrated 0\.98 for mobilefacenet/);

    const help = await cliInProcess(['verify', '--help']);
    expect(help.code).toBe(0);
    const thresholds = [...help.stdout.matchAll(/--threshold (\d[\d.]*)/g)].map((m) => Number(m[1]));
    expect(thresholds.length).toBeGreaterThan(0);
    for (const t of thresholds) expect(decideThreshold(DEFAULT_RECOGNIZER, DEFAULT_METRIC, t, 'gallery').warning, `--threshold ${t}`).toBeUndefined();
  });

  it('the stage-by-stage pipe builds a gallery: detect people/ | align | normalize | represent | build-db gives the people and faces of build-db people/', async () => {
    const { dir: peopleDir, db: direct } = await peopleGallery();
    const dir = tempDir();
    const f = (name: string) => join(dir, name);
    const steps: string[][] = [
      ['detect', peopleDir, '--out', f('detect.ndjson')],
      ['align', f('detect.ndjson'), '--out', f('align.ndjson'), '--out-dir', f('aligned')],
      ['normalize', f('align.ndjson'), '--out', f('normalize.ndjson'), '--out-dir', f('norm')],
      ['represent', f('normalize.ndjson'), '--out', f('represent.ndjson')],
      ['build-db', f('represent.ndjson'), '--db', f('piped.json')],
    ];
    for (const args of steps) {
      const r = await cliInProcess(args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(0);
    }
    // the person travels from the first stage
    const detected = records(readFileSync(f('detect.ndjson'), 'utf8'));
    for (const r of detected) expect(r.label).toBe(relative(peopleDir, r.image as string).split('/')[0]);
    const faces = async (db: string) => (await using(db, (g) => g.list())).map((e) => `${e.label} ${relative(peopleDir, e.image)} ${e.face}`).sort();
    expect(await faces(f('piped.json'))).toEqual(await faces(direct));
    expect(await using(f('piped.json'), (g) => g.people())).toEqual(await using(direct, (g) => g.people()));
  });

  it('a flat folder of photos is a --db (each photo its own identity), as deepface\'s find(db_path) takes one', async () => {
    const flat = tempDir('facekit-trust-flat-');
    const [p1, p2] = Object.values(PEOPLE_PHOTOS).map((ps) => ps[0]!);
    copyFileSync(p1!, join(flat, 'first.jpg'));
    copyFileSync(p2!, join(flat, 'second.jpg'));
    const cache = tempDir();
    const { location, summary } = await folderGallery(flat, { cache, engine: engine() });
    expect(summary).toMatchObject({ galleryPeople: 2, galleryFaces: 2, failures: [] });
    const [answer] = await using(location, (g) => g.identify(p2!));
    expect(answer).toMatchObject({ identity: 'second.jpg', verdict: 'match' });
  });

  it('a warning clears the progress bar\'s line on a terminal first; off a terminal a short run of 2 images prints no progress line', async () => {
    const written: string[] = [];
    const saved = { write: process.stderr.write, tty: Object.getOwnPropertyDescriptor(process.stderr, 'isTTY') };
    const capture = ((chunk: string | Uint8Array) => { written.push(String(chunk)); return true; }) as typeof process.stderr.write;
    try {
      process.stderr.write = capture;
      Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
      const bar = new Progress(3, 'images', undefined, Date.now() - 1000);
      bar.tick();
      expect(written.join('')).toMatch(/^\r\[#{8}-{16}\] 1\/3 images/);
      warn('a.jpg: no face found');
      expect(written.slice(-2)).toEqual(['\r\x1b[K', 'facekit: a.jpg: no face found\n']);
      bar.end();
      written.length = 0;
      // off a terminal (a log, CI): 2 images 1.5 s into a run, with a line every 1 s: nothing yet
      Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
      const plain = new Progress(2, 'images', 1000, Date.now() - 1500);
      plain.tick();
      plain.tick();
      plain.end();
      expect(written).toEqual([]);
    } finally {
      process.stderr.write = saved.write;
      if (saved.tty) Object.defineProperty(process.stderr, 'isTTY', saved.tty);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
    // `facekit analyze` of two photos, piped: records, and nothing on stderr (at the default 5 s)
    const [a, b] = Object.values(PEOPLE_PHOTOS).map((ps) => ps[0]!);
    const res = await cliInProcess(['analyze', a!, b!, '--actions', 'gender', '--max-faces', '1'], { env: { FACEKIT_PROGRESS_EVERY: '5' } });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    expect(records(res.stdout)).toHaveLength(2);
  });

  it('`--db people-db` (a folder holding gallery.json) says "did you mean people-db/gallery.json"', async () => {
    const { db } = await peopleGallery();
    const dbDir = join(db, '..');
    const res = await cliInProcess(['verify', join(DEMO, 'sample2.jpg'), '--db', dbDir]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toBe(`facekit: ${dbDir}: holds a facekit gallery, not photos of people: did you mean --db ${db}?`);
    expect(res.stdout).toBe('');
  });

  it('`--db people-db` to the commands that open the gallery file (db info, db list, db remove, build-db, db import) says "did you mean people-db/gallery.json", not "is a directory"', async () => {
    // found by the bad-input corpus ("--db is a folder holding gallery.json"): only verify said it
    const { dir: peopleDir, db } = await peopleGallery();
    const dbDir = join(db, '..');
    const before = snapshot(dbDir);
    const recs = join(tempDir(), 'faces.ndjson');
    writeFileSync(recs, ndjson(syntheticRecords(300, 30).slice(0, 2)));
    for (const args of [['db', 'info'], ['db', 'list'], ['db', 'remove', 'nobody'], ['build-db', peopleDir], ['db', 'import', recs]]) {
      const res = await cliInProcess([...args, '--db', dbDir]);
      expect(res.code, args.join(' ')).toBe(2);
      expect(oneLine(res.stderr)).toBe(`facekit: ${dbDir}: is a folder holding a facekit gallery, not the gallery file: did you mean ${db}?`);
    }
    expect(snapshot(dbDir)).toEqual(before);
    // a folder without a gallery in it is still "a directory"
    const res = await cliInProcess(['db', 'info', '--db', peopleDir]);
    expect(oneLine(res.stderr)).toBe(`facekit: ${peopleDir}: is a directory, expected a file`);
  });

  it('a video is named as a video, not "not an image"', async () => {
    const dir = tempDir();
    const mp4 = Buffer.alloc(64);
    mp4.writeUInt32BE(24, 0);
    mp4.write('ftypisom', 4);
    mp4.write('isomiso2avc1mp41', 16);
    writeFileSync(join(dir, 'clip.mp4'), mp4);
    writeFileSync(join(dir, 'clip.y4m'), Buffer.concat([Buffer.from('YUV4MPEG2 W64 H48 F5:1 Ip A1:1 C420jpeg\nFRAME\n'), Buffer.alloc(64 * 48 * 1.5, 128)]));
    expect((await rejection(engine().detect(join(dir, 'clip.mp4')))).line).toBe(`${join(dir, 'clip.mp4')}: is a video (MP4), not an image: take a frame out of it first (e.g. ffmpeg -i VIDEO -frames:v 1 frame.jpg)`);
    expect((await rejection(engine().detect(join(dir, 'clip.y4m')))).message).toMatch(/^is a video \(Y4M\), not an image/);
  });

  it('verify() of two photos, the second without a face: no_face naming "the second image"', async () => {
    const face = Object.values(PEOPLE_PHOTOS)[0]![0]!;
    const none = join(FIXTURES, 'bad', 'no-face.jpg');
    const second = await rejection(engine().verify(face, none));
    expect(second).toMatchObject({ code: 'no_face', where: none, message: 'no face found (the second image)' });
    const first = await rejection(engine().verify(none, face));
    expect(first).toMatchObject({ code: 'no_face', where: none, message: 'no face found (the first image)' });
  });

  it('`db import` of a mixed-model stream adds nothing (to a new or an existing gallery) and says so in one line', async () => {
    const dir = tempDir();
    const [a, b, c] = syntheticRecords(300, 30);
    const mixed = join(dir, 'mixed.ndjson');
    writeFileSync(mixed, ndjson([a!, { ...b!, embedding: { ...b!.embedding!, model: 'faceres' } }]));
    const fresh = join(dir, 'new', 'g.json');
    const res = await cliInProcess(['db', 'import', mixed, '--db', fresh]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toBe(`facekit: ${mixed} line 2: gallery was built with resnet34 (128-d embeddings), not faceres (128-d); use --model resnet34 or another --db`);
    expect(existsSync(fresh)).toBe(false);
    const existing = join(dir, 'old.json');
    await buildGallery([c!], { db: existing });
    const before = snapshot(dir);
    const again = await cliInProcess(['db', 'import', mixed, '--db', existing]);
    expect(again.code).toBe(2);
    oneLine(again.stderr);
    expect(snapshot(dir)).toEqual(before);
    expect(await using(existing, (g) => g.info())).toMatchObject({ faces: 1 });
  });

  it('a build where every record is bad writes no gallery file', async () => {
    const dir = tempDir();
    const unlabelled = syntheticRecords(300, 30).slice(0, 2).map(({ label: _label, ...r }) => r);
    const file = join(dir, 'faces.ndjson');
    writeFileSync(file, ndjson(unlabelled));
    const db = join(dir, 'db', 'g.json');
    const res = await cliInProcess(['build-db', file, '--db', db]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/line 1: record has no "label"/);
    expect(res.stderr).toMatch(/facekit: failed: 2 \(2 missing_key\)\n$/);
    expect(existsSync(db)).toBe(false);
    expect(existsSync(`${db}.partial`)).toBe(false);
    expect(existsSync(`${db}.lock`)).toBe(false);
  });

  it('.gitignore keeps a gallery\'s sidecars out of git (entries, vectors, graph, partial build)', () => {
    const names = ['db/gallery.json', 'db/gallery.0123456789ab.entries.bin', 'db/gallery.0123456789ab.entries.jsonl', 'db/gallery.0123456789ab.f32', 'db/gallery.0123456789ab.hnsw', 'db/gallery.json.partial', 'db/photos/x.jpg'];
    const r = spawnSync('git', ['check-ignore', '--no-index', ...names], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout.trim().split('\n').sort()).toEqual([...names].sort());
  });
});
