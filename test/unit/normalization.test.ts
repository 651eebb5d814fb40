import { describe, expect, it } from 'vitest';
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
    expect(Object.keys(SCHEMES).sort()).toEqual(['arcface', 'dlib', 'facenet', 'raw', 'unit', 'vggface']);
  });
  it('reports shape and per-channel statistics', () => {
    const n = normalizeCrop(img, 'raw');
    expect(n.shape).toEqual([1, 1, 2, 3]);
    expect(n.mean).toEqual([127.5, 128, 127.5]);
    expect(n.std).toEqual([127.5, 0, 127.5]);
  });
  it('stretches a tensor back to a viewable picture', () => {
    const { rgb, channels } = previewTensor(normalizeCrop(img, 'arcface').data, 2, 1);
    expect(Array.from(rgb.data)).toEqual([0, 0, 255, 255, 0, 0]);
    expect(channels).toHaveLength(3);
  });
});
