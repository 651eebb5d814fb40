/**
 * Normalize: turn an aligned 8-bit crop into the float tensor a model takes. Each scheme is one
 * of the pixel scalings people meet when learning face recognition; each model needs exactly one.
 */
import type { RgbImage } from '../core/image.js';
import type { SchemeId } from '../models/catalogue.js';

export interface Scheme {
  id: SchemeId;
  description: string;
  apply(img: RgbImage): Float32Array;
  /** the values a preview shows from black to white (see `previewTensor`) */
  range: ValueRange;
}

/** A fixed span of tensor values, from the scheme's definition, never from the data. */
export interface ValueRange {
  lo: number;
  hi: number;
  /** how the span follows from the scheme, for the preview's caption */
  note: string;
}

/**
 * The span a linear per-channel scheme ((x - mean) / div) can reach for pixels 0..255, over the
 * three channels; made symmetric about 0 when the scheme centres the values, so that 0 (the
 * scheme's mean) is mid grey.
 */
function linearRange(mean: [number, number, number], div: number): ValueRange {
  const lo = Math.min(...mean.map((m) => (0 - m) / div));
  const hi = Math.max(...mean.map((m) => (255 - m) / div));
  if (lo < 0 && hi > 0) {
    const m = Math.max(-lo, hi);
    return { lo: -m, hi: m, note: '0 (the mean) is mid grey' };
  }
  return { lo, hi, note: div === 1 ? 'pixel values' : `pixel values / ${div}` };
}

const perChannel = (mean: [number, number, number], div: number) => (img: RgbImage): Float32Array => {
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i += 3) {
    out[i] = (img.data[i]! - mean[0]) / div;
    out[i + 1] = (img.data[i + 1]! - mean[1]) / div;
    out[i + 2] = (img.data[i + 2]! - mean[2]) / div;
  }
  return out;
};

export const SCHEMES: Record<SchemeId, Scheme> = {
  raw: { id: 'raw', description: 'pixel values as they are, 0..255', apply: perChannel([0, 0, 0], 1), range: linearRange([0, 0, 0], 1) },
  unit: { id: 'unit', description: 'scaled to 0..1 (x / 255)', apply: perChannel([0, 0, 0], 255), range: linearRange([0, 0, 0], 255) },
  vggface: {
    id: 'vggface',
    description: "per-channel mean subtracted, as VGG-Face does (R 129.19, G 104.76, B 93.59)",
    apply: perChannel([129.1863, 104.7624, 93.594], 1),
    range: linearRange([129.1863, 104.7624, 93.594], 1),
  },
  facenet: {
    id: 'facenet',
    description: "per-image standardisation, as FaceNet does ((x - mean) / max(std, 1/sqrt(n)))",
    apply: (img) => {
      const n = img.data.length;
      let sum = 0, sq = 0;
      for (let i = 0; i < n; i++) sum += img.data[i]!;
      const mean = sum / n;
      for (let i = 0; i < n; i++) sq += (img.data[i]! - mean) ** 2;
      const std = Math.max(Math.sqrt(sq / n), 1 / Math.sqrt(n));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = (img.data[i]! - mean) / std;
      return out;
    },
    // z-scores: unbounded in principle, so the preview shows 3 standard deviations either side
    range: { lo: -3, hi: 3, note: 'z-scores, clipped at 3 std' },
  },
  arcface: { id: 'arcface', description: "ArcFace's (x - 127.5) / 128", apply: perChannel([127.5, 127.5, 127.5], 128), range: linearRange([127.5, 127.5, 127.5], 128) },
  faceplugin: {
    id: 'faceplugin',
    description: "faceplugin's (x - 127) / 128 (its own JS does this)",
    apply: perChannel([127, 127, 127], 128),
    range: linearRange([127, 127, 127], 128),
  },
  dlib: {
    id: 'dlib',
    description: "dlib ResNet's per-channel mean (R 122.78, G 117.00, B 104.30) subtracted, / 255",
    apply: perChannel([122.782, 117.001, 104.298], 255),
    range: linearRange([122.782, 117.001, 104.298], 255),
  },
};

export function isSchemeId(s: string): s is SchemeId {
  return Object.hasOwn(SCHEMES, s);
}

export interface Normalized {
  /** [1, height, width, 3], NHWC like every tfjs image model */
  shape: number[];
  data: Float32Array;
  /** per-channel R, G, B */
  mean: number[];
  std: number[];
}

export function normalizeCrop(img: RgbImage, scheme: SchemeId): Normalized {
  const data = SCHEMES[scheme].apply(img);
  return { shape: [1, img.height, img.width, 3], data, ...channelStats(data) };
}

export function channelStats(data: Float32Array): { mean: number[]; std: number[] } {
  const sum = [0, 0, 0], sq = [0, 0, 0];
  const n = data.length / 3;
  for (let i = 0; i < data.length; i += 3) {
    for (let c = 0; c < 3; c++) sum[c]! += data[i + c]!;
  }
  const mean = sum.map((s) => s / n);
  for (let i = 0; i < data.length; i += 3) {
    for (let c = 0; c < 3; c++) sq[c]! += (data[i + c]! - mean[c]!) ** 2;
  }
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return { mean: mean.map(round), std: sq.map((s) => round(Math.sqrt(s / n))) };
}

/**
 * A viewable picture of a normalized tensor, through the scheme's fixed range (`SCHEMES[s].range`):
 * `lo` is black, `hi` white, values beyond are clipped. The same mapping for every channel and every
 * face, so that two schemes, or two faces, can be compared by eye. Returns the RGB picture, one
 * grey picture per channel (R, G, B) and the range used.
 */
export function previewTensor(data: Float32Array, width: number, height: number, scheme: SchemeId): { rgb: RgbImage; channels: RgbImage[]; range: ValueRange } {
  const range = SCHEMES[scheme].range;
  const span = range.hi - range.lo;
  const rgb = new Uint8Array(width * height * 3);
  const channels = [0, 1, 2].map(() => new Uint8Array(width * height * 3));
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const x = data[p * 3 + c]!;
      const v = Number.isNaN(x) ? 0 : Math.round(Math.min(1, Math.max(0, (x - range.lo) / span)) * 255);
      rgb[p * 3 + c] = v;
      const ch = channels[c]!;
      ch[p * 3] = ch[p * 3 + 1] = ch[p * 3 + 2] = v;
    }
  }
  return { rgb: { data: rgb, width, height }, channels: channels.map((d) => ({ data: d, width, height })), range };
}
