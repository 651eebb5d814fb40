/**
 * `facekit db export` and `facekit db import`: a gallery as represent records (NDJSON, the same
 * contract as the stages), one per face, with its label and its photo's content hash; and back.
 * A gallery moves between stores (a file here, PostgreSQL there) through them.
 */
import type { Command } from 'commander';
import { DEFAULT_DETECTOR, Gallery } from '../../index.js';
import { action } from '../exit.js';
import { DEFAULT_MAX_PIXELS } from '../../core/image.js';
import { addDbOption, parseIndexPolicy, parseMetric } from '../options.js';
import { RecordWriter } from '../output.js';
import { buildDb, type BuildOptions } from './build-db.js';

/* Shared with db.ts. */
/** Open the gallery of --db, run `use`, close it. */
export async function withGallery<T>(db: string, use: (g: Gallery) => Promise<T>): Promise<T> {
  const g = await Gallery.open(db);
  try {
    return await use(g);
  } finally {
    await g.close();
  }
}

export function registerTransfer(db: Command): void {
  addDbOption(db.command('export').description('write every face of a gallery as represent records (NDJSON), with its label'), 'the gallery')
    .option('--out <file>', 'write the records to this file (atomically) instead of stdout')
    .action(action(async (opts: { db: string; out?: string }) => {
      const out = new RecordWriter(opts.out);
      await withGallery(opts.db, async (g) => {
        for await (const r of g.export()) await out.write(r);
      });
      await out.close();
      process.stderr.write(`facekit: exported ${out.count} faces of ${opts.db}\n`);
    }));

  const imp = db.command('import')
    .description('add represent records with labels (a `db export`, or `facekit represent` output) to a gallery')
    .argument('<records>', 'NDJSON records file, or - for stdin');
  addDbOption(imp, 'the gallery to create or update')
    .option('--metric <name>', 'distance the gallery is searched with: cosine | euclidean | euclidean_l2 (new galleries)', parseMetric)
    .option('--no-flip', 'the embeddings were made without the mirror image (new galleries)')
    .option('--index <how>', 'auto | exact | hnsw (file galleries)', parseIndexPolicy)
    .option('--json', 'print the summary as JSON on stdout', false);
  // records carry their embeddings: no model runs, so no engine options
  imp.action(action(async (input: string, opts: Pick<BuildOptions, 'db' | 'metric' | 'flip' | 'index' | 'json'>) => buildDb(input, {
    ...opts, detector: DEFAULT_DETECTOR, minScore: 0.5, allFaces: true, prune: false, records: true,
    backend: 'auto', maxPixels: DEFAULT_MAX_PIXELS, debug: false, workers: 1,
  })));
}
