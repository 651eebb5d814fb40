/**
 * Draw what detect found onto the image: boxes, landmarks and scores, as an SVG overlay that
 * sharp composites. The output format follows the file name (.jpg, .png, .webp).
 */
import { sharp } from './sharp.js';
import { decodeScale, type RgbImage } from './image.js';
import { scaleRecord } from './geometry.js';
import type { FaceRecord } from './records.js';

const COLOURS = ['#00e676', '#ffea00', '#00b0ff', '#ff4081', '#ff9100', '#d500f9'];

export function annotationSvg(width: number, height: number, records: FaceRecord[]): string {
  const unit = Math.max(1, Math.round(Math.max(width, height) / 500));
  const parts: string[] = [];
  for (const r of records) {
    if (!r.box || r.face === null) continue;
    const c = COLOURS[r.face % COLOURS.length]!;
    const [x, y, w, h] = r.box;
    parts.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="${c}" stroke-width="${2 * unit}"/>`);
    for (const p of Object.values(r.landmarks ?? {})) {
      parts.push(`<circle cx="${p[0]}" cy="${p[1]}" r="${1.5 * unit}" fill="${c}"/>`);
    }
    const label = `#${r.face} ${(r.score ?? 0).toFixed(2)}`;
    const fs = 12 * unit;
    // above the box; else below it; else (a face that fills the picture) inside its top edge;
    // and never past the picture's sides
    const below = y + h + fs + 2 * unit;
    const ty = y > fs + 4 * unit ? y - 3 * unit : below <= height ? below : Math.max(0, y) + fs + 2 * unit;
    const tx = Math.max(0, Math.min(x, width - label.length * fs * 0.62));
    parts.push(`<text x="${tx}" y="${ty}" font-family="DejaVu Sans, sans-serif" font-size="${fs}" font-weight="bold" fill="${c}" stroke="#000" stroke-width="${0.4 * unit}">${label}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** The annotated image, encoded as JPEG unless `format` says otherwise. */
export async function annotate(img: RgbImage, records: FaceRecord[], format: 'jpeg' | 'png' | 'webp' = 'jpeg'): Promise<Buffer> {
  // Records are in original pixels; a shrunk image is drawn on at its own size.
  const [sx, sy] = decodeScale(img);
  const overlay = Buffer.from(annotationSvg(img.width, img.height, records.map((r) => scaleRecord(r, 1 / sx, 1 / sy))));
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .composite([{ input: overlay, top: 0, left: 0 }])
    .toFormat(format, format === 'jpeg' ? { quality: 90 } : {})
    .toBuffer();
}
