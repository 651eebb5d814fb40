/**
 * The library API (src/index.ts, as built in dist/): the same answers as the command line, a
 * gallery that can be edited and saved from code, a worker pool that survives a dead worker, and
 * no side effects on import. Everything runs in this test process (the module functions' shared
 * engine runs one image in this thread), except what needs a process of its own: a worker killed
 * inside onnxruntime, and a fresh import.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as facekit from '../../dist/index.js';
import { FacekitError, Gallery } from '../../dist/index.js';
import { ROOT, DEMO, FIXTURES, records, tempDir } from '../helpers/cli.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { WorkerPool } from '../../dist/pipeline/pool.js';
import { buildPlan } from '../../dist/pipeline/plan.js';

const P1 = join(DEMO, 'sample1.jpg'); // 3 faces
const P2 = join(DEMO, 'sample2.jpg'); // 3 faces too
type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// The module functions share one engine, made by the first call with that call's options: one
// worker, as the suite runs two files at once on two cores. With the default (one per core), every
// call with two images or more (verify, Gallery.add) would start threads of its own and load the
// models in each.
beforeAll(async () => {
  expect(await facekit.detect(join(FIXTURES, 'bad', 'no-face.jpg'), { workers: 1 })).toEqual([]);
});

afterAll(async () => {
  await facekit.close();
});

describe('the library API', () => {
  it('detect() gives the records `facekit detect` prints, from a path, a Buffer or decoded pixels', async () => {
    const cli = records((await cliInProcess(['detect', P1])).stdout); // `facekit detect sample1.jpg`, the CLI in this process
    const fromPath = await facekit.detect(P1);
    expect(JSON.parse(JSON.stringify(fromPath))).toEqual(cli);
    const fromBuffer = await facekit.detect(readFileSync(P1), { name: 'group' });
    expect(fromBuffer.map((r) => r.box)).toEqual(fromPath.map((r) => r.box));
    expect(fromBuffer[0]!.image).toBe('group');
    const sharp = (await import('sharp')).default;
    const { data, info } = await sharp(P1).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const fromPixels = await facekit.detect({ data, width: info.width, height: info.height, channels: 4 });
    expect(fromPixels).toHaveLength(3);
    expect(fromPixels[0]!.box![0]).toBeCloseTo(fromPath[0]!.box![0], 0);
  });

  it('represent() gives the vectors of `facekit represent`; verify() the 1:1 answer of `facekit verify a b`', async () => {
    const cli = records((await cliInProcess(['represent', P2])).stdout) as Rec[]; // `facekit represent sample2.jpg`
    const api = await facekit.represent(P2);
    expect(api[0]!.embedding!.vector).toEqual(cli[0]!.embedding.vector);
    const v = await facekit.verify(P2, P2);
    expect(v).toMatchObject({ verified: true, distance: 0, threshold: 1.12, metric: 'euclidean_l2', model: 'mobilefacenet' });
    // `facekit verify a b --json`, the CLI in this process
    const cli1to1 = await cliInProcess(['verify', P1, P2, '--json']);
    const cliPair = JSON.parse(cli1to1.stdout) as Rec;
    expect(cli1to1.code, cli1to1.stderr).toBe(cliPair.verified ? 0 : 1);
    const apiPair = await facekit.verify(P1, P2);
    expect({ verified: apiPair.verified, distance: apiPair.distance, threshold: apiPair.threshold }).toEqual({
      verified: cliPair.verified, distance: cliPair.distance, threshold: cliPair.threshold,
    });
    expect(apiPair.warnings.join('\n')).toMatch(/more than one face/);
  });

  it('rejects bad input with a FacekitError naming the code and the file, and no face with []', async () => {
    await expect(facekit.detect(join(FIXTURES, 'bad', 'missing.jpg'))).rejects.toMatchObject({ code: 'not_found' });
    await expect(facekit.detect(join(FIXTURES, 'bad', 'text.jpg'))).rejects.toBeInstanceOf(FacekitError);
    expect(await facekit.detect(join(FIXTURES, 'bad', 'no-face.jpg'))).toEqual([]);
    await expect(facekit.verify(P1, join(FIXTURES, 'bad', 'no-face.jpg'))).rejects.toMatchObject({ code: 'no_face' });
    await expect(facekit.verify(P1, P2, { threshold: 5 })).rejects.toMatchObject({ code: 'usage' });
  });

  it('builds, saves, reopens and edits a gallery; identify() takes a photo or an embedding', async () => {
    const path = join(tempDir(), 'g', 'gallery.json');
    const g = await Gallery.open(path, { create: true });
    const added = await g.add('ana', [P2, join(FIXTURES, 'bad', 'no-face.jpg')]);
    expect(added.added).toHaveLength(1);
    expect(added.failed[0]).toMatchObject({ code: 'no_face' });
    expect((await g.add('ana', readFileSync(P2))).skipped).toHaveLength(1); // same content
    const [me] = await facekit.represent(P1);
    await g.addEmbedding('group-lead', me!.embedding!.vector);
    await g.save();

    const again = await Gallery.open(path);
    expect([...(await again.people())]).toEqual([['ana', 1], ['group-lead', 1]]);
    const [who] = await again.identify(P2, { topK: 2 });
    expect(who).toMatchObject({ identity: 'ana', verdict: 'match', threshold: 0.98 });
    expect(who!.candidates).toHaveLength(2);
    const [byVector] = await again.identify(new Float32Array(me!.embedding!.vector));
    expect(byVector!.identity).toBe('group-lead');
    await expect(again.rename('ana', 'group-lead')).rejects.toThrow(/would merge two people/);
    expect(await again.rename('ana', 'group-lead', { merge: true })).toBe(1);
    expect(await again.remove('group-lead')).toBe(2);
    expect(again.size).toBe(0);
  });

  it('replaces a worker thread that dies, failing only the job it ran', async () => {
    const pool = new WorkerPool(2, 'auto');
    try {
      const plan = buildPlan({ upTo: 'represent' });
      expect((await pool.run({ image: P2, plan }))[0]!.embedding).toBeDefined(); // warm
      const jobs = [pool.run({ image: P1, plan }), pool.run({ image: P1, plan })];
      await new Promise((r) => setTimeout(r, 20));
      await pool.threads()[0]!.terminate();
      const settled = await Promise.allSettled(jobs);
      const failed = settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[];
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(failed[0]!.reason).toBeInstanceOf(FacekitError);
      expect(String(failed[0]!.reason.message)).toMatch(/worker thread .* died/);
      expect(pool.replaced).toBe(1);
      expect(pool.threads()).toHaveLength(2);
      const after = await Promise.all([pool.run({ image: P2, plan }), pool.run({ image: P2, plan })]);
      for (const r of after) expect(r[0]!.embedding!.dim).toBe(192);

      // A job given up on (a request past its deadline) stops its worker, which is replaced.
      const job = { image: P1, plan };
      const running = pool.run(job);
      await new Promise((r) => setTimeout(r, 20));
      expect(pool.abort(job)).toBe(true);
      await expect(running).rejects.toThrow(/cancelled/);
      expect(pool.replaced).toBe(1); // a cancel is not a crash
      expect(pool.threads()).toHaveLength(2);
      expect((await pool.run({ image: P2, plan }))[0]!.embedding!.dim).toBe(192);
    } finally {
      await pool.close();
    }
  });

  it('stops a worker in the middle of an onnxruntime call without taking the process down', () => {
    // Terminating a thread while onnxruntime runs in it aborted the whole process (exit 134): jobs
    // given up on (a deadline) and a pool closed mid-batch stop their workers. faceplugin spends
    // most of an image in onnxruntime (3 faces, 75 ms each, twice with the mirror image), so these
    // cancels land inside its calls.
    const script = `
      const { WorkerPool } = await import(${JSON.stringify(join(ROOT, 'dist', 'pipeline', 'pool.js'))});
      const { buildPlan } = await import(${JSON.stringify(join(ROOT, 'dist', 'pipeline', 'plan.js'))});
      const pool = new WorkerPool(1, 'auto');
      const plan = buildPlan({ upTo: 'represent', model: 'faceplugin' });
      await pool.run({ image: ${JSON.stringify(P1)}, plan });
      // The cancels are spread over one warm job's own duration, so they land inside it however
      // fast or loaded the machine is (fixed delays let a fast machine finish most jobs first).
      const t0 = performance.now();
      await pool.run({ image: ${JSON.stringify(P1)}, plan });
      const took = performance.now() - t0;
      let cancelled = 0;
      for (let i = 1; i <= 12; i++) {
        const job = { image: ${JSON.stringify(P1)}, plan };
        const running = pool.run(job).catch((e) => { if (/cancelled/.test(e.message)) cancelled++; });
        await new Promise((r) => setTimeout(r, (took * i) / 16));
        pool.abort(job);
        await running;
      }
      const busy = pool.run({ image: ${JSON.stringify(P1)}, plan }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      await pool.close(); // mid-job
      await busy;
      console.log('alive', cancelled);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^alive \d+$/m);
    expect(Number(/^alive (\d+)$/m.exec(r.stdout)![1])).toBeGreaterThanOrEqual(6);
  });

  it('has no side effects on import: no process handlers, fetch untouched, nothing keeps the process up', () => {
    const script = `
      const fetch0 = globalThis.fetch;
      const events = ['unhandledRejection', 'uncaughtException', 'exit', 'SIGINT', 'SIGTERM', 'warning'];
      const before = events.map((e) => process.listenerCount(e));
      const fk = await import(${JSON.stringify(join(ROOT, 'dist', 'index.js'))});
      const faces = await fk.detect(${JSON.stringify(P2)});
      const after = events.map((e) => process.listenerCount(e));
      console.log(JSON.stringify({ faces: faces.length, fetchSame: globalThis.fetch === fetch0, before, after }));`;
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(res.status, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { faces: number; fetchSame: boolean; before: number[]; after: number[] };
    expect(out.fetchSame).toBe(true);
    expect(out.faces).toBeGreaterThan(0);
    expect(out.after).toEqual(out.before);
  });
});

describe('defects fixed on the way', () => {
  it('a record whose landmarks cannot be aligned becomes a bad_record error; the batch goes on', async () => {
    // the records `facekit detect sample1.jpg | facekit align - --out-dir DIR` carries on
    const det = JSON.parse(JSON.stringify(await facekit.detect(P1))) as Rec[];
    const broken = { ...det[1], landmarks: Object.fromEntries(Object.keys(det[1]!.landmarks).map((k) => [k, [10, 10]])) };
    const dir = tempDir();
    const out = JSON.parse(JSON.stringify(await facekit.extract([det[0], broken, det[2]] as facekit.FaceRecord[], { upTo: 'align', alignDir: dir }))) as Rec[];
    expect(out).toHaveLength(3);
    expect(out[1]!.error).toMatchObject({ code: 'bad_record' }); // not an internal error
    expect(out[1]!.aligned).toBeUndefined();
    for (const r of [out[0]!, out[2]!]) {
      expect(r.aligned).toBeDefined();
      expect(existsSync(r.aligned.path)).toBe(true);
    }
  });
});
