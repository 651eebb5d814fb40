/**
 * `facekit serve` in a child process on a free loopback port, as a user starts it (for what only a
 * process shows: its start-up line, signals, exit codes); and requests to a server in this process
 * (test/helpers/app.ts) through fastify's inject(), sent as curl and fetch send them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { BIN, ROOT } from './cli.js';

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

/** What a request sends: a form, a JSON body, or raw bytes; and headers. */
export interface Sent {
  /** a multipart form (or curl -F style fields for form()), encoded as fetch encodes it: the same bytes, with a Content-Length */
  form?: FormData | Record<string, string | string[]>;
  /** a JSON body, sent with Content-Type: application/json unless `headers` say otherwise */
  json?: unknown;
  /** a raw body, with only the headers given (no Content-Type of its own) */
  body?: string | Buffer;
  headers?: Record<string, string>;
}

/** An answer to an injected request. */
export interface Injected {
  status: number;
  /** a header of the answer (the name in any case), as a string */
  header: (name: string) => string | undefined;
  headers: Record<string, unknown>;
  text: string;
  bytes: Buffer;
}

/** A request to an in-process server through fastify's inject(): no socket, the same routes, hooks and answers. */
export async function inject(server: { app: FastifyInstance }, method: string, url: string, sent: Sent = {}): Promise<Injected> {
  const headers: Record<string, string> = { ...sent.headers };
  let payload: string | Buffer | undefined;
  if (sent.form !== undefined) {
    const fd = sent.form instanceof FormData ? sent.form : form(sent.form);
    const encoded = new Request('http://localhost/', { method: 'POST', body: fd });
    payload = Buffer.from(await encoded.arrayBuffer());
    headers['content-type'] = encoded.headers.get('content-type')!;
  } else if (sent.json !== undefined) {
    payload = JSON.stringify(sent.json);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  } else if (sent.body !== undefined) {
    payload = sent.body;
  }
  const res = await server.app.inject({ method: method.toUpperCase() as 'GET', url, headers, ...(payload !== undefined ? { payload } : {}) });
  return {
    status: res.statusCode,
    header: (name) => {
      const v = res.headers[name.toLowerCase()];
      return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : String(v);
    },
    headers: res.headers,
    text: res.body,
    bytes: res.rawPayload,
  };
}
