/**
 * The command line in this test process: `main(argv)` of the built CLI (dist/cli/main.js, what
 * bin/facekit.js runs), with what it writes to stdout and stderr captured and the exit code it
 * sets read back. For the checks of argv parsing and of a command's output that need no process
 * of their own (no signals, no stdin, no exit): each costs no start of node and no model load
 * beyond this file's. The spawned CLI (runCli) stays for the contract a process alone shows.
 *
 * Importing dist/cli/main.js adds its process handlers (EPIPE on stdout, unhandled rejections)
 * to this test file's worker; runs go one at a time (tests of a file run in turn).
 */
import { main } from '../../dist/cli/main.js';
import type { CliResult } from './cli.js';

let busy = false;

/** `facekit ...args` in this process: exit code, stdout and stderr as a spawned CLI would give them. */
export async function cliInProcess(args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliResult> {
  if (busy) throw new Error('cliInProcess: one run at a time');
  busy = true;
  const out: string[] = [];
  const err: string[] = [];
  const saved = { out: process.stdout.write, err: process.stderr.write, exitCode: process.exitCode, env: { ...process.env } };
  const capture = (into: string[]) => ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;
  const tty = { out: Object.getOwnPropertyDescriptor(process.stdout, 'isTTY'), err: Object.getOwnPropertyDescriptor(process.stderr, 'isTTY') };
  process.exitCode = undefined;
  Object.assign(process.env, opts.env);
  // stdout and stderr are pipes, as for a spawned CLI: no progress bar, tables sized by $COLUMNS
  Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
  Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  try {
    await main(['node', 'facekit', ...args]);
    return { code: Number(process.exitCode ?? 0), stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    for (const [stream, d] of [[process.stdout, tty.out], [process.stderr, tty.err]] as const) {
      if (d) Object.defineProperty(stream, 'isTTY', d);
      else delete (stream as { isTTY?: boolean }).isTTY;
    }
    process.exitCode = saved.exitCode;
    for (const k of Object.keys(process.env)) if (!(k in saved.env)) delete process.env[k];
    Object.assign(process.env, saved.env);
    busy = false;
  }
}
