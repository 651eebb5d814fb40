/**
 * The stage commands as processes (detect, align, normalize, represent, analyze, and verify's
 * streams): what only a process can show. Exit codes, NDJSON on stdout, one line on stderr without
 * a stack trace, argv parsing, stdin (an image's bytes, a data: URL, records streamed through a
 * pipe), --out, output folders named by the command, and back-pressure on stdout. What the
 * records hold is tested through the library (test/e2e/detect, pipeline and analyze).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BIN, DEMO, FIXTURES, oneLine, records, runCli, tempDir } from '../helpers/cli.js';
import { embeddingRecord, runPipe, screenSpoof, smallGallery } from '../helpers/group-a.js';

const photo = join(DEMO, 'sample1.jpg');
const line = (o: unknown) => JSON.stringify(o) + '\n';
type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('stage commands: exit codes, stdout, stderr', () => {
  it('detect goes on past a bad file in a folder, then exits 2 with one line; --annotate names a folder of images', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'in'));
    copyFileSync(join(DEMO, 'sample1.jpg'), join(dir, 'in', 'a.jpg'));
    copyFileSync(join(FIXTURES, 'bad', 'truncated.jpg'), join(dir, 'in', 'b.jpg'));
    copyFileSync(join(DEMO, 'sample3.jpg'), join(dir, 'in', 'c.jpg'));
    writeFileSync(join(dir, 'in', 'notes.txt'), 'not an image, and not named like one: skipped');
    const res = await runCli(['detect', join(dir, 'in'), '--annotate', join(dir, 'annotated')]);
    expect(res.code).toBe(2);
    expect(oneLine(res.stderr)).toMatch(/b.jpg: image data is damaged or truncated/);
    // NDJSON: one record per line, in input order
    const recs = records(res.stdout) as Rec[];
    expect(res.stdout.endsWith('\n')).toBe(true);
    expect(recs.map((r) => `${r.image.split('/').pop()}:${r.error ? r.error.code : r.face}`)).toEqual(['a.jpg:0', 'a.jpg:1', 'a.jpg:2', 'b.jpg:corrupt_image', 'c.jpg:0', 'c.jpg:1', 'c.jpg:2']);
    expect(recs[3]).toMatchObject({ face: null, error: { code: 'corrupt_image' } });
    // a folder input gives a folder of annotated images, named as the inputs
    expect(readdirSync(join(dir, 'annotated')).sort()).toEqual(['a.jpg', 'c.jpg']);
  });

  it('a usage error, a missing file, garbage on stdin: one line on stderr (a stack trace only with --debug), nothing on stdout, exit 2', async () => {
    const cases: [string[], string, RegExp][] = [
      [['detect', 'missing.jpg'], '', /^facekit: missing.jpg: no such file or directory$/],
      [['detect', '--detector', 'yolo', 'x.jpg'], '', /^facekit: --detector must be one of blazeface, ssd, tiny, none; got "yolo"$/],
      [['detect', '--max-faces', 'two', 'x.jpg'], '', /--max-faces must be an integer, got "two"/],
      [['detect', join(FIXTURES, 'records')], '', /records: folder holds no images/],
      [['detect', '-'], 'hello, this is not an image\n', /^facekit: stdin: neither facekit records \(NDJSON\) nor an image/],
      [['normalize', photo, '--scheme', 'zscore'], '', /--scheme must be one of raw, unit, vggface, facenet, arcface, faceplugin, dlib; got "zscore"/],
      [['analyze', photo, '--actions', 'age,race'], '', /^facekit: --actions: unknown action "race": analyze offers age, gender, emotion, spoof$/],
    ];
    // none of these loads a model: they run at once
    const [debug, ...runs] = await Promise.all([runCli(['detect', 'missing.jpg', '--debug']), ...cases.map(([args, input]) => runCli(args, { input }))]);
    runs.forEach((res, i) => {
      const [args, , message] = cases[i]!;
      expect(res.code, args.join(' ')).toBe(2);
      expect(oneLine(res.stderr), args.join(' ')).toMatch(message);
      expect(res.stdout, args.join(' ')).toBe('');
    });
    expect(debug!.code).toBe(2);
    expect(debug!.stderr).toMatch(/missing.jpg: no such file or directory/);
    expect(debug!.stderr).toMatch(/\n\s+at /);
  });

  it('detect | align - | normalize - | represent -: records streamed through a pipe, files where --out-dir says; a broken line is said with its number', async () => {
    const dir = tempDir();
    const { stages, stdout } = await runPipe([
      ['detect', join(DEMO, 'sample2.jpg')], ['align', '-', '--out-dir', join(dir, 'aligned')], ['normalize', '-', '--out-dir', join(dir, 'norm')], ['represent', '-'],
    ], '');
    for (const s of stages) {
      expect(s.code, s.stderr).toBe(0);
      expect(s.stderr).toBe('');
      expect(records(s.stdout)).toHaveLength(3);
    }
    const recs = records(stdout) as Rec[];
    for (const r of recs) {
      expect(r.image).toBe(join(DEMO, 'sample2.jpg'));
      expect(Object.keys(r)).toEqual(expect.arrayContaining(['box', 'landmarks', 'aligned', 'normalized', 'embedding']));
      expect(r.embedding).toMatchObject({ model: 'mobilefacenet', dim: 192 });
      expect(existsSync(r.aligned.path)).toBe(true);
      expect(r.aligned.path.startsWith(join(dir, 'aligned'))).toBe(true);
      expect(r.normalized.path.startsWith(join(dir, 'norm'))).toBe(true);
    }
    // another scheme than the model's: a warning (one line), and the run goes on
    const other = await runCli(['normalize', '-', '--out-dir', join(dir, 'n2'), '--scheme', 'facenet'], { input: stages[1]!.stdout });
    expect(other.code).toBe(0);
    expect(oneLine(other.stderr)).toMatch(/scheme "facenet" is not what mobilefacenet was trained with \("arcface"\)/);
    expect((records(other.stdout) as Rec[]).map((r) => r.normalized.scheme)).toEqual(['facenet', 'facenet', 'facenet']);
    // a broken line in the middle of stdin: said once with its number, an error record in its place, the rest goes on
    const det = stages[0]!.stdout.trim().split('\n');
    const broken = await runCli(['align', '-', '--out-dir', join(dir, 'a2')], { input: `${det[0]}\nnot json\n${det[1]}\n` });
    expect(broken.code).toBe(2);
    expect(oneLine(broken.stderr)).toMatch(/^facekit: stdin line 2: not valid JSON/);
    expect((records(broken.stdout) as Rec[]).map((r) => (r.error ? r.error.message : 'ok'))).toEqual(['ok', expect.stringMatching(/^line 2: not valid JSON/), 'ok']);
  });

  it('analyze: NDJSON off a terminal; an image on stdin among files; a line per bad input, exit 2, the batch goes on', async () => {
    const dir = tempDir();
    const broken = join(dir, 'broken.jpg');
    writeFileSync(broken, readFileSync(photo).subarray(0, 3000));
    const blank = join(dir, 'blank.jpg');
    await sharp({ create: { width: 200, height: 200, channels: 3, background: '#888' } }).jpeg().toFile(blank);
    const res = await runCli(['analyze', broken, blank, '-', '--max-faces', '1', '--actions', 'gender'], { input: readFileSync(join(DEMO, 'sample6.jpg')) });
    expect(res.code).toBe(2);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/broken.jpg: image data is damaged or truncated/);
    expect(lines[1]).toMatch(/blank.jpg: no face found/);
    const recs = records(res.stdout) as Rec[];
    expect(recs.map((r) => r.error?.code ?? 'ok')).toEqual(['corrupt_image', 'no_face', 'ok']);
    expect(recs[2]).toMatchObject({ image: 'stdin', face: 0 });
    expect(Object.keys(recs[2]!.analysis).sort()).toEqual(['gender', 'genderScore', 'models']);
  });

  it('represent DIR/<person>/ --out FILE: records in the file, labelled with the person, nothing on stdout', async () => {
    const dir = tempDir();
    // pre-aligned crops (--skip-detect: no detector), one per person
    for (const [person, src] of [['ana', 'sample2.jpg'], ['bruno', 'sample3.jpg']] as const) {
      mkdirSync(join(dir, 'people', person), { recursive: true });
      await sharp(join(DEMO, src)).resize(112, 112, { fit: 'cover' }).png().toFile(join(dir, 'people', person, 'crop.png'));
    }
    const out = join(dir, 'faces.ndjson');
    const res = await runCli(['represent', join(dir, 'people'), '--skip-detect', '--out', out]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('');
    const recs = records(readFileSync(out, 'utf8')) as Rec[];
    expect(recs.map((r) => r.label)).toEqual(['ana', 'bruno']);
    for (const r of recs) {
      expect(r.image).toContain(`/people/${r.label}/`);
      expect(r).toMatchObject({ detector: 'skip', face: 0, embedding: { model: 'mobilefacenet', dim: 192 } });
    }
  });

  it('verify - b --anti-spoof: an image as a data: URL on stdin; a spoof is one line and exit 2', async () => {
    const single = join(DEMO, 'sample6.jpg');
    const spoof = await screenSpoof(single, join(tempDir(), 'screen.jpg'));
    const url = `data:image/jpeg;base64,${readFileSync(single).toString('base64')}`;
    const refused = await runCli(['verify', '-', spoof, '--anti-spoof', '--json'], { input: url });
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    // the photo on stdin is read (and found real): the one line is about the spoof
    expect(oneLine(refused.stderr)).toMatch(/^facekit: .*screen\.jpg: face looks like a spoof \(a photo of a photo or of a screen\): anti-spoof score [\d.]+ is below 0\.5 \(minifasnet\)/);
  });
});

describe('records stream through a process', () => {
  it('answers the first record before stdin has ended; exit 1 when a face is nobody in the gallery', async () => {
    const { db, gallery, vector } = await smallGallery(join(tempDir(), 'g.json'));
    await gallery.close();
    const child = spawn(process.execPath, [BIN, 'verify', '-', '--db', db, '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const firstOut = new Promise<boolean>((resolve) => {
      child.stdout.once('data', () => resolve(true));
      setTimeout(() => resolve(false), 60_000);
    });
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    const closed = new Promise<number | null>((r) => child.on('close', r));
    child.stdin.write(line(embeddingRecord(vector, 0)));
    // stdin stays open until the first answer is out: a command that waited for the end would never answer
    expect(await firstOut, 'no answer before the end of the input').toBe(true);
    expect(records(stdout)[0]).toMatchObject({ image: 'q0.jpg', verdict: 'unknown' });
    child.stdin.end(line(embeddingRecord(vector, 1)));
    // random vectors are nobody in the gallery: a clean "no"
    expect(await closed, stderr).toBe(1);
    expect(stderr).toBe('');
    expect(records(stdout).map((a) => [a.image, a.verdict])).toEqual([['q0.jpg', 'unknown'], ['q1.jpg', 'unknown']]);
  });

  it('pauses when its reader stops reading, instead of buffering without bound', async () => {
    const { db, gallery, vector } = await smallGallery(join(tempDir(), 'g.json'));
    await gallery.close();
    // two workers (the default on two cores): the stream then keeps up to four queries under way
    const child = spawn(process.execPath, [BIN, 'verify', '-', '--db', db, '--json', '--workers', '2'], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdout.pause(); // nobody reads the answers
    child.stdin.on('error', () => undefined); // the child is killed while we still write
    let written = 0;
    let stop!: () => void;
    const stopped = new Promise<void>((r) => { stop = r; });
    let feeding = true;
    const chunk = Array.from({ length: 100 }, (_, i) => line(embeddingRecord(vector, i))).join('');
    const feed = (async () => {
      while (feeding) {
        written += chunk.length;
        if (!child.stdin.write(chunk)) await Promise.race([once(child.stdin, 'drain').catch(() => undefined), stopped]);
      }
    })();
    // the window starts once the command answers (start-up on a busy machine takes a while)
    for (let t = 0; t < 1200 && child.stdout.readableLength === 0; t++) await new Promise((r) => setTimeout(r, 50));
    expect(child.stdout.readableLength, 'no answer while the input kept coming').toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 5000));
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
    const taken = written - child.stdin.writableLength; // what the command read, or what waits in the pipe
    feeding = false;
    stop();
    await feed;
    child.kill('SIGKILL');
    // Without back-pressure the command would read everything offered (hundreds of MB in 5 s)
    // and keep every answer in memory.
    expect(taken).toBeLessThan(64 * 1024 * 1024);
    expect(rss).toBeLessThan(300);
  }, 90_000);
});
