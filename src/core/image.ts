/**
 * Image input: every image is decoded once, here, with sharp: EXIF orientation applied, alpha
 * flattened onto white, grayscale / CMYK / 16-bit turned into 8-bit sRGB, and a pixel limit
 * checked from the header before any pixel is decoded (decompression bombs).
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Metadata } from 'sharp';
import { sharp } from './sharp.js';
import { FacekitError, fsError } from './errors.js';
import { readRegularFile } from './files.js';

/** Packed 8-bit RGB, row-major, 3 bytes per pixel. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  /**
   * Set when the image was shrunk as it was decoded (far larger than any stage needs): its size
   * in the file (after EXIF rotation). Records keep coordinates in these original pixels.
   */
  original?: { width: number; height: number };
}

/**
 * Images whose longer side is above this are shrunk to it while decoding (JPEG shrinks on load):
 * the detector works at 1280 px and an aligned face needs far fewer pixels than 4096 px give, while
 * a 40 MP photo decoded whole costs 120 MB and most of a second.
 */
export const DECODE_MAX_SIDE = 4096;

/** Original pixels per decoded pixel, along x and y (1 when not shrunk). */
export function decodeScale(img: RgbImage): [number, number] {
  return img.original ? [img.original.width / img.width, img.original.height / img.height] : [1, 1];
}

/** The image's size in the file (after EXIF rotation), whether or not it was shrunk. */
export function originalSize(img: RgbImage): { width: number; height: number } {
  return img.original ?? { width: img.width, height: img.height };
}

/**
 * 40 megapixels: more than a camera's full-size photo (a 7000x5000 frame is 35 MP), and a bound on
 * the time and memory that decoding one image can take. A face photo never needs more.
 */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/** The server's default: 24 MP (a 6000x4000 photo), since one request must not tie up a worker. */
export const SERVER_MAX_PIXELS = 24_000_000;

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.bmp']);

export function isImagePath(p: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(p).toLowerCase());
}

export interface DecodeOptions {
  maxPixels?: number;
  /** shrink while decoding when the longer side is above this (default DECODE_MAX_SIDE; Infinity: never) */
  maxSide?: number;
  /** called once the pixels decode on libuv's threads (this thread is free until they are done) */
  whileDecoding?: () => void;
}

/**
 * Read a file into memory with errors that name the path. Only regular files: a FIFO, a device
 * (/dev/zero) or a socket would block or never end.
 */
export async function readInputFile(path: string): Promise<Buffer> {
  let size = 0;
  try {
    size = (await stat(path)).size;
  } catch {
    /* readRegularFile names the problem */
  }
  if (size > MAX_IMAGE_BYTES) throw tooManyBytes(size, path);
  const buf = await readRegularFile(path);
  if (buf.length === 0) throw new FacekitError('empty_file', 'file is empty (0 bytes)', path);
  return buf;
}

/**
 * The most bytes an image may have, read from a file or stdin: far more than any photo within the
 * pixel limit needs (40 megapixels of uncompressed 16-bit RGB are 240 MB), and a bound on what an
 * endless input (`< /dev/zero`) can make facekit hold.
 */
export const MAX_IMAGE_BYTES = 256 * 1024 * 1024;

export function tooManyBytes(size: number | undefined, where: string): FacekitError {
  const mb = (n: number) => `${Math.round(n / 1e6)} MB`;
  return new FacekitError('too_large', `${size === undefined ? 'more than' : 'is'} ${mb(size ?? MAX_IMAGE_BYTES)}${size === undefined ? ' arrived' : ''}: larger than any image facekit reads (${mb(MAX_IMAGE_BYTES)})`, where);
}

/** Decode image bytes into RGB. `where` names the input in error messages. */
export async function decodeImage(bytes: Uint8Array, where: string, opts: DecodeOptions = {}): Promise<RgbImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new FacekitError('empty_file', 'file is empty (0 bytes)', where);
  if (looksLikeBmp(bytes)) {
    throw new FacekitError('not_an_image', 'BMP is not supported by the image decoder (sharp); convert it to PNG', where);
  }
  const video = videoFormat(bytes);
  if (video) {
    throw new FacekitError('not_an_image', `is a video (${video}), not an image: take a frame out of it first (e.g. ffmpeg -i VIDEO -frames:v 1 frame.jpg)`, where);
  }
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw sharpError(err, where);
  }
  if (!meta.width || !meta.height) throw new FacekitError('corrupt_image', 'image has no size in its header', where);
  const pixels = meta.width * meta.height;
  if (pixels > maxPixels) {
    throw new FacekitError('too_large',
      `image is ${meta.width}x${meta.height} (${(pixels / 1e6).toFixed(0)} megapixels), over the limit of ${(maxPixels / 1e6).toFixed(0)} megapixels (--max-pixels)`,
      where);
  }
  // EXIF orientations 5-8 turn the picture a quarter: its width and height swap.
  const turned = (meta.orientation ?? 1) >= 5;
  const size = { width: turned ? meta.height : meta.width, height: turned ? meta.width : meta.height };
  const maxSide = opts.maxSide ?? DECODE_MAX_SIDE;
  const shrink = Math.max(size.width, size.height) > maxSide;
  try {
    let pipeline = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', animated: false })
      .rotate(); // EXIF orientation
    if (shrink) pipeline = pipeline.resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true });
    const decoding = pipeline
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    opts.whileDecoding?.();
    const { data, info } = await decoding;
    if (info.channels !== 3) throw new FacekitError('corrupt_image', `decoded to ${info.channels} channels, expected 3`, where);
    const img: RgbImage = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
    if (shrink && (info.width !== size.width || info.height !== size.height)) img.original = size;
    return img;
  } catch (err) {
    if (err instanceof FacekitError) throw err;
    throw sharpError(err, where, true);
  }
}

