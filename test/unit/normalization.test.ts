import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { DEMO, runCli, tempDir } from '../helpers/cli.js';
import { normalizeCrop, previewTensor, SCHEMES } from '../../src/stages/normalization.js';

const img = { width: 2, height: 1, data: Uint8Array.from([0, 128, 255, 255, 128, 0]) };

describe('normalization schemes', () => {
  it('computes each scheme as documented', () => {
    expect(Array.from(normalizeCrop(img, 'raw').data)).toEqual([0, 128, 255, 255, 128, 0]);
    expect(normalizeCrop(img, 'unit').data[2]).toBe(1);
    expect(normalizeCrop(img, 'arcface').data[0]).toBeCloseTo(-127.5 / 128, 6);
    expect(normalizeCrop(img, 'dlib').data[0]).toBeCloseTo(-122.782 / 255, 6);
    expect(normalizeCrop(img, 'vggface').data[1]).toBeCloseTo(128 - 104.7624, 4);
    const f = normalizeCrop(img, 'facenet');
    const mean = Array.from(f.data).reduce((a, b) => a + b, 0) / 6;
    expect(mean).toBeCloseTo(0, 6);
    expect(Object.keys(SCHEMES).sort()).toEqual(['arcface', 'dlib', 'facenet', 'faceplugin', 'raw', 'unit', 'vggface']);
  });
  it('reports shape and per-channel statistics', () => {
    const n = normalizeCrop(img, 'raw');
    expect(n.shape).toEqual([1, 1, 2, 3]);
    expect(n.mean).toEqual([127.5, 128, 127.5]);
    expect(n.std).toEqual([127.5, 0, 127.5]);
  });
  it('previews a tensor through the scheme\'s fixed range: its low end black, its high end white, clipped beyond', () => {
    for (const [id, scheme] of Object.entries(SCHEMES)) {
      const { lo, hi } = scheme.range;
      expect(hi, id).toBeGreaterThan(lo);
      const { rgb, channels, range } = previewTensor(Float32Array.from([lo, (lo + hi) / 2, hi, lo - 1e3, hi + 1e3, NaN]), 2, 1, id as keyof typeof SCHEMES);
      expect(range).toEqual(scheme.range);
      expect(Array.from(rgb.data), id).toEqual([0, 128, 255, 0, 255, 0]);
      expect(channels).toHaveLength(3);
      expect(Array.from(channels[0]!.data)).toEqual([0, 0, 0, 0, 0, 0]);
      expect(Array.from(channels[2]!.data)).toEqual([255, 255, 255, 0, 0, 0]);
    }
    // the ranges come from the definitions: every pixel value 0..255 lands inside (facenet: z-scores, ±3)
    const black = { width: 1, height: 1, data: Uint8Array.from([0, 0, 0]) };
    const white = { width: 1, height: 1, data: Uint8Array.from([255, 255, 255]) };
    expect([SCHEMES.raw.range.lo, SCHEMES.raw.range.hi]).toEqual([0, 255]);
    expect([SCHEMES.unit.range.lo, SCHEMES.unit.range.hi]).toEqual([0, 1]);
    expect([SCHEMES.facenet.range.lo, SCHEMES.facenet.range.hi]).toEqual([-3, 3]);
    for (const id of ['raw', 'unit', 'arcface', 'dlib', 'vggface'] as const) {
      const { lo, hi } = SCHEMES[id].range;
      for (const v of [...normalizeCrop(black, id).data, ...normalizeCrop(white, id).data]) {
        expect(v).toBeGreaterThanOrEqual(lo - 1e-5 * Math.abs(lo)); // float32
        expect(v).toBeLessThanOrEqual(hi + 1e-5 * Math.abs(hi));
      }
      if (lo < 0) expect(hi).toBeCloseTo(-lo, 9); // centred schemes: 0 is mid grey
    }
    expect(SCHEMES.dlib.range.hi).toBeCloseTo((255 - 104.298) / 255, 6);
  });

  it('previews of the same face under two schemes differ (a min-max stretch made them alike)', async () => {
    const { data, info } = await sharp(join(DEMO, 'sample2.jpg')).resize(150, 150).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const face = { width: info.width, height: info.height, data: new Uint8Array(data) };
    const look = (scheme: 'raw' | 'unit' | 'dlib' | 'facenet' | 'vggface') => previewTensor(normalizeCrop(face, scheme).data, face.width, face.height, scheme).rgb.data;
    const diff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
    expect(diff(look('raw'), face.data)).toBe(0); // raw 0..255 is the picture itself
    expect(diff(look('unit'), look('raw'))).toBe(0); // unit is raw / 255: the same picture
    expect(diff(look('dlib'), look('raw'))).toBeGreaterThan(5);
    expect(diff(look('vggface'), look('dlib'))).toBeGreaterThan(2);
    expect(diff(look('facenet'), look('raw'))).toBeGreaterThan(5);
  });

  it('facekit normalize --preview writes the range under the picture', async () => {
    const dir = tempDir();
    const res = await runCli(['normalize', join(DEMO, 'sample2.jpg'), '--max-faces', '1', '--model', 'resnet34', '--scheme', 'dlib', '--out-dir', join(dir, 'n'), '--preview', join(dir, 'p')]);
    expect(res.code).toBe(0);
    const files = readdirSync(join(dir, 'p')).sort();
    expect(files).toHaveLength(4); // the picture and R, G, B
    const png = join(dir, 'p', files.find((f) => /-f0\.png$/.test(f))!);
    const meta = await sharp(png).metadata();
    expect(meta.width).toBe(450); // 150 x 3
    expect(meta.height).toBeGreaterThan(450 + 40); // the caption strip
    // the ramp in the caption: black at its left end, white at its right
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => data[(y * info.width + x) * 3]!;
    expect(at(14, 450 + 39)).toBeLessThan(20);
    expect(at(info.width - 14, 450 + 39)).toBeGreaterThan(235);
  });
});
