/**
 * What `facekit serve` is started with, and what a started server offers. The command line builds
 * these and the server takes them; both import this one description from the API layer, since the
 * two adapters never import each other.
 */
import type { BackendChoice } from '../models/runtime.js';
import type { Subject } from '../models/catalogue.js';

export interface ServerOptions {
  db: string;
  host: string;
  port: number;
  workers: number;
  backend: BackendChoice;
  maxPixels: number;
  /** bytes */
  bodyLimit: number;
  /** per request, from its arrival to its answer */
  timeoutMs: number;
  /** images that may wait for a worker; more are refused with 503 */
  queue: number;
  /** images per request */
  maxBatch: number;
  debug: boolean;
  /**
   * Every route but GET / and GET /openapi.json needs this key (Authorization: Bearer KEY, or
   * X-API-Key: KEY). Undefined: the environment variable FACEKIT_API_KEY, if set; else no key.
   */
  apiKey?: string;
  /** Origins allowed to call the API from a browser (CORS), or ['*']; undefined or empty: CORS off. */
  cors?: string[];
  /**
   * Also serve the APIs facekit replaces, under their own paths (serve --compat): the workshop's
   * (routes/compat-workshop.ts) and the Flask face API's (routes/compat-flask.ts).
   */
  compat?: boolean;
  /**
   * A head from `facekit train` (its folder): POST /compare decides with it when the request's
   * model is the head's recognizer (a siamese head trained on signatures, for the signature API).
   */
  head?: string;
  /**
   * Where photos added over HTTP are kept, named by their sha256 (serve --photos): give instances
   * that serve one database gallery the same shared folder, and each shows the photos the others
   * added. Default: `photos/` beside a gallery file, `db/photos` for a database gallery.
   */
  photos?: string;
  /** a database gallery: pgvector's HNSW candidate list (serve --ef-search) */
  efSearch?: number;
  /** a gallery made on the first write holds faces (default) or whole images (`image`: mobilenetv2) */
  subject?: Subject;
  /** one line of talk (stderr) */
  log: (line: string) => void;
}

/** A started server, as the command line needs it. */
export interface ServerHandle {
  url: string;
  backend: string;
  /** whether an API key is needed */
  keyRequired: boolean;
  /** the gallery served, as it was when the server started */
  gallery: { location: string; people: number; faces: number; model: string };
  /** Stop taking requests, finish those under way and any gallery write, then stop the workers. */
  stop(opts?: { force?: boolean }): Promise<void>;
  inFlight(): number;
}

export type StartServer = (options: ServerOptions) => Promise<ServerHandle>;
