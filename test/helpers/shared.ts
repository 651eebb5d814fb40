/**
 * Work that several test files need, done once per `vitest run` instead of once per file: the
 * embeddings of the artists folder and of face-api's demo photos (embedding caches filled by
 * `evaluate`, as `facekit eval` does), the output of a plain `facekit detect|represent PHOTO`, the
 * records of a small people folder. Whichever test asks first does the work (the library in its
 * own process; cliOnce runs the real CLI) and keeps the result in the run's shared folder
 * (test/helpers/global-setup.ts); tests in other files that ask meanwhile wait for it. The test
 * that owns a build checks it; a test that writes into a shared folder (a cache) works on a copy
 * (copyDir). Without that setup (another runner), each file does the work itself.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import * as facekit from '../../dist/index.js';
import type { EvalReport, Facekit } from '../../dist/index.js';
import { ARTISTS, DEMO, FIXTURES, ROOT, runCli, tempDir, type CliResult } from './cli.js';

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

const inProcess = new Map<string, Promise<unknown>>();
let privateRoot: string | undefined;
let builtAt: string | undefined;

/**
 * The run's shared folder, one subfolder per build of dist/ (the newest mtime in it): in watch
 * mode, results of an older build are not handed out after `npm run build`.
 */
function root(): string {
  const base = inject('facekitSharedDir') ?? (privateRoot ??= tempDir('facekit-shared-'));
  builtAt ??= String(Math.max(0, ...readdirSync(join(ROOT, 'dist'), { recursive: true, encoding: 'utf8' })
    .map((f) => statSync(join(ROOT, 'dist', f)).mtimeMs)));
  const dir = join(base, `dist-${builtAt}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * `build(dir)` once per test run under `name`, its JSON result shared by every test file: the
 * first caller builds (in `dir`, a folder of its own under the run's shared folder), the others
 * wait for its result. A build that throws fails every caller with its message.
 */
export function shared<T>(name: string, build: (dir: string) => Promise<T>): Promise<T> {
  let p = inProcess.get(name) as Promise<T> | undefined;
  if (!p) {
    p = once(name, build);
    inProcess.set(name, p);
  }
  return p;
}

async function once<T>(name: string, build: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(root(), name);
  const done = `${dir}.json`;
  try {
    mkdirSync(dir); // atomic: exactly one caller gets to build
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return waitFor<T>(name, dir, done);
  }
  writeFileSync(join(dir, '.builder'), String(process.pid));
  let outcome: Outcome<T>;
  try {
    // the JSON round trip the other files get: the same value whichever file builds it
    outcome = { ok: true, value: JSON.parse(JSON.stringify(await build(dir))) as T };
  } catch (err) {
    outcome = { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  writeFileSync(`${done}.tmp`, JSON.stringify(outcome));
  renameSync(`${done}.tmp`, done);
  if (!outcome.ok) throw new Error(`shared ${name}: ${outcome.error}`);
  return outcome.value;
}

async function waitFor<T>(name: string, dir: string, done: string): Promise<T> {
  for (;;) {
    if (existsSync(done)) {
      const outcome = JSON.parse(readFileSync(done, 'utf8')) as Outcome<T>;
      if (!outcome.ok) throw new Error(`shared ${name} (built by another test file): ${outcome.error}`);
      return outcome.value;
    }
    const builder = Number(existsSync(join(dir, '.builder')) ? readFileSync(join(dir, '.builder'), 'utf8') : NaN);
    if (Number.isInteger(builder) && !alive(builder) && !existsSync(done)) {
      throw new Error(`shared ${name}: the test process that was building it (pid ${builder}) is gone`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `facekit ...args` (the built CLI, as runCli runs it) once per test run, for commands that only
 * print: several files need the very output of `facekit detect sample1.jpg` or `facekit represent
 * sample2.jpg`, and it is the same every time.
 */
export function cliOnce(args: string[]): Promise<CliResult> {
  const key = createHash('sha256').update(JSON.stringify(args)).digest('hex').slice(0, 16);
  return shared(`cli-${args[0]}-${key}`, () => runCli(args));
}

/**
 * What a command would have said, for builds that now run in the test process: the exit code the
 * CLI gives for that outcome, what it would print on stdout, and its warnings as stderr lines.
 */
function asRun(code: number, stdout: string, warnings: string[]): CliResult {
  return { code, stdout, stderr: warnings.map((w) => `facekit: ${w}\n`).join('') };
}

/**
 * An engine of one worker (this thread, whose loaded models stay for the file's other engines)
 * for one build, closed after it.
 */
async function withEngine<T>(fn: (engine: Facekit) => Promise<T>): Promise<T> {
  const engine = new facekit.Facekit({ workers: 1 });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/** An evaluation as shared: the report, the bad-input count and the warnings it gave. */
export interface SharedEvaluation {
  /** the embedding cache that evaluation filled: copy it before use (runs add to it) */
  cache: string;
  /** `evaluate(...).report`, as `facekit eval --json` prints it */
  report: EvalReport;
  /** `evaluate(...).problems`: bad pair lines plus unusable images (the CLI exits 2 when > 0) */
  problems: number;
  /** what evaluate() said through onWarn, in order */
  warnings: string[];
  /** the same as `facekit eval ... --json` would give it: code, stdout (the report), stderr (the warnings) */
  run: CliResult;
}

async function evaluateOnce(input: string, cache: string, roc?: string): Promise<Omit<SharedEvaluation, 'cache'>> {
  return withEngine(async (engine) => {
    const warnings: string[] = [];
    const e = await facekit.evaluate(input, { cache, engine, onWarn: (l) => warnings.push(l) });
    if (roc) await facekit.writePlot(roc, facekit.rocPlot(e), '--roc');
    const report = JSON.parse(JSON.stringify(e.report)) as EvalReport;
    return { report, problems: e.problems, warnings, run: asRun(e.problems > 0 ? 2 : 0, JSON.stringify(e.report) + '\n', warnings) };
  });
}

export type ArtistsEmbeddings = SharedEvaluation;

/**
 * The embeddings of every photo of ../shared/datasets/artists, computed once per test run by
 * `evaluate(ARTISTS, { cache: DIR })` (what `facekit eval ARTISTS --cache DIR --json` runs) into an
 * empty embedding cache, in the test process that asks first; `evaluate` and `project` of the
 * artists folder then read them from a copy of that cache (the same cache, keyed by the same
 * settings).
 */
export function artistsEmbeddings(): Promise<ArtistsEmbeddings> {
  return shared('artists-embeddings', async (dir) => {
    const cache = join(dir, 'cache');
    return { cache, ...(await evaluateOnce(ARTISTS, cache)) };
  });
}

export interface DemoEmbeddings extends SharedEvaluation {
  /** the ROC curve it drew (rocPlot through writePlot, as `--roc` does) */
  roc: string;
}

/**
 * The embeddings of face-api's six demo photos, computed once per test run by `evaluate` of
 * fixtures/eval/demo-pairs.csv (what `facekit eval demo-pairs.csv --cache CACHE --json --roc ROC`
 * runs) into an empty embedding cache (eval.test.ts checks that evaluation); tsne.test.ts and the
 * CLI contract tests of eval read those photos from a copy of the cache.
 */
export function demoEmbeddings(): Promise<DemoEmbeddings> {
  return shared('demo-embeddings', async (dir) => {
    const cache = join(dir, 'cache');
    const roc = join(dir, 'roc.svg');
    return { cache, roc, ...(await evaluateOnce(join(FIXTURES, 'eval', 'demo-pairs.csv'), cache, roc)) };
  });
}

export interface DemoPeople {
  /** people/<ana|bruno|carla>/ with two of face-api's demo photos each (about 20 faces in all) */
  people: string;
  /** their represent records (NDJSON, labelled by folder), as `facekit represent PEOPLE --out RECORDS` writes them */
  records: string;
  /** the same as that command would give it: code 0, or 2 when a photo failed (stdout empty: the records went to the file) */
  run: CliResult;
}

/**
 * Three "people" from face-api's demo photos and their represent records, once per test run:
 * `representEach` of the folder's photos with their folder's name as label (what `facekit represent
 * PEOPLE --out RECORDS` runs), in the test process that asks first.
 */
export function demoPeople(): Promise<DemoPeople> {
  return shared('demo-people', async (dir) => {
    const people = join(dir, 'people');
    const photos: { image: string; label: string }[] = [];
    for (const [person, files] of [['ana', ['sample1.jpg', 'sample2.jpg']], ['bruno', ['sample3.jpg', 'sample4.jpg']], ['carla', ['sample5.jpg', 'sample6.jpg']]] as const) {
      mkdirSync(join(people, person), { recursive: true });
      for (const p of files) {
        copyFileSync(join(DEMO, p), join(people, person, p));
        photos.push({ image: join(people, person, p), label: person });
      }
    }
    const records = join(dir, 'faces.ndjson');
    return withEngine(async (engine) => {
      const lines: string[] = [];
      const warnings: string[] = [];
      for await (const r of engine.representEach(photos)) {
        if (r.error) warnings.push(`${r.image}${r.face !== null && r.face !== undefined ? ` face ${r.face}` : ''}: ${r.error.message}`);
        lines.push(JSON.stringify(r));
      }
      writeFileSync(records, lines.map((l) => l + '\n').join(''));
      return { people, records, run: asRun(warnings.length > 0 ? 2 : 0, '', warnings) };
    });
  });
}

/** A private copy of a shared folder, for a test that writes into it. */
export function copyDir(from: string): string {
  const to = join(tempDir('facekit-copy-'), 'copy');
  cpSync(from, to, { recursive: true });
  return to;
}
