/** `facekit serve` in a child process on a free loopback port, as a user starts it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN, ROOT, tempDir } from './cli.js';

export interface Served {
  url: string;
  proc: ChildProcess;
  stderr: () => string;
  /** send a signal and wait for the exit code */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

export interface ServeEnv {
  /** more environment variables for the server (FACEKIT_API_KEY) */
  env?: Record<string, string>;
  /** the server's working folder (where a database gallery keeps added photos: db/photos) */
  cwd?: string;
}

/** Start `facekit serve --port 0 ...args`; resolves once it says where it listens. */
export function serve(args: string[], opts: ServeEnv = {}): Promise<Served> {
  return start([BIN, 'serve', '--port', '0', ...args], opts);
}

/**
 * The built server's startServer() (dist/server/app.js) in a child process, for ServerOptions the
 * command line may not spell yet: { db, cors: [...], apiKey, ... }; the rest as `facekit serve`'s
 * defaults, with one worker. Talks and stops as `facekit serve` does.
 */
export function serveWith(options: Record<string, unknown>, opts: ServeEnv = {}): Promise<Served> {
  // a file, not node -e: the worker threads would inherit --input-type and refuse to start
  launcher ??= join(tempDir('facekit-launch-'), 'serve.mjs');
  writeFileSync(launcher, LAUNCHER);
  const moduleUrl = pathToFileURL(join(ROOT, 'dist', 'server', 'app.js')).href;
  return start([launcher, moduleUrl, JSON.stringify(options)], opts);
}

let launcher: string | undefined;
const LAUNCHER = `
    const [moduleUrl, json] = process.argv.slice(2);
    const log = (line) => process.stderr.write('facekit: serve: ' + line + '\\n');
    try {
      const { startServer } = await import(moduleUrl);
      const server = await startServer({
        host: '127.0.0.1', port: 0, workers: 1, backend: 'auto', maxPixels: 24000000, bodyLimit: 10000000,
        timeoutMs: 30000, queue: 8, maxBatch: 16, debug: false, log, ...JSON.parse(json),
      });
      log('listening on ' + server.url);
      const stop = () => server.stop().then(() => { log('stopped'); process.exit(0); });
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    } catch (err) {
      // as the CLI says a usage error: "facekit: --option: message"
      process.stderr.write('facekit: ' + (err && err.where ? err.where + ': ' : '') + (err instanceof Error ? err.message : String(err)) + '\\n');
      process.exit(2);
    }`;

function start(argv: string[], opts: ServeEnv): Promise<Served> {
  return new Promise((resolve, reject) => {
    // a key in the tester's own environment must not lock the servers of other tests
    const env = { ...process.env };
    delete env.FACEKIT_API_KEY;
    const proc = spawn(process.execPath, argv, { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...opts.env } });
    let err = '';
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    const timer = setTimeout(() => reject(new Error(`serve did not start in 90 s:\n${err}`)), 90_000);
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!, proc, stderr: () => err,
          stop: (signal = 'SIGTERM') => {
            if (proc.exitCode === null) proc.kill(signal);
            return exited;
          },
        });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening:\n${err}`));
    });
  });
}

/**
 * A multipart form as curl's -F builds it (and the Flask API's clients): "@path" uploads a file
 * under its field, anything else is a plain field.
 */
export function form(fields: Record<string, string | string[]>): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (item.startsWith('@')) fd.append(k, new Blob([readFileSync(item.slice(1))]), basename(item.slice(1)));
      else fd.append(k, item);
    }
  }
  return fd;
}
