/** `facekit models`: every model facekit can use, where it comes from, and what it does. */
import { statSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_DETECTOR, DEFAULT_RECOGNIZER, DETECTORS, RECOGNIZERS, type ModelInfo } from '../../models/catalogue.js';
import { modelPath } from '../../models/runtime.js';
import { action } from '../common.js';
import { plainTable } from './verify.js';

/** Bytes of a model's description and weight files on disk. */
export function modelBytes(m: ModelInfo): number {
  let total = 0;
  for (const f of m.files) {
    const path = modelPath(f.pkg, f.file);
    total += statSync(path).size;
    const json = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    const groups = (Array.isArray(json) ? json : (json as { weightsManifest: unknown[] }).weightsManifest) as { paths: string[] }[];
    for (const g of groups) for (const p of g.paths) total += statSync(join(dirname(path), p)).size;
  }
  return total;
}

export interface ModelRow {
  id: string;
  task: string;
  source: string;
  bytes: number;
  input: string;
  output: string;
  default: boolean;
  description: string;
}

export function modelRows(): ModelRow[] {
  const all: ModelInfo[] = [...Object.values(DETECTORS), ...Object.values(RECOGNIZERS)];
  return all.map((m) => ({
    id: m.id,
    task: m.task,
    source: [...new Set(m.files.map((f) => f.pkg))].join(', '),
    bytes: modelBytes(m),
    input: m.input,
    output: m.output,
    default: m.id === DEFAULT_DETECTOR || m.id === DEFAULT_RECOGNIZER,
    description: m.description,
  }));
}

export function register(program: Command): void {
  program
    .command('models')
    .description('list the models facekit can use (all ship inside npm packages)')
    .option('--json', 'print JSON instead of a table', false)
    .addHelpText('after', '\nExample:\n  $ facekit models')
    .action(action(async (opts: { json: boolean }) => {
      const rows = modelRows();
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return 0;
      }
      const table = plainTable(['model', 'task', 'source', 'size', 'input', 'output', 'default']);
      for (const r of rows) {
        table.push([r.id, r.task, r.source, `${(r.bytes / 1e6).toFixed(1)} MB`, r.input, r.output, r.default ? 'yes' : '']);
      }
      process.stdout.write(table.toString() + '\n');
      return 0;
    }));
}
