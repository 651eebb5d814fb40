/** `facekit models`: every model facekit can use, where it comes from, and what it does. */
import type { Command } from 'commander';
import { listModels } from '../../index.js';
import { action } from '../exit.js';
import { addFormatOptions, wantsTable, type FormatOptions } from '../options.js';
import { plainTable } from '../output.js';

export function register(program: Command): void {
  const cmd = program
    .command('models')
    .description('list the models facekit can use (all ship inside npm packages)')
    .addHelpText('after', '\nExample:\n  $ facekit models');
  addFormatOptions(cmd);
  cmd.action(action(async (opts: FormatOptions) => {
    const rows = listModels();
    if (!wantsTable(opts)) {
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
