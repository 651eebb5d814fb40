/** Run the built CLI as a user would: `node bin/facekit.js ...`, with stdin, capturing everything. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const BIN = join(ROOT, 'bin', 'facekit.js');
export const FIXTURES = join(ROOT, 'fixtures');
export const DEMO = join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
export const SHARED = resolve(ROOT, '..', 'shared', 'datasets');
export const ARTISTS = join(SHARED, 'artists');
export const LFW = join(SHARED, 'lfw-aligned');
export const hasArtists = existsSync(ARTISTS);
export const hasLfw = existsSync(join(LFW, 'pairs.txt'));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { input?: string | Buffer; cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

export function records(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function tempDir(prefix = 'facekit-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The stderr of a failed run must be a single line naming the problem, with no stack trace. */
export function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${stderr}`);
  if (/\n\s+at |Error:|node:internal/.test(stderr)) throw new Error(`stack trace on stderr:\n${stderr}`);
  return lines[0]!;
}
