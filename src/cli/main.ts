/**
 * The facekit command line: one subcommand per stage plus the gallery, plotting and evaluation
 * commands. Data goes to stdout, talk to stderr; exit 0 success, 1 a clean "no", 2 bad input.
 */
import { Command, CommanderError } from 'commander';
import { reportError, setDebug } from './exit.js';
import { VERSION } from '../core/version.js';
import * as detect from './commands/detect.js';
import * as buildDb from './commands/build-db.js';
import * as verify from './commands/verify.js';
import * as db from './commands/db.js';
import * as models from './commands/models.js';
import * as align from './commands/align.js';
import * as normalize from './commands/normalize.js';
import * as represent from './commands/represent.js';
import * as analyze from './commands/analyze.js';
import * as tsne from './commands/tsne.js';
import * as evalCmd from './commands/eval.js';
import * as serve from './commands/serve.js';
import * as similar from './commands/similar.js';
import * as trainCmd from './commands/train.js';
import type { StartServer } from '../index.js';

/** What the program's entry hands the CLI: the other adapters it may start. */
export interface Adapters {
  startServer?: StartServer;
}


export function buildProgram(adapters: Adapters = {}): Command {
  const program = new Command();
  program
    .name('facekit')
    .description('The face-recognition pipeline, stage by stage: detect, align, normalize, represent, verify.')
    .version(VERSION, '-V, --version')
    .configureOutput({ outputError: (str, write) => write(`facekit: ${str.replace(/^error: /, '').trimEnd()} (see --help)\n`) })
    .addHelpText('after', `
Examples:
  $ facekit detect photo.jpg                          faces as NDJSON
  $ facekit build-db ./people                         one folder per person -> db/gallery.json
  $ facekit verify query.jpg                          who is this? (exit 0 match, 1 no match)
  $ facekit analyze photo.jpg                         age, gender, emotion, real or spoof
  $ facekit build-db ./products --subject image       any pictures: folders are categories
  $ facekit similar guitar.jpg --db products.json     the most similar pictures
  $ facekit detect img.jpg | facekit align - | facekit normalize - | facekit represent -`);
  program.exitOverride();
  const registrars: ((p: Command) => void)[] = [
    detect.register, align.register, normalize.register, represent.register, analyze.register, buildDb.register, verify.register, similar.register, db.register,
    models.register, (p) => serve.register(p, adapters.startServer), tsne.register, evalCmd.register, trainCmd.register,
  ];
  for (const register of registrars) register(program);
  for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());
  return program;
}

export async function main(argv: string[], adapters: Adapters = {}): Promise<void> {
  setDebug(argv.includes('--debug'));
  const program = buildProgram(adapters);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; everything commander rejects is bad usage
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.exitCode = reportError(err);
  }
}

// A reader that stops early (`facekit detect ... | head -1`) is not an error: stop quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.on('unhandledRejection', (err) => {
  process.exitCode = reportError(err);
});
