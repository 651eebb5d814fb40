#!/usr/bin/env node
/**
 * Synthetic spoofs of real photos, to measure analyze's anti-spoofing (README "analyze: accuracy"):
 *   node scripts/make-spoofs.mjs ARTISTS_DIR OUT_DIR
 * writes OUT_DIR/<kind>/<person>/<photo>.jpg for each photo, one folder per kind:
 * - screen: the photo shown on a page in headless Chromium (Debian's /usr/bin/chromium) as on a
 *   tilted monitor: perspective, a visible pixel grid, a backlight's low contrast and a glare
 *   spot, then the page "re-photographed" (a screenshot, blurred and recompressed as a phone would);
 * - moire: two fine line gratings at slightly different angles multiplied in (a camera's sampling
 *   of a screen's or a print's dot pattern);
 * - halftone: each channel printed as dots on a 5 px grid (a magazine or laser print), softened;
 * - jpeg: shrunk to a third and re-compressed twice at quality 12 (a photo passed around and reshot);
 * - glare: contrast lowered, a warm cast and a bright specular patch (glossy print under a lamp).
 * None of these is a real presentation attack (no paper, no real screen, no camera): see the README.
 */
import { mkdirSync, readdirSync, existsSync } from 'node:fs';
import { join, basename, extname } from 'node:path';
import sharp from 'sharp';

const [src, out] = process.argv.slice(2);
if (!src || !out) { console.error('usage: make-spoofs.mjs ARTISTS_DIR OUT_DIR'); process.exit(2); }
const isImage = (f) => /\.(jpe?g|png|webp)$/i.test(f);
const photos = readdirSync(src).sort().flatMap((p) => readdirSync(join(src, p)).filter(isImage).sort().map((f) => ({ person: p, file: f })));

async function raw(path, maxSide = 900) {
  const { data, info } = await sharp(path).rotate().resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}
const save = (img, path, quality = 90) => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toFile(path);
const clamp = (v) => (v < 0 ? 0 : v > 255 ? 255 : v);

function moire(img) {
  const { width: w, height: h } = img;
  const d = Buffer.from(img.data);
  const [a1, a2] = [0.3, 0.36];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const g1 = Math.sin((2 * Math.PI * (x * Math.cos(a1) + y * Math.sin(a1))) / 2.9);
    const g2 = Math.sin((2 * Math.PI * (x * Math.cos(a2) + y * Math.sin(a2))) / 3.1);
    const f = 1 + 0.12 * g1 * g2 + 0.05 * g1;
    for (let c = 0; c < 3; c++) d[(y * w + x) * 3 + c] = clamp(d[(y * w + x) * 3 + c] * f);
  }
  return { ...img, data: d };
}

function halftone(img, cell = 5) {
  const { width: w, height: h, data } = img;
  const d = Buffer.alloc(data.length, 255);
  const angles = [0.26, 1.31, 0.79]; // screen angles per channel (15, 75, 45 degrees)
  for (let c = 0; c < 3; c++) {
    const [cs, sn] = [Math.cos(angles[c]), Math.sin(angles[c])];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      // position inside the rotated cell; the dot's radius grows with the ink (255 - value)
      const u = x * cs + y * sn, v = -x * sn + y * cs;
      const fu = (u / cell) - Math.floor(u / cell) - 0.5, fv = (v / cell) - Math.floor(v / cell) - 0.5;
      const ink = 1 - data[(y * w + x) * 3 + c] / 255;
      const r = Math.sqrt(ink / Math.PI);
      d[(y * w + x) * 3 + c] = Math.hypot(fu, fv) < r ? 30 : 245;
    }
  }
  return { ...img, data: d };
}

function glare(img) {
  const { width: w, height: h } = img;
  const d = Buffer.from(img.data);
  const [gx, gy, gr] = [w * 0.62, h * 0.3, Math.min(w, h) * 0.35];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const spot = Math.exp(-((x - gx) ** 2 + (y - gy) ** 2) / (2 * gr * gr)) * 0.75;
    for (let c = 0; c < 3; c++) {
      const i = (y * w + x) * 3 + c;
      const base = 40 + d[i] * 0.7 + [12, 6, -8][c];
      d[i] = clamp(base + (255 - base) * spot);
    }
  }
  return { ...img, data: d };
}

async function jpegChain(path, dest) {
  const meta = await sharp(path).rotate().toBuffer({ resolveWithObject: true });
  const w = Math.max(64, Math.round(meta.info.width / 3));
  let buf = await sharp(meta.data).resize(w).jpeg({ quality: 12 }).toBuffer();
  buf = await sharp(buf).resize(meta.info.width).jpeg({ quality: 12 }).toBuffer();
  await sharp(buf).toFile(dest);
}

const kinds = ['screen', 'moire', 'halftone', 'jpeg', 'glare'];
for (const k of kinds) for (const p of new Set(photos.map((x) => x.person))) mkdirSync(join(out, k, p), { recursive: true });

for (const { person, file } of photos) {
  const path = join(src, person, file);
  const name = `${basename(file, extname(file))}.jpg`;
  const img = await raw(path);
  await save(moire(img), join(out, 'moire', person, name));
  const soft = await sharp(Buffer.from(halftone(img).data), { raw: { width: img.width, height: img.height, channels: 3 } }).blur(0.8).raw().toBuffer();
  await save({ ...img, data: soft }, join(out, 'halftone', person, name));
  await jpegChain(path, join(out, 'jpeg', person, name));
  await save(glare(img), join(out, 'glare', person, name));
}

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.error(`no ${CHROMIUM}: the screen spoofs are not made`);
} else {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  for (const { person, file } of photos) {
    const { data, info } = await sharp(join(src, person, file)).rotate().resize(640, 520, { fit: 'inside' }).jpeg({ quality: 92 }).toBuffer({ resolveWithObject: true });
    const url = `data:image/jpeg;base64,${data.toString('base64')}`;
    // A monitor in a dim room: bezel, slight tilt, the screen's pixel grid and backlight, a glare.
    await page.setContent(`<html><body style="margin:0;background:#2b2722;display:flex;align-items:center;justify-content:center;height:100vh">
      <div style="transform:perspective(900px) rotateY(9deg) rotateX(-4deg) rotateZ(1.5deg);padding:18px;background:#111;border-radius:8px;box-shadow:0 0 40px #000">
        <div style="position:relative;width:${info.width}px;height:${info.height}px;overflow:hidden">
          <img src="${url}" style="display:block;width:100%;height:100%;filter:contrast(0.82) brightness(1.08) saturate(1.15)">
          <div style="position:absolute;inset:0;background:repeating-linear-gradient(90deg,rgba(255,0,0,.10) 0 1px,rgba(0,255,0,.10) 1px 2px,rgba(0,0,255,.10) 2px 3px),repeating-linear-gradient(0deg,rgba(0,0,0,.18) 0 1px,transparent 1px 3px)"></div>
          <div style="position:absolute;inset:0;background:radial-gradient(ellipse at 70% 25%,rgba(255,255,255,.35),transparent 45%)"></div>
        </div></div></body></html>`);
    await page.waitForFunction(() => document.images[0]?.complete);
    const shot = await page.screenshot({ type: 'png' });
    await sharp(shot).blur(0.6).modulate({ brightness: 0.95 }).jpeg({ quality: 70 }).toFile(join(out, 'screen', person, `${basename(file, extname(file))}.jpg`));
  }
  await browser.close();
}
console.log(`spoofs of ${photos.length} photos in ${out}/{${kinds.join(',')}}`);
