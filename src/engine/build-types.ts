/** What buildGallery takes and what it answers (the summary `facekit build-db` prints). */
import type { DetectorId, Metric, RecognizerId, Subject } from '../models/catalogue.js';
import type { IndexPolicy } from '../recognition/vector-index.js';
import type { Facekit } from './facekit.js';
import type { RunOptions } from './options.js';

export interface BuildOptions extends RunOptions {
  /** the gallery: a file, `pglite:DIR?gallery=NAME`, `postgres://…?gallery=NAME` or `memory:` (default db/gallery.json) */
  db?: string;
  /** `image`: whole images (folders are categories; an image recognizer, no detector) */
  subject?: Subject;
  /** a projection head from facekit train (its folder): the gallery holds its projections and records it */
  head?: string;
  /** recognition model (default: the gallery's; for a new one fed records, theirs; else the subject's) */
  model?: RecognizerId;
  detector?: DetectorId;
  minScore?: number;
  /** distance the gallery is searched with (new galleries; default euclidean_l2) */
  metric?: Metric;
  /** average each embedding with its mirror image's (default true; an existing gallery must match) */
  flip?: boolean;
  /** add every face of a photo, not only the largest */
  allFaces?: boolean;
  /** drop entries whose photo file is gone */
  prune?: boolean;
  /** how a file gallery is searched: auto | exact | hnsw (default: the gallery's, or auto) */
  index?: IndexPolicy;
  /** leave out faces the anti-spoofing model judges not real (each such photo is a failure) */
  antiSpoof?: boolean;
  /** the engine that embeds the photos (default: the shared one) */
  engine?: Facekit;
  /** talk for a person: a photo that failed, one with several faces, a slow step */
  onWarn?: (line: string) => void;
}

/** What a build did: the summary `facekit build-db` prints (`--json`). */
export interface BuildSummary {
  db: string;
  model: string;
  /** people in the input */
  people: number;
  /** photos (or records' images) in the input */
  images: number;
  added: number;
  /** photos already in the gallery (by content) */
  skipped: number;
  /** faces an interrupted earlier build had finished */
  resumed: number;
  pruned: number;
  /** faces left out because a photo held more than one (without allFaces) */
  otherFaces: number;
  failures: { image: string; code: string; message: string }[];
  peopleWithoutPhotos: string[];
  galleryPeople: number;
  galleryFaces: number;
  seconds: number;
  /** the signal stopped the build: what was finished and kept for the next run, in words (a journal, committed batches) */
  stopped?: string;
}

