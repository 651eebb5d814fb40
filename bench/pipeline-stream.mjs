#!/usr/bin/env node
// Streaming through a shell pipe: time to the first record at the end of
//   detect DIR | align - | normalize - | represent - | verify - --db G --json
// against detect alone, and the whole pipe against the stages run one after another.
//   node bench/pipeline-stream.mjs [artists|lfw2000]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fk = `node ${join(root, 'bin', 'facekit.js')}`;
const shared = resolve(root, '..', 'shared', 'datasets');
const which = process.argv[2] ?? 'artists';
const work = mkdtempSync(join(tmpdir(), 'facekit-stream-'));

let dir;
if (which === 'artists') dir = join(shared, 'artists');
else {
  // 2000 LFW crops, linked into one folder
  dir = join(work, 'lfw');
  mkdirSync(dir);
  let n = 0;
  const images = join(shared, 'lfw-aligned', 'images');
  for (const person of readdirSync(images).sort()) {
    for (const f of readdirSync(join(images, person)).sort()) {
      if (n >= 2000) break;
      symlinkSync(join(images, person, f), join(dir, f));
      n++;
    }
    if (n >= 2000) break;
  }
}
if (!existsSync(dir)) {
  console.log(`bench: ${dir} is not here`);
  process.exit(0);
}
const db = join(work, 'g.json');
spawnSync('bash', ['-c', `${fk} build-db ${join(shared, 'artists')} --db ${db} > /dev/null 2>&1`]);

/** Run a shell command; resolves with the time of its first stdout byte and its end, in seconds. */
function timed(cmd) {
  return new Promise((res) => {
    const t0 = process.hrtime.bigint();
    const s = () => Number(process.hrtime.bigint() - t0) / 1e9;
    const child = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'ignore'] });
    let first;
    let lines = 0;
    child.stdout.on('data', (c) => {
      first ??= s();
      lines += c.toString().split('\n').length - 1;
    });
    child.on('close', () => res({ first, end: s(), lines }));
  });
}

const f = (x) => (x === undefined ? '-' : x.toFixed(2));
const files = (k) => join(work, `${k}.ndjson`);
console.log(`# ${which}: ${dir}`);
const detect = await timed(`${fk} detect ${dir} > ${files('det')}; cat ${files('det')}`);
const align = await timed(`${fk} align ${files('det')} --out-dir ${work}/al > ${files('al')}; cat ${files('al')}`);
const norm = await timed(`${fk} normalize ${files('al')} --out-dir ${work}/no > ${files('no')}; cat ${files('no')}`);
const rep = await timed(`${fk} represent ${files('no')} > ${files('rep')}; cat ${files('rep')}`);
const ver = await timed(`${fk} verify ${files('rep')} --db ${db} --json`);
const sum = detect.end + align.end + norm.end + rep.end + ver.end;
console.log(`one after another: detect ${f(detect.end)} s, align ${f(align.end)} s, normalize ${f(norm.end)} s, represent ${f(rep.end)} s, verify ${f(ver.end)} s; sum ${f(sum)} s`);
const alone = await timed(`${fk} detect ${dir}`);
console.log(`detect alone: first record after ${f(alone.first)} s, all ${alone.lines} records after ${f(alone.end)} s`);
const pipe = await timed(`${fk} detect ${dir} | ${fk} align - --out-dir ${work}/al2 | ${fk} normalize - --out-dir ${work}/no2 | ${fk} represent - | ${fk} verify - --db ${db} --json`);
console.log(`the five-stage pipe: first answer after ${f(pipe.first)} s, all ${pipe.lines} answers after ${f(pipe.end)} s (${(100 * pipe.end / sum).toFixed(0)}% of the sum)`);
