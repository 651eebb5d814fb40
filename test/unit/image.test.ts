import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeBase64Image, decodeImage, looksLikeImageBytes, sharpError } from '../../src/core/image.js';
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
