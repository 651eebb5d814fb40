/**
 * One interface over every place a gallery can live: a file (with its journal, lock and HNSW
 * graph), PostgreSQL + pgvector, PGlite, or memory. The library's Gallery, build-db, `facekit db`
 * and the server all go through it; store/open.ts tells the stores apart from a location.
 */
import type { Metric } from '../models/catalogue.js';
import type { GalleryEntry, GalleryMeta, Match } from './gallery.js';
import type { IndexPolicy } from './vector-index.js';

export type StoreKind = 'file' | 'postgres' | 'pglite' | 'memory';

/** A face to add: its entry and its embedding. */
export interface GalleryItem {
  entry: GalleryEntry;
  vector: ArrayLike<number>;
}

/** What `facekit db info` shows. */
export interface GalleryInfo {
  /** the file, or the database URL without its password */
  db: string;
  model: string;
  dim: number;
  metric: Metric;
  flip: boolean;
  detector: string;
  /** the projection head the gallery was built with (build-db --head) */
  head?: { path: string; tag: string };
  /** the gallery (1:N) threshold of the model and metric, when facekit has one (a head's gallery: null, the head has its own) */
  threshold: number | null;
  people: number;
  faces: number;
  created: string;
  /** how a search runs, in words */
  search: string;
}

/** What `facekit db check` found: the gallery's counts, and what was checked, a line per part. */
export interface GalleryCheck {
  db: string;
  faces: number;
  people: number;
  checked: string[];
}

/** A batch of faces in gallery order, with their vectors (row i is vectors[i*dim, (i+1)*dim)). */
export interface GalleryRows {
  entries: GalleryEntry[];
  vectors: Float32Array;
}

/** How a bulk build writes: journaled and saved whole at the end (file), or committed in batches (database). */
export interface BuildSink {
  readonly meta: GalleryMeta;
  /** faces an earlier, interrupted build finished (file galleries: its journal) */
  readonly resumed: number;
  /**
   * 'in': the gallery holds this photo; 'resumed': this build has its face already (an interrupted
   * run finished it). `face`: a record of one face of the photo (build-db -); the photo's first
   * face otherwise (a photo's faces are taken together).
   */
  isDone(hash: string, face?: number): 'in' | 'resumed' | false;
  /** Take one face; may wait (a database write), so that the source waits too instead of filling memory. */
  accept(item: GalleryItem): void | Promise<void>;
  /** faces this build added, and faces another writer added first (a database); exact after flush() */
  readonly counts: { added: number; alreadyIn: number };
  /** Store the faces taken so far that are still pending (a database's last batch). */
  flush(): Promise<void>;
  /** Store everything: prune entries whose photo file is gone when asked. `note` hears of slow steps. */
  finish(opts: { prune: boolean; note?: (line: string) => void }): Promise<{ pruned: number; people: number; faces: number }>;
  /** The build was stopped (or failed): keep what is finished for the next run; says what was kept, in words. */
  keep(): Promise<string>;
  /** The build is refused (or added nothing to a gallery it made): nothing of it stays, not even the gallery it made. */
  discard(): Promise<void>;
  /** whether this build made the gallery (it was not in its store before) */
  readonly created: boolean;
}

export interface BuildSinkOptions {
  /** the settings of a gallery made by this build (an existing one keeps its own) */
  meta: GalleryMeta;
  /** search index policy (file galleries) */
  index?: IndexPolicy;
  /** add every face of a photo: a photo in the gallery does not mean each of its faces is */
  allFaces: boolean;
}

export interface GalleryBackend {
  readonly location: string;
  readonly store: StoreKind;
  /** model, dim, metric, flip, detector (for a gallery not created yet: the settings it will get) */
  readonly meta: GalleryMeta;
  /** whether the gallery is in its store (a new one is created by its first write) */
  readonly exists: boolean;
  /** See what other writers (processes, machines) changed since the last look. */
  refresh(): Promise<void>;
  /** Faces and people as last seen, without asking the store. */
  counts(): { people: number; faces: number };
  /** Faces and people now, where the store keeps them cheaply (a database's catalogue row; other stores: as last seen). */
  countsNow(): Promise<{ people: number; faces: number }>;
  /** Faces per person, in the order the people came in. */
  people(): Promise<Map<string, number>>;
  /** The `k` nearest people, each with their nearest face, nearest first. */
  search(query: ArrayLike<number>, metric: Metric, k: number): Promise<Match[]>;
  /** Who has each of these photos (by content hash). */
  owners(hashes: string[]): Promise<Map<string, string>>;
  /** The entries of one photo (by content hash). */
  entriesOf(hash: string): Promise<GalleryEntry[]>;
  /** The first entry whose photo is `image` (a search answer names the photo; its entry has the hash). */
  entryOfImage(image: string): Promise<GalleryEntry | undefined>;
  /** Add faces in one write; a face already there (same photo and face) is skipped. Returns how many were added. */
  add(items: GalleryItem[]): Promise<number>;
  removePerson(label: string): Promise<number>;
  rename(from: string, to: string, opts: { merge?: boolean }): Promise<number>;
  /** Every face in gallery order, in batches (export, listing, plots): a large gallery never has to fit in memory. */
  rows(batch?: number): AsyncIterable<GalleryRows>;
  /** Rebuild the search index (or change how the gallery is searched); returns what was done, in words. */
  reindex(policy?: IndexPolicy): Promise<string>;
  info(): Promise<GalleryInfo>;
  /** Read the whole gallery against its checksums (`facekit db check`); damage is `bad_gallery`. */
  check(): Promise<GalleryCheck>;
  /** Start a bulk build (build-db, db import): holds the gallery's lock until finish() or keep(). */
  build(opts: BuildSinkOptions): Promise<BuildSink>;
  /** Resolves once the writes under way are stored. */
  idle(): Promise<void>;
  close(): Promise<void>;
}
