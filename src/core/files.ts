/**
 * Writing files safely: every output facekit makes (galleries, records, crops, plots) goes through
 * a temporary file in the same folder and a rename, so a reader never sees half a file.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, fsyncSync, openSync, readSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { FacekitError, fsError } from './errors.js';

/**
 * Write a file atomically: a temporary file in the same folder, then a rename. `durable` also
 * flushes it to the disk before the rename (galleries: a power cut must not leave an empty file
 * under the new name).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { durable?: boolean } = {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await writeFile(tmp, data);
    if (opts.durable) syncFile(tmp);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined); // never leave a half-made file behind
    throw fsError(err, path);
  }
}

/** fsync a file that is already written (before it is renamed into place). */
export function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** mkdir -p, with an error that names the folder. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw fsError(err, dir);
  }
}

/**
 * Read a whole file, only if it is a regular file: a FIFO, a device (/dev/zero) or a socket would
 * block or never end. Errors name the path.
 */
export async function readRegularFile(path: string): Promise<Buffer> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new FacekitError('unreadable', 'is a directory, expected a file', path);
    if (!st.isFile()) throw new FacekitError('unreadable', 'not a regular file (a FIFO, device or socket); give a file, or - for stdin', path);
    return await readFile(path);
  } catch (err) {
    if (err instanceof FacekitError) throw err;
    throw fsError(err, path);
  }
}

/** Refuse a path that is not a regular file (before opening it: a FIFO would block the open). */
export function assertRegularFileSync(path: string, what = 'file'): void {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw fsError(err, path);
  }
  if (!st.isFile()) throw new FacekitError('unreadable', `${what} is not a regular file (a FIFO, device, socket or folder)`, path);
}

/** sha256 of bytes, as hex: how facekit names content (gallery photos, crops, sidecars). */
export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 of a regular file's content, read in blocks (no copy of a large file in memory), with errors that name the path. */
export async function fileSha256(path: string): Promise<string> {
  assertRegularFileSync(path);
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 8 << 20 })) hash.update(chunk as Buffer);
  } catch (err) {
    throw fsError(err, path);
  }
  return hash.digest('hex');
}

/** Whether a path is a folder (following links); false when it does not exist. */
export function isDirectorySync(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Files up to this size are checked against their full sha256 on every load (about 40 ms); larger ones by sampleDigest. */
export const FULL_CHECK_BYTES = 64 * 2 ** 20;

/**
 * Whether a load checks `size` bytes by their sample digest rather than their sha256: over
 * FULL_CHECK_BYTES, when the header records one, unless every byte is to be read (`full`).
 */
export const checkedBySample = (size: number, want: { sample?: string }, full: boolean): boolean => !full && want.sample !== undefined && size > FULL_CHECK_BYTES;

/** Blocks a sample digest reads, and their size: 256 KiB of any file. */
const SAMPLE_BLOCKS = 64;
const SAMPLE_BLOCK = 4096;

/**
 * A cheap fingerprint of large data: sha256 of its length and of 64 blocks of 4 KiB spread evenly
 * from its first byte to its last. It tells a truncated or padded file, or another file of the
 * same size, from the one it was made for; a byte changed between two blocks needs the full sha256.
 * `read(pos, len)` gives bytes of the data.
 */
export function sampleDigest(size: number, read: (pos: number, len: number) => Uint8Array): string {
  const hash = createHash('sha256').update(`${size}\n`);
  if (size <= SAMPLE_BLOCKS * SAMPLE_BLOCK) return hash.update(read(0, size)).digest('hex');
  const step = (size - SAMPLE_BLOCK) / (SAMPLE_BLOCKS - 1);
  for (let i = 0; i < SAMPLE_BLOCKS; i++) hash.update(read(Math.round(i * step), SAMPLE_BLOCK));
  return hash.digest('hex');
}

/** sampleDigest of bytes in memory. */
export const bytesSampleDigest = (bytes: Uint8Array): string => sampleDigest(bytes.length, (pos, len) => bytes.subarray(pos, pos + len));

/** sampleDigest of a file, by positioned reads (256 KiB of it, whatever its size). */
export function fileSampleDigest(path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const file = fd;
    return sampleDigest(fstatSync(file).size, (pos, len) => {
      const b = Buffer.alloc(len);
      return b.subarray(0, readSync(file, b, 0, len, pos));
    });
  } catch (err) {
    throw fsError(err, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
