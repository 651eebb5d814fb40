/**
 * `facekit db export` and `facekit db import`: a gallery as represent records (NDJSON, the same
 * contract as the stages), one per face, with its label and its photo's content hash; and back.
 * A gallery moves between stores (a file here, PostgreSQL there) through them.
 */
import type { Command } from 'commander';
import { openGalleryReader, type GalleryEntry } from '../../api/recognition.js';
import { SCHEMA_VERSION, type FaceRecord } from '../../core/records.js';
import { DEFAULT_PLAN } from '../../api/pipeline.js';
import { action, defaultDb, parseIndexPolicy, RecordWriter } from '../common.js';
import { buildDb, type BuildOptions } from './build-db.js';


export function registerTransfer(db: Command): void {
  db.command('export')
    .description('write every face of a gallery as represent records (NDJSON), with its label')
    .option('--db <file|url>', 'the gallery', defaultDb())
    .option('--out <file>', 'write the records to this file (atomically) instead of stdout')
    .action(action(async (opts: { db: string; out?: string }) => {
      const reader = await openGalleryReader(opts.db);
      const out = new RecordWriter(opts.out);
      try {
        for await (const batch of reader.batches()) {
          for (let i = 0; i < batch.entries.length; i++) {
            await out.write(exportRecord(batch.entries[i]!, batch.vectors.subarray(i * reader.meta.dim, (i + 1) * reader.meta.dim), reader.meta.model));
          }
        }
        await out.close();
      } finally {
        await reader.close();
      }
      process.stderr.write(`facekit: exported ${out.count} faces of ${opts.db}\n`);
    }));

  db.command('import')
    .description('add represent records with labels (a `db export`, or `facekit represent` output) to a gallery')
    .argument('<records>', 'NDJSON records file, or - for stdin')
    .option('--db <file|url>', 'the gallery to create or update', defaultDb())
    .option('--metric <name>', 'distance the gallery is searched with: cosine | euclidean | euclidean_l2 (new galleries)')
    .option('--no-flip', 'the embeddings were made without the mirror image (new galleries)')
    .option('--index <how>', 'auto | exact | hnsw (file galleries)', parseIndexPolicy)
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(action(async (input: string, opts: { db: string; metric?: string; flip: boolean; index?: BuildOptions['index']; json: boolean }) => {
      const build: BuildOptions = {
        ...opts, detector: DEFAULT_PLAN.detector, minScore: DEFAULT_PLAN.minScore, allFaces: true, prune: false, records: true,
        backend: 'auto', maxPixels: 0, debug: false, workers: 1,
      };
      return buildDb(input, build);
    }));
}

function exportRecord(e: GalleryEntry, vector: Float32Array, model: string): FaceRecord {
  return {
    schema: SCHEMA_VERSION, image: e.image, face: e.face, ...(e.box ? { box: e.box } : {}), label: e.label, imageSha256: e.hash,
    embedding: { model, dim: vector.length, vector: Array.from(vector) },
  };
}