/**
 * Pixels already decoded by the caller (a canvas, another library): 1 (grey), 2 (grey + alpha),
 * 3 (RGB) or 4 (RGBA) interleaved 8-bit channels, row-major.
 */
export interface DecodedImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

export function isDecodedImage(v: unknown): v is DecodedImage {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return false;
  const d = v as Partial<DecodedImage>;
  return (d.data instanceof Uint8Array || d.data instanceof Uint8ClampedArray) && typeof d.width === 'number' && typeof d.height === 'number';
}

/** Decoded pixels as packed RGB (alpha dropped, grey spread to three channels), checked. */
export function fromPixels(img: DecodedImage, where: string, opts: DecodeOptions = {}): RgbImage {
  const { width, height, channels } = img;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new FacekitError('corrupt_image', `pixels must have a positive integer width and height, got ${width}x${height}`, where);
  }
  if (![1, 2, 3, 4].includes(channels)) throw new FacekitError('corrupt_image', `pixels must have 1, 2, 3 or 4 channels, got ${String(channels)}`, where);
  if (width * height > maxPixels) throw new FacekitError('too_large', `image is ${width}x${height}, over the limit of ${maxPixels} pixels`, where);
  if (img.data.length !== width * height * channels) {
    throw new FacekitError('corrupt_image', `pixels hold ${img.data.length} bytes; ${width}x${height}x${channels} needs ${width * height * channels}`, where);
  }
  if (channels === 3) return { data: new Uint8Array(img.data), width, height };
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += channels) {
    const grey = channels <= 2;
    out[i * 3] = img.data[j]!;
    out[i * 3 + 1] = img.data[grey ? j : j + 1]!;
    out[i * 3 + 2] = img.data[grey ? j : j + 2]!;
  }
  return { data: out, width, height };
}

export async function loadImage(path: string, opts: DecodeOptions = {}): Promise<RgbImage> {
  return decodeImage(await readInputFile(path), path, opts);
}

function looksLikeBmp(b: Uint8Array): boolean {
  return b.length > 26 && b[0] === 0x42 && b[1] === 0x4d && b[14] !== undefined && [12, 40, 52, 56, 108, 124].includes(b[14]);
}

/**
 * sharp's error as one line. `headerRead`: the header was already read, so a failure now can only
 * mean damaged pixel data. That holds even when libvips loses its message: its error buffer is
 * shared between threads, and with several worker threads a truncated JPEG sometimes reports only
 * "Unknown error".
 */
export function sharpError(err: unknown, where: string, headerRead = false): FacekitError {
  const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  const known = msg !== '' && !/^unknown error$/i.test(msg.trim());
  if (/unsupported image format/i.test(msg)) {
    return new FacekitError('not_an_image', 'not an image (unknown format; expected JPEG, PNG, WebP, TIFF, GIF or AVIF)', where);
  }
  if (/pixel limit/i.test(msg)) return new FacekitError('too_large', 'image is over the pixel limit (--max-pixels)', where);
  if (/premature end|truncated|corrupt|bogus|invalid|bad|unexpected end|not enough data|read error|decode/i.test(msg)) {
    return new FacekitError('corrupt_image', `image data is damaged or truncated (${msg.replace(/^Input (buffer|file) has corrupt header: /, '')})`, where);
  }
  if (headerRead) return new FacekitError('corrupt_image', `image data is damaged or truncated${known ? ` (${msg})` : ''}`, where);
  return new FacekitError('corrupt_image', known ? `cannot decode image (${msg})` : 'cannot decode image', where);
}

/** Encode RGB pixels as PNG (lossless, so that stages chained through files compute the same numbers). */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}

/** Scale an image so that its longer side is at most `maxSide`; returns the scale factor applied. */
export async function downscale(img: RgbImage, maxSide: number, kernel: 'linear' | 'lanczos3' = 'linear'): Promise<{ image: RgbImage; scale: number }> {
  const longer = Math.max(img.width, img.height);
  if (longer <= maxSide) return { image: img, scale: 1 };
  const scale = maxSide / longer;
  const width = Math.max(1, Math.round(img.width * scale));
  const height = Math.max(1, Math.round(img.height * scale));
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { kernel, fit: 'fill' })
    .raw()
    .toBuffer();
  return { image: { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height }, scale: width / img.width };
}

