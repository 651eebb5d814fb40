/**
 * Records stream: a stage starts on the first record while its input is still arriving, a broken
 * line in the middle is reported and the rest goes on, and a reader that stops reading pauses the
 * work instead of letting memory grow.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, DEMO, records, runCli, tempDir } from '../helpers/cli.js';
import { cliOnce } from '../helpers/shared.js';

const line = (o: unknown) => JSON.stringify(o) + '\n';

async function smallGallery(): Promise<{ db: string; vector: number[] }> {
  const { Gallery } = await import('../../dist/index.js');
  const db = join(tempDir(), 'g.json');
  const g = await Gallery.open(db, { create: { model: 'resnet34' } });
  let seed = 3;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  for (let p = 0; p < 20; p++) g.addEmbedding(`p${p}`, Array.from({ length: 128 }, rnd));
  await g.save();
  return { db, vector: Array.from({ length: 128 }, rnd) };
}

const embeddingRecord = (vector: number[], i: number) => ({ schema: 1, image: `q${i}.jpg`, face: 0, embedding: { model: 'resnet34', dim: 128, vector } });

describe('records stream', () => {
  it('answers the first record before the input has ended', async () => {
    const { db, vector } = await smallGallery();
    const child = spawn(process.execPath, [BIN, 'verify', '-', '--db', db, '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const t0 = Date.now();
    const firstOut = new Promise<number>((resolve) => child.stdout.once('data', () => resolve(Date.now() - t0)));
    child.stdin.write(line(embeddingRecord(vector, 0)));
    // the next records come a second apart; the answer to the first must not wait for them
    const timer = setInterval(() => child.stdin.write(line(embeddingRecord(vector, 1))), 1000);
    const first = await firstOut;
    setTimeout(() => { clearInterval(timer); child.stdin.end(); }, 3000);
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(first).toBeLessThan(2500); // start-up plus one record, not the 3 s of input
    expect(Date.now() - t0).toBeGreaterThan(3000);
    expect(code).toBe(1); // random vectors are nobody in the gallery
  });

  it('reports a broken line in the middle with its number and goes on', async () => {
    const { db, vector } = await smallGallery();
    const input = line(embeddingRecord(vector, 0)) + '{"schema":1,"image":"x.jpg",\n' + line(embeddingRecord(vector, 2));
    const res = await runCli(['verify', '-', '--db', db, '--json'], { input });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/stdin line 2: not valid JSON/);
    const out = records(res.stdout);
    expect(out).toHaveLength(3);
    expect(out[1]).toMatchObject({ verdict: 'error', error: { code: 'bad_record' } });
    expect(out[2]).toMatchObject({ image: 'q2.jpg', verdict: 'unknown' });
    // and in a stage: align keeps the records after the broken one
    const det = (await cliOnce(['detect', join(DEMO, 'sample2.jpg')])).stdout.trim().split('\n');
    const al = await runCli(['align', '-', '--out-dir', tempDir()], { input: `${det[0]}\nnot json\n${det[1]}\n` });
    const recs = records(al.stdout);
    expect(recs.map((r) => (r.error ? (r.error as { message: string }).message : 'ok'))).toEqual(['ok', expect.stringMatching(/^line 2: not valid JSON/), 'ok']);
  });

  it('pauses when its reader stops reading, instead of buffering without bound', async () => {
    const { db, vector } = await smallGallery();
    const child = spawn(process.execPath, [BIN, 'verify', '-', '--db', db, '--json'], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdout.pause(); // nobody reads the answers
    child.stdin.on('error', () => undefined); // the child is killed while we still write
    let written = 0;
    let stop = false;
    const chunk = Array.from({ length: 100 }, (_, i) => line(embeddingRecord(vector, i))).join('');
    const feed = (async () => {
      while (!stop) {
        written += chunk.length;
        if (!child.stdin.write(chunk)) await new Promise<void>((r) => { const t = setTimeout(r, 200); child.stdin.once('drain', () => { clearTimeout(t); r(); }); });
      }
    })();
    await new Promise((r) => setTimeout(r, 6000));
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
    stop = true;
    await feed;
    child.kill('SIGKILL');
    // Without back-pressure the child would read everything offered (hundreds of MB in 6 s)
    // and keep every answer in memory.
    expect(written).toBeLessThan(64 * 1024 * 1024);
    expect(rss).toBeLessThan(300);
  }, 30_000);
});
