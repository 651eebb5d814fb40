/**
 * Work that several test files need, done once per `vitest run` instead of once per file: the
 * embeddings of the artists folder and of face-api's demo photos (embedding caches filled by
 * `facekit eval`), the output of a plain `facekit detect|represent PHOTO`, the records of a small
 * people folder. Whichever test asks first runs the real CLI and keeps the result in the run's
 * shared folder (test/helpers/global-setup.ts); tests in other files that ask meanwhile wait for
 * it. The test that owns a run checks it; a test that writes into a shared folder (a cache) works
 * on a copy (copyDir). Without that setup (another runner), each file does the work itself.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
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
    outcome = { ok: true, value: await build(dir) };
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

export interface ArtistsEmbeddings {
  /** the embedding cache that run filled: copy it before use (runs add to it) */
  cache: string;
  /** that run, `facekit eval ARTISTS --cache CACHE --json --workers 2`, on an empty cache */
  run: CliResult;
}

/**
 * The embeddings of every photo of ../shared/datasets/artists, computed once per test run by the
 * real `facekit eval ARTISTS --cache DIR` into an embedding cache; `eval` and `tsne` of the artists
 * folder then read them from a copy of that cache (the same cache, keyed by the same settings).
 */
export function artistsEmbeddings(): Promise<ArtistsEmbeddings> {
  return shared('artists-embeddings', async (dir) => {
    const cache = join(dir, 'cache');
    const run = await runCli(['eval', ARTISTS, '--cache', cache, '--json', '--workers', '2']);
    return { cache, run };
  });
}

export interface DemoEmbeddings {
  /** the embedding cache that run filled (face-api's sample1..6.jpg): copy it before use */
  cache: string;
  /** the ROC curve it drew */
  roc: string;
  /** that run, `facekit eval fixtures/eval/demo-pairs.csv --cache CACHE --json --roc ROC --workers 2`, on an empty cache */
  run: CliResult;
}

/**
 * The embeddings of face-api's six demo photos, computed once per test run by the real `facekit
 * eval` of fixtures/eval/demo-pairs.csv into an empty embedding cache (eval.test.ts checks that
 * run); tsne.test.ts places those photos as queries from a copy of the cache.
 */
export function demoEmbeddings(): Promise<DemoEmbeddings> {
  return shared('demo-embeddings', async (dir) => {
    const cache = join(dir, 'cache');
    const roc = join(dir, 'roc.svg');
    const run = await runCli(['eval', join(FIXTURES, 'eval', 'demo-pairs.csv'), '--cache', cache, '--json', '--roc', roc, '--workers', '2']);
    return { cache, roc, run };
  });
}

export interface DemoPeople {
  /** people/<ana|bruno|carla>/ with two of face-api's demo photos each (about 20 faces in all) */
  people: string;
  /** the records `facekit represent PEOPLE --out RECORDS --workers 2` wrote */
  records: string;
  run: CliResult;
}

/** Three "people" from face-api's demo photos and their represent records, once per test run. */
export function demoPeople(): Promise<DemoPeople> {
  return shared('demo-people', async (dir) => {
    const people = join(dir, 'people');
    for (const [person, photos] of [['ana', ['sample1.jpg', 'sample2.jpg']], ['bruno', ['sample3.jpg', 'sample4.jpg']], ['carla', ['sample5.jpg', 'sample6.jpg']]] as const) {
      mkdirSync(join(people, person), { recursive: true });
      for (const p of photos) copyFileSync(join(DEMO, p), join(people, person, p));
    }
    const records = join(dir, 'faces.ndjson');
    const run = await runCli(['represent', people, '--out', records, '--workers', '2']);
    return { people, records, run };
  });
}

/** A private copy of a shared folder, for a test that writes into it. */
export function copyDir(from: string): string {
  const to = join(tempDir('facekit-copy-'), 'copy');
  cpSync(from, to, { recursive: true });
  return to;
}
