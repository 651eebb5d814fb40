/**
 * Plot files: the format a file name asks for, SVG to PNG through sharp, and the atomic write.
 * The only part of the plots that touches the disk.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { sharp } from '../../core/sharp.js';
import { FacekitError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/files.js';

export type PlotFormat = 'svg' | 'png';

/** The format a plot file's name asks for; anything but .svg / .png is a usage error. */
export function plotFormat(path: string, option: string): PlotFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.svg') return 'svg';
  if (ext === '.png') return 'png';
  throw new FacekitError('usage', `${option} must name a .svg or .png file, got "${path}"`);
}

/** SVG -> PNG at `scale` times the SVG's size. */
export async function svgToPng(svg: string, scale = 1.5): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale }).png({ compressionLevel: 9 }).toBuffer();
}

/** Write the plot as SVG or PNG (by the file name), atomically. */
export async function writePlot(path: string, svg: string, option = '--out'): Promise<void> {
  const format = plotFormat(path, option);
  await mkdir(dirname(path), { recursive: true }).catch(() => undefined);
  await writeFileAtomic(path, format === 'svg' ? svg : await svgToPng(svg));
}
