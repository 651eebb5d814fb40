/**
 * A YUV4MPEG2 (.y4m) video made of still photos, for Chromium's fake camera
 * (--use-file-for-fake-video-capture=FILE.y4m): a text header, then each frame as "FRAME\n" and
 * its raw I420 planes (full-resolution Y, then quarter-resolution U and V). sharp gives the RGB
 * pixels; the conversion is BT.601 limited range, what Chromium assumes for y4m. No ffmpeg needed.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import sharp from 'sharp';

export interface Y4mOptions {
  width: number;
  height: number;
  /** frames per second written in the header: Chromium plays the file at this rate, looping */
  fps: number;
  /** how long each photo stays on screen */
  secondsPerPhoto: number;
}

/** RGB (3 bytes per pixel) to one I420 frame: Y per pixel, U and V averaged over each 2x2 block. */
export function rgbToI420(rgb: Buffer, width: number, height: number): Buffer {
  const cw = width / 2, ch = height / 2;
  const out = Buffer.alloc(width * height + 2 * cw * ch);
  const uOff = width * height, vOff = uOff + cw * ch;
  for (let i = 0, p = 0; i < width * height; i++, p += 3) {
    out[i] = Math.round(16 + 0.257 * rgb[p]! + 0.504 * rgb[p + 1]! + 0.098 * rgb[p + 2]!);
  }
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let r = 0, g = 0, b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
        const p = 3 * ((2 * y + dy) * width + 2 * x + dx);
        r += rgb[p]!; g += rgb[p + 1]!; b += rgb[p + 2]!;
      }
      r /= 4; g /= 4; b /= 4;
      out[uOff + y * cw + x] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      out[vOff + y * cw + x] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  }
  return out;
}

/**
 * Write `photos` (paths or encoded images) as a y4m video at `path`: each photo fitted into the frame (letterboxed, never
 * cropped, so that no face is cut off) and repeated for `secondsPerPhoto`. Returns the frame count.
 */
export async function writeY4m(path: string, photos: (string | Buffer)[], o: Y4mOptions): Promise<number> {
  if (o.width % 2 || o.height % 2) throw new Error('y4m I420 frames need an even width and height');
  const repeat = Math.max(1, Math.round(o.fps * o.secondsPerPhoto));
  const fd = openSync(path, 'w');
  let frames = 0;
  try {
    writeSync(fd, `YUV4MPEG2 W${o.width} H${o.height} F${o.fps}:1 Ip A1:1 C420jpeg\n`);
    for (const photo of photos) {
      const rgb = await sharp(photo).rotate().resize(o.width, o.height, { fit: 'contain', background: '#202020' })
        .removeAlpha().toColourspace('srgb').raw().toBuffer();
      const frame = rgbToI420(rgb, o.width, o.height);
      for (let i = 0; i < repeat; i++, frames++) {
        writeSync(fd, 'FRAME\n');
        writeSync(fd, frame);
      }
    }
  } finally {
    closeSync(fd);
  }
  return frames;
}
