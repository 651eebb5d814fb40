/** Errors and exit codes: one line on stderr, a stack trace only with --debug; 0 ok, 1 a clean "no", 2 bad input. */
import type { Command } from 'commander';
import { FacekitError } from '../core/errors.js';
import { warn } from './output.js';

/* ---------------------------------------------------------------- errors and exit codes */

let debugMode = false;
export function setDebug(on: boolean): void {
  debugMode = on || debugMode;
}

/** Print an error the user can act on: one line, with a stack trace only in --debug. */
export function reportError(err: unknown): number {
  if (err instanceof FacekitError) {
    if (!err.quiet || debugMode) warn(err.line());
    if (debugMode && err.stack) process.stderr.write(err.stack + '\n');
    return err.exitCode;
  }
  const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
  warn(`internal error: ${msg}${debugMode ? '' : ' (run with --debug for details)'}`);
  if (debugMode && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  return 2;
}

/**
 * Wrap a command's action: options are checked, the action's returned exit code is used, and any
 * error becomes one line on stderr with exit code 2.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.opts() as { debug?: boolean };
    setDebug(Boolean(opts.debug));
    try {
      const code = await fn(...args);
      process.exitCode = code ?? 0;
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}