/** Crop a region (clamped to the image) into a new RgbImage. */
export function cropImage(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  const x0 = Math.max(0, Math.floor(x));
  const y0 = Math.max(0, Math.floor(y));
  const x1 = Math.min(img.width, Math.ceil(x + w));
  const y1 = Math.min(img.height, Math.ceil(y + h));
  const cw = Math.max(1, x1 - x0);
  const ch = Math.max(1, y1 - y0);
  const out = new Uint8Array(cw * ch * 3);
  for (let row = 0; row < ch; row++) {
    const src = ((y0 + row) * img.width + x0) * 3;
    out.set(img.data.subarray(src, src + cw * 3), row * cw * 3);
  }
  return { data: out, width: cw, height: ch };
}

/** Surround an image with a border of `pad` pixels of edge colour (helps detectors on tight crops). */
export function padImage(img: RgbImage, pad: number, value = 0): RgbImage {
  const w = img.width + 2 * pad;
  const h = img.height + 2 * pad;
  const out = new Uint8Array(w * h * 3).fill(value);
  for (let row = 0; row < img.height; row++) {
    out.set(img.data.subarray(row * img.width * 3, (row + 1) * img.width * 3), ((row + pad) * w + pad) * 3);
  }
  return { data: out, width: w, height: h };
}

/**
 * Expand command-line inputs into image files: a file stays itself, a folder gives the images
 * in it and its subfolders (sorted, hidden files skipped).
 */
export async function listImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  // Symbolic links are followed (a folder of links to photos is common); a link back to a folder
  // already walked (a loop) is not entered twice. A broken link to an image is listed, so that
  // reading it reports the problem instead of skipping it without a word.
  const walked = new Set<string>();
  async function walk(d: string): Promise<void> {
    let real: string;
    let entries;
    try {
      real = await realpath(d);
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      throw fsError(err, d);
    }
    if (walked.has(real)) return;
    walked.add(real);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const target = await stat(p).catch(() => undefined);
        isDir = target?.isDirectory() ?? false;
        isFile = target ? target.isFile() : true;
      }
      if (isDir) await walk(p);
      else if (isFile && isImagePath(e.name)) out.push(p);
    }
  }
  await walk(dir);
  return out;
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    throw fsError(err, path);
  }
}

/**
 * Image bytes sent on stdin as a data: URL or bare base64 (as the HTTP APIs facekit replaces took
 * them). Returns null when the text is not that.
 */
export function decodeBase64Image(text: string): Buffer | null {
  const t = text.trim();
  const m = /^data:([\w/+.-]+)?(;[\w=-]+)*;base64,([A-Za-z0-9+/=\s]+)$/.exec(t);
  if (m) return Buffer.from(m[3] ?? '', 'base64');
  if (t.length >= 64 && /^[A-Za-z0-9+/=\s]+$/.test(t)) return Buffer.from(t, 'base64');
  return null;
}

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'avif';

/** The image format of raw bytes, from their magic numbers (the formats sharp reads), or null. */
export function imageFormat(b: Uint8Array): ImageFormat | null {
  const starts = (...sig: number[]) => sig.every((v, i) => b[i] === v);
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'png';
  if (starts(0x47, 0x49, 0x46)) return 'gif';
  if (starts(0x52, 0x49, 0x46, 0x46) && b[8] === 0x57) return 'webp';
  if (starts(0x49, 0x49, 0x2a, 0) || starts(0x4d, 0x4d, 0, 0x2a)) return 'tiff';
  if (b[4] === 0x66 && b[5] === 0x74 && b[6] === 0x79 && b[7] === 0x70) return 'avif';
  return null;
}

/** The container of video bytes (MP4/MOV, WebM/Matroska, AVI, MPEG, FLV, Y4M), or null. AVIF shares MP4's box layout: it is an image. */
export function videoFormat(b: Uint8Array): string | null {
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 12 && ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    return /^avi[fs]|^mif1|^msf1|^heic|^heix|^hevc|^heim|^heis/.test(brand) ? null : brand.startsWith('qt') ? 'QuickTime' : 'MP4';
  }
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'WebM / Matroska';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 11) === 'AVI') return 'AVI';
  if (b[0] === 0 && b[1] === 0 && b[2] === 1 && (b[3] === 0xba || b[3] === 0xb3)) return 'MPEG';
  if (b.length >= 3 && ascii(0, 3) === 'FLV') return 'FLV';
  // raw YUV frames behind a text header (what ffmpeg writes for .y4m, and Chromium's fake camera reads)
  if (b.length >= 9 && ascii(0, 9) === 'YUV4MPEG2') return 'Y4M';
  return null;
}

/** Image bytes piped on stdin or uploaded, as opposed to text. */
export function looksLikeImageBytes(b: Uint8Array): boolean {
  return imageFormat(b) !== null;
}
