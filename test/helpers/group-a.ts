/**
 * What the stage tests share (detect, align, normalize, represent, analyze; their library tests
 * in test/e2e/ and their command-line contracts in test/cli/stages.test.ts): the line the CLI
 * prints for an error record, a photo re-shown on a screen (a spoof), the artists' photos with
 * their people, and a real pipe of CLI processes.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import sharp from 'sharp';
import type { Facekit, FaceRecord, Gallery } from '../../dist/index.js';
import { ARTISTS, BIN, ROOT, type CliResult } from './cli.js';

/**
 * The line a stage command says on stderr for an error record (cli/stage.ts: the image, the face
 * when there is one, the message): the library test checks the record, the message the user reads.
 */
export function said(r: Pick<FaceRecord, 'image' | 'face' | 'error'>): string {
  if (!r.error) throw new Error(`not an error record: ${JSON.stringify(r)}`);
  return `${r.image}${r.face !== null && r.face !== undefined ? ` face ${r.face}` : ''}: ${r.error.message}`;
}

/** What each record holds: `ok`, or its error code. */
export const outcomes = (records: Pick<FaceRecord, 'error'>[]): string[] => records.map((r) => r.error?.code ?? 'ok');

/**
 * `photo` re-shown on a screen: shrunk, a pixel grid over it, a dark bezel around it. The default
 * spoof model scores it far below its threshold.
 */
export async function screenSpoof(photo: string, out: string): Promise<string> {
  const { data, info } = await sharp(photo).resize(360, 360, { fit: 'inside' }).modulate({ brightness: 1.1 }).toBuffer({ resolveWithObject: true });
  const grid = Buffer.alloc(info.width * info.height * 4);
  for (let y = 0; y < info.height; y++) for (let x = 0; x < info.width; x++) if (x % 3 === 0 || y % 3 === 0) grid[(y * info.width + x) * 4 + 3] = 70;
  const screen = await sharp(data).composite([{ input: grid, raw: { width: info.width, height: info.height, channels: 4 } }]).toBuffer();
  await sharp({ create: { width: info.width + 240, height: info.height + 200, channels: 3, background: '#1c1a18' } })
    .composite([{ input: screen, left: 120, top: 100 }]).blur(0.7).jpeg({ quality: 75 }).toFile(out);
  return out;
}

const IMAGE = /\.(jpe?g|png|webp|tiff?|gif|avif)$/i;

/**
 * The photos of a folder of people (DIR/<person>/...), sorted, each with its person as the CLI
 * labels it (the first folder below DIR).
 */
export function peoplePhotos(dir = ARTISTS): { image: string; label: string }[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => IMAGE.test(f))
    .sort()
    .map((f) => ({ image: join(dir, f), label: relative(dir, join(dir, f)).split(sep)[0]! }))
    .filter((p) => p.label !== relative(dir, p.image));
}

export interface PipeResult {
  /** each command's exit code and stderr, and what it printed (what the next one read) */
  stages: CliResult[];
  /** the last command's stdout */
  stdout: string;
}

/**
 * `facekit A | facekit B | ...`: the commands run at once, each one's stdout piped into the next
 * one's stdin, the first one fed `input`.
 */
export function runPipe(commands: string[][], input: string | Buffer): Promise<PipeResult> {
  const children = commands.map((args) => spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] }));
  const results = children.map((child, i) => new Promise<CliResult>((resolvePromise, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    const next = children[i + 1];
    if (next) child.stdout.pipe(next.stdin);
  }));
  children[0]!.stdin.end(input);
  return Promise.all(results).then((stages) => ({ stages, stdout: stages[stages.length - 1]!.stdout }));
}

/**
 * A gallery of 20 random 128-d resnet34 faces (p0..p19) at `location` (a file, or memory:), left
 * open, and a random query vector (nobody in it).
 */
export async function smallGallery(location: string, engine?: Facekit): Promise<{ db: string; gallery: Gallery; vector: number[] }> {
  const { Gallery } = await import('../../dist/index.js');
  const gallery = await Gallery.open(location, { create: { model: 'resnet34' }, ...(engine ? { engine } : {}) });
  let seed = 3;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  for (let p = 0; p < 20; p++) await gallery.addEmbedding(`p${p}`, Array.from({ length: 128 }, rnd));
  await gallery.save();
  return { db: location, gallery, vector: Array.from({ length: 128 }, rnd) };
}

/** A represent record of `vector` for the query image q<i>.jpg. */
export const embeddingRecord = (vector: number[], i: number) => ({ schema: 1, image: `q${i}.jpg`, face: 0, embedding: { model: 'resnet34', dim: 128, vector } });
