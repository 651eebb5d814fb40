/**
 * `facekit serve` in this test process: the built server (dist/server/app.js) with a warm engine
 * of one worker thread, listening on a free loopback port. Tests speak to it through fastify's
 * inject() (no socket), or over HTTP at `url` (a browser, a real client).
 */
import { afterAll } from 'vitest';
import { startServer, type RunningServer } from '../../dist/server/app.js';
import type { ServerOptions } from '../../dist/index.js';

export interface InProcessServer extends RunningServer {
  /** what the server said (its log lines), in order */
  log: string[];
}

const started: InProcessServer[] = [];

/** Start a server; it stops when the test file ends (or earlier with stop()). */
export async function serveInProcess(options: Partial<ServerOptions> & { db: string }): Promise<InProcessServer> {
  const log: string[] = [];
  // a key in the tester's own environment must not lock these servers
  const apiKey = options.apiKey;
  const saved = process.env.FACEKIT_API_KEY;
  delete process.env.FACEKIT_API_KEY;
  try {
    const s = await startServer({
      host: '127.0.0.1', port: 0, workers: 1, backend: 'auto', maxPixels: 24_000_000, bodyLimit: 10_000_000,
      timeoutMs: 30_000, queue: 8, maxBatch: 16, debug: false, log: (line) => log.push(line), ...options, apiKey,
    });
    const server = Object.assign(s, { log });
    started.push(server);
    return server;
  } finally {
    if (saved !== undefined) process.env.FACEKIT_API_KEY = saved;
  }
}

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop({ force: true }).catch(() => undefined)));
});
