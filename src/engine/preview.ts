/**
 * Normalized tensors as pictures (`facekit normalize --preview`): what the model "sees", through
 * the scheme's fixed value range, with a caption that says the range.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, writeFileAtomic } from '../core/files.js';
import type { RgbImage } from '../core/image.js';
import { decodeNpy } from '../core/npy.js';
import type { FaceRecord } from '../core/records.js';
import { sharp } from '../core/sharp.js';
import { artifactStem } from '../pipeline/plan.js';
import { isSchemeId, previewTensor, type Scheme } from '../stages/normalization.js';

type ValueRange = Scheme['range'];

/**
 * What the model "sees": the tensor through the scheme's fixed range (black = its low end, white
 * its high end, clipped beyond), plus one grey picture per channel, each with a caption that
 * says the range.
 */
export async function writePreview(r: FaceRecord, dir: string): Promise<void> {
  const n = r.normalized!;
  await ensureDir(dir);
  const arr = decodeNpy(await readFile(n.path), n.path);
  const [, h, w] = arr.shape as [number, number, number, number];
  const scheme = isSchemeId(n.scheme) ? n.scheme : 'raw';
  const { rgb, channels, range } = previewTensor(arr.data, w, h, scheme);
  const stem = artifactStem(r.image, r.face ?? 0);
  await writeFileAtomic(join(dir, `${stem}.png`), await captioned(rgb, `scheme ${scheme}`, range));
  const names = ['R', 'G', 'B'];
  for (let c = 0; c < 3; c++) {
    await writeFileAtomic(join(dir, `${stem}-${names[c]}.png`), await captioned(channels[c]!, `${names[c]} channel, ${scheme}`, range));
  }
}

/** Previews are drawn at least this wide (whole-pixel zoom), so that the caption can be read. */
const PREVIEW_MIN_WIDTH = 400;

/** A number for a caption: 3 significant digits and a true minus sign. */
const num = (v: number) => Number(v.toPrecision(3)).toString().replace(/^-/, '\u2212');
const xml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * The picture zoomed by a whole factor (nearest neighbour: every tensor value stays one flat
 * square) over a caption strip: what is shown, the range from black to white, and a grey ramp
 * with its ends (and 0) marked.
 */
async function captioned(img: RgbImage, what: string, range: ValueRange): Promise<Buffer> {
  const k = Math.max(1, Math.ceil(PREVIEW_MIN_WIDTH / img.width));
  const W = img.width * k, H = img.height * k, capH = 84, pad = 12;
  const x = (v: number) => pad + ((v - range.lo) / (range.hi - range.lo)) * (W - 2 * pad);
  const ticks = [
    `<text x="${pad}" y="64" text-anchor="start">${num(range.lo)}</text>`,
    `<text x="${W - pad}" y="64" text-anchor="end">${num(range.hi)}</text>`,
  ];
  if (range.lo < 0 && range.hi > 0) {
    ticks.push(`<line x1="${x(0).toFixed(1)}" y1="28" x2="${x(0).toFixed(1)}" y2="50" stroke="#d00" stroke-width="1"/>`,
      `<text x="${x(0).toFixed(1)}" y="64" text-anchor="middle">0</text>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${capH}" font-family="'DejaVu Sans', 'Liberation Sans', Arial, sans-serif">
<defs><linearGradient id="ramp" x1="0" x2="1" y1="0" y2="0"><stop offset="0" stop-color="#000"/><stop offset="1" stop-color="#fff"/></linearGradient></defs>
<rect width="${W}" height="${capH}" fill="#fff"/>
<text x="${W / 2}" y="19" font-size="14" text-anchor="middle" fill="#111">${xml(`${what}: ${num(range.lo)} .. ${num(range.hi)} \u2192 black .. white`)}</text>
<rect x="${pad}" y="30" width="${W - 2 * pad}" height="18" fill="url(#ramp)" stroke="#888" stroke-width="1"/>
<g font-size="12" fill="#333">${ticks.join('')}</g>
<text x="${W / 2}" y="79" font-size="12" text-anchor="middle" fill="#666">${xml(range.note)}</text>
</svg>`;
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(W, H, { kernel: 'nearest' })
    .extend({ bottom: capH, background: '#ffffff' })
    .composite([{ input: Buffer.from(svg), top: H, left: 0 }])
    .png()
    .toBuffer();
}
