import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeBase64Image, decodeImage, looksLikeImageBytes, sharpError, videoFormat } from '../../src/core/image.js';
import { annotationSvg } from '../../src/core/annotate.js';
import { FacekitError } from '../../src/core/errors.js';
import { FIXTURES } from '../helpers/cli.js';

async function failure(bytes: Uint8Array, opts = {}): Promise<string> {
  try {
    await decodeImage(bytes, 'in.jpg', opts);
  } catch (e) {
    if (e instanceof FacekitError) return `${e.code}: ${e.line()}`;
    throw e;
  }
  return 'decoded';
}

const solid = (channels: 3 | 4, background: string | { r: number; g: number; b: number; alpha?: number }) => sharp({ create: { width: 8, height: 6, channels, background } });

describe('decodeImage', () => {
  it('calls a failure after the header was read damaged data, even when libvips lost its message', () => {
    // With several worker threads libvips sometimes reports a truncated JPEG as "Unknown error".
    const lost = sharpError(new Error('Unknown error'), 'b.jpg', true);
    expect(lost.code).toBe('corrupt_image');
    expect(lost.message).toBe('image data is damaged or truncated');
    expect(sharpError(new Error('VipsJpeg: Premature end of JPEG file'), 'b.jpg', true).message).toBe('image data is damaged or truncated (VipsJpeg: Premature end of JPEG file)');
    expect(sharpError(new Error('Unknown error'), 'b.jpg').message).toBe('cannot decode image');
  });

  it('gives 8-bit RGB for every input kind', async () => {
    const inputs = await Promise.all([
      solid(3, '#ff0000').jpeg().toBuffer(),
      solid(4, { r: 0, g: 0, b: 255, alpha: 0.5 }).png().toBuffer(),
      solid(3, '#00ff00').webp().toBuffer(),
      solid(3, '#00ff00').tiff().toBuffer(),
      solid(3, '#00ff00').gif().toBuffer(),
      solid(3, '#808080').toColourspace('b-w').png().toBuffer(),
      solid(3, '#808080').toColourspace('grey16').png().toBuffer(),
      solid(3, '#ff0000').toColourspace('cmyk').jpeg().toBuffer(),
    ]);
    for (const b of inputs) {
      const img = await decodeImage(b, 'x');
      expect([img.width, img.height, img.data.length]).toEqual([8, 6, 8 * 6 * 3]);
    }
    // alpha is flattened onto white: half-transparent blue becomes light blue
    const blended = await decodeImage(inputs[1]!, 'x');
    expect(blended.data[0]).toBeGreaterThan(100);
    expect(blended.data[2]).toBe(255);
    // CMYK red stays red
    const cmyk = await decodeImage(inputs[7]!, 'x');
    expect(cmyk.data[0]).toBeGreaterThan(200);
    expect(cmyk.data[1]).toBeLessThan(60);
  });

  it('applies EXIF orientation', async () => {
    const rotated = await solid(3, '#123456').jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const img = await decodeImage(rotated, 'x');
    expect([img.width, img.height]).toEqual([6, 8]);
  });

  it('names the problem with broken inputs', async () => {
    expect(await failure(new Uint8Array())).toBe('empty_file: in.jpg: file is empty (0 bytes)');
    expect(await failure(readFileSync(join(FIXTURES, 'bad', 'text.jpg')))).toMatch(/^not_an_image: in.jpg: not an image/);
    expect(await failure(readFileSync(join(FIXTURES, 'bad', 'truncated.jpg')))).toMatch(/^corrupt_image: in.jpg: image data is damaged or truncated/);
    expect(await failure(readFileSync(join(FIXTURES, 'bad', 'huge-20000x20000.png')))).toBe(
      'too_large: in.jpg: image is 20000x20000 (400 megapixels), over the limit of 40 megapixels (--max-pixels)');
    const small = await solid(3, '#000').png().toBuffer();
    expect(await failure(small, { maxPixels: 10 })).toMatch(/^too_large/);
    const bmp = Buffer.alloc(60); bmp.write('BM', 0); bmp[14] = 40;
    expect(await failure(bmp)).toMatch(/BMP is not supported/);
  });
});

describe('stdin images', () => {
  it('reads data: URLs and bare base64', async () => {
    const png = await solid(3, '#000').png().toBuffer();
    expect(decodeBase64Image(`data:image/png;base64,${png.toString('base64')}`)).toEqual(png);
    expect(decodeBase64Image(png.toString('base64'))).toEqual(png);
    expect(decodeBase64Image('{"schema":1}')).toBeNull();
    expect(looksLikeImageBytes(png)).toBe(true);
    expect(looksLikeImageBytes(Buffer.from('hello'))).toBe(false);
  });
});

describe('issue 22: what a new user tripped on', () => {
  it('names a video as a video (MP4, QuickTime, WebM, AVI, Y4M), and an AVIF or HEIC still as an image', async () => {
    const ftyp = (brand: string) => Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from(`ftyp${brand}`), Buffer.alloc(12)]);
    expect(videoFormat(ftyp('isom'))).toBe('MP4');
    expect(videoFormat(ftyp('qt  '))).toBe('QuickTime');
    expect(videoFormat(Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0, 0, 0, 0]))).toBe('WebM / Matroska');
    expect(videoFormat(Buffer.from('RIFF\0\0\0\0AVI LIST'))).toBe('AVI');
    expect(videoFormat(Buffer.from('YUV4MPEG2 W640 H480 F5:1 Ip A1:1 C420jpeg\nFRAME\n'))).toBe('Y4M');
    expect(videoFormat(ftyp('avif'))).toBeNull();
    expect(videoFormat(ftyp('heic'))).toBeNull();
    expect(await failure(ftyp('mp42'))).toBe('not_an_image: in.jpg: is a video (MP4), not an image: take a frame out of it first (e.g. ffmpeg -i VIDEO -frames:v 1 frame.jpg)');
  });

  it('--annotate keeps the score labels inside the picture on tight crops (a face that fills it, a face at its right edge)', () => {
    const labels = (svg: string) => [...svg.matchAll(/<text x="([\d.-]+)" y="([\d.-]+)" [^>]*font-size="([\d.]+)"[^>]*>([^<]*)<\/text>/g)]
      .map((m) => ({ x: Number(m[1]), y: Number(m[2]), size: Number(m[3]), text: m[4]! }));
    const face = (box: [number, number, number, number], n = 0) => ({ schema: 1, image: 'crop.jpg', face: n, box, score: 0.987 });
    for (const [w, h, box] of [
      [112, 112, [0, 0, 112, 112]], // the whole crop
      [112, 112, [-6, -4, 124, 120]], // past every edge
      [200, 150, [150, 2, 50, 140]], // at the right edge, no room above or below
      [640, 480, [600, 300, 40, 40]], // room above, at the right edge
    ] as [number, number, [number, number, number, number]][]) {
      const [l] = labels(annotationSvg(w, h, [face(box)]));
      expect(l!.text).toBe('#0 0.99');
      // the text's box: from its baseline up one font size, about 0.62 em a character
      expect(l!.x, `x of ${box} in ${w}x${h}`).toBeGreaterThanOrEqual(0);
      expect(l!.x + l!.text.length * l!.size * 0.62, `right end of ${box} in ${w}x${h}`).toBeLessThanOrEqual(w + 0.01);
      expect(l!.y - l!.size, `top of ${box} in ${w}x${h}`).toBeGreaterThanOrEqual(0);
      expect(l!.y, `baseline of ${box} in ${w}x${h}`).toBeLessThanOrEqual(h);
    }
  });
});
