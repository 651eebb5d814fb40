/**
 * `facekit serve`: the pipeline as an HTTP API and a web page. The server itself (src/server/) is
 * the other adapter over the API; the CLI never imports it: the program's entry (src/main.ts)
 * hands this command a function that starts it.
 */
import type { Command } from 'commander';
import type { StartServer, Subject } from '../../index.js';
import { FacekitError } from '../../core/errors.js';
import { SERVER_MAX_PIXELS } from '../../core/image.js';
import { action } from '../exit.js';
import { addDbOption, addEfSearchOption, addEngineOptions, parseNumber, parseSubject, type CommonOptions } from '../options.js';
import { warn } from '../output.js';

interface ServeOptions extends CommonOptions {
  db: string;
  head?: string;
  subject?: Subject;
  efSearch?: number;
  photos?: string;
  host: string;
  port: number;
  bodyLimit: number;
  timeout: number;
  queue: number;
  maxBatch: number;
  apiKey?: string;
  cors?: string[];
  compat?: boolean;
}

export function register(program: Command, startServer?: StartServer): void {
  const cmd = program
    .command('serve')
    .description('the pipeline as an HTTP API (JSON) and a web page: detect, represent, compare, verify, gallery');
  addDbOption(cmd, 'the gallery to verify against and add to (created on the first add)', '--db <file>')
    .option('--host <address>', 'address to listen on (loopback: only this machine; 0.0.0.0 opens it to the network)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', parseNumber('--port', { min: 0, max: 65535, integer: true }), 8080)
    .option('--body-limit <MB>', 'largest request body, in megabytes', parseNumber('--body-limit', { min: 0.001 }), 10)
    .option('--timeout <s>', 'most seconds a request may take, waiting included (then 503)', parseNumber('--timeout', { min: 0.001 }), 30)
    .option('--queue <n>', 'images that may wait for a worker; a request beyond gets 503 + Retry-After', parseNumber('--queue', { min: 0, integer: true }), 8)
    .option('--max-batch <n>', 'most images in one request', parseNumber('--max-batch', { min: 1, integer: true }), 16)
    .option('--api-key <key>', 'require this key on every route but /, /docs and /openapi.json (Authorization: Bearer KEY, or X-API-Key: KEY); default: $FACEKIT_API_KEY, if set')
    .option('--cors <origins>', 'let web pages of these origins call the API: ORIGIN[,ORIGIN...] or * (off by default)', (v: string, prev: string[] = []) => [...prev, ...v.split(',')])
    .option('--subject <kind>', 'a gallery made by the first POST /gallery holds faces (default) or whole images (image: mobilenetv2); an existing gallery keeps its own', parseSubject)
    .option('--photos <dir>', 'where photos added over HTTP are kept, named by their sha256: one shared folder for every instance of a database gallery (default photos/ beside a gallery file, db/photos for a database)')
    .option('--head <dir>', 'a head from facekit train: POST /compare decides with it when the request\'s model is the head\'s recognizer (e.g. a siamese head on signatures)')
    .option('--compat', 'also serve the APIs facekit replaces, under their own paths: the workshop\'s (/status, /echo, /detect-face, /recognize-face, also under /deteccao-facial-api) and the Flask face API\'s (/api/...)');
  addEfSearchOption(cmd);
  addEngineOptions(cmd, SERVER_MAX_PIXELS, 'worker threads that run the models, each loads them once');
  cmd.addHelpText('after', `
Examples:
  $ facekit serve                                   http://127.0.0.1:8080, gallery db/gallery.json
  $ facekit serve --db team.json --port 9000
  $ curl -F image=@photo.jpg http://127.0.0.1:8080/verify
  $ curl -F label=ada -F images=@ada1.jpg -F images=@ada2.jpg http://127.0.0.1:8080/gallery
  $ FACEKIT_API_KEY=s3cret facekit serve --host 0.0.0.0 --cors https://app.example.com
  $ curl -H 'Authorization: Bearer s3cret' -F image=@photo.jpg http://HOST:8080/verify
  $ facekit serve --compat --port 8000             also the workshop's and the Flask face API's routes

The API is described at /openapi.json; the web page is at /. Ctrl-C (SIGINT) or SIGTERM stops it
after the requests under way are answered; a gallery write is never cut short.`);
  cmd.action(action(async (opts: ServeOptions) => {
    if (!startServer) throw new FacekitError('internal', 'this build of facekit has no server');
    return serve(opts, startServer);
  }));
}

async function serve(opts: ServeOptions, startServer: StartServer): Promise<number> {
  const server = await startServer({
    db: opts.db, host: opts.host, port: opts.port, workers: opts.workers, backend: opts.backend, maxPixels: opts.maxPixels,
    bodyLimit: Math.round(opts.bodyLimit * 1e6), timeoutMs: Math.round(opts.timeout * 1000), queue: opts.queue, maxBatch: opts.maxBatch,
    debug: opts.debug, apiKey: opts.apiKey, cors: opts.cors, compat: opts.compat === true, ...(opts.head !== undefined ? { head: opts.head } : {}), ...(opts.subject !== undefined ? { subject: opts.subject } : {}),
    ...(opts.efSearch !== undefined ? { efSearch: opts.efSearch } : {}), ...(opts.photos !== undefined ? { photos: opts.photos } : {}), log: (line) => warn(`serve: ${line}`),
  });
  const g = server.gallery;
  const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
  warn(`serve: listening on ${server.url} (gallery ${g.location}: ${n(g.people, 'person', 'people')}, ${n(g.faces, 'face', 'faces')}, ${g.model}; ${server.backend} backend)`);
  if (opts.host !== '127.0.0.1' && opts.host !== '::1' && opts.host !== 'localhost' && !server.keyRequired) {
    warn(`serve: listening on ${opts.host}: anyone who can reach this machine can use the API and change the gallery (no API key: see --api-key)`);
  }

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        const n = server.inFlight();
        warn(`serve: ${sig}: stopping after ${n} request${n === 1 ? '' : 's'} under way (again to cut them short)`);
        server.stop().then(resolve, (err: unknown) => {
          warn(`serve: error while stopping: ${err instanceof Error ? err.message : String(err)}`);
          resolve();
        });
      } else {
        warn('serve: cutting the open requests short; a gallery write under way still finishes');
        void server.stop({ force: true });
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  warn('serve: stopped');
  // Nothing should be left to keep the process up; if something is, do not hang on it.
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
  return 0;
}
