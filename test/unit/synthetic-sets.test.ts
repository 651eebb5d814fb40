/**
 * scripts/synthetic-sets.mjs: the seeded generator of labelled "any image" sets (synthetic
 * signatures, their siamese anchor/positive/negative layout, near-duplicate edits of photos).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARTISTS, hasArtists, oneLine, ROOT, tempDir } from '../helpers/cli.js';

const SCRIPT = join(ROOT, 'scripts', 'synthetic-sets.mjs');

interface Summary { images: number; folders?: number; [k: string]: unknown }
interface SyntheticSets {
  makeSignatures(outDir: string, opts?: { signers?: number; samples?: number; seed?: number | string }): Promise<Summary>;
  makeSiamese(outDir: string, opts?: { signers?: number; pairs?: number; seed?: number | string }): Promise<Summary & { triplets: { name: string; signer: number; negativeSigner: number }[] }>;
  makeNearDuplicates(outDir: string, srcDir: string, opts?: { limit?: number; seed?: number | string }): Promise<Summary & { skipped: string[]; items: { id: string; src: string; width: number; height: number }[] }>;
  EDITS: string[];
}

if (!hasArtists) console.warn('skipping the near-duplicates of artist photos: ../shared/datasets/artists is not here');

let sets: SyntheticSets;
beforeAll(async () => {
  // a plain .mjs script, not part of the typed package: imported by URL, typed by hand above
  sets = (await import(pathToFileURL(SCRIPT).href)) as SyntheticSets;
});

/** Every file under dir, relative, sorted. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile()).sort();
}

/** 64x32 greyscale of the ink: contrast stretched, cropped to the signature, then squeezed. */
async function thumb(path: string): Promise<Buffer> {
  const ink = await sharp(path).greyscale().normalise().trim({ threshold: 90 }).toBuffer();
  return sharp(ink).resize(64, 32, { fit: 'fill' }).raw().toBuffer();
}

function mad(a: Buffer, b: Buffer): number {
  let t = 0;
  for (let i = 0; i < a.length; i++) t += Math.abs(a[i]! - b[i]!);
  return t / a.length;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('signatures', () => {
  const opts = { signers: 5, samples: 4, seed: 7 };
  let a: string;
  let b: string;
  beforeAll(async () => {
    a = tempDir('facekit-sig-a-');
    b = tempDir('facekit-sig-b-');
    const [sa] = await Promise.all([sets.makeSignatures(a, opts), sets.makeSignatures(b, opts)]);
    expect(sa).toMatchObject({ kind: 'signatures', signers: 5, samples: 4, images: 20 });
  });

  it('writes signer-NN/NN.png, the same bytes for the same seed', () => {
    const list = files(a);
    expect(list).toEqual(['01', '02', '03', '04', '05'].flatMap((s) => ['01', '02', '03', '04'].map((k) => `signer-${s}/${k}.png`)));
    expect(files(b)).toEqual(list);
    for (const f of list) expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f))), f).toBe(true);
  });

  it('gives other images for another seed', async () => {
    const c = tempDir('facekit-sig-c-');
    await sets.makeSignatures(c, { signers: 1, samples: 1, seed: 8 });
    expect(readFileSync(join(c, 'signer-01/01.png')).equals(readFileSync(join(a, 'signer-01/01.png')))).toBe(false);
  });

  it('decodes as RGB PNGs of about 400x160 on light paper', async () => {
    for (const f of files(a)) {
      const meta = await sharp(join(a, f)).metadata();
      expect(meta.format, f).toBe('png');
      expect(meta.channels, f).toBe(3);
      expect(meta.width, f).toBeGreaterThanOrEqual(380);
      expect(meta.width, f).toBeLessThanOrEqual(420);
      expect(meta.height, f).toBeGreaterThanOrEqual(150);
      expect(meta.height, f).toBeLessThanOrEqual(170);
      const { channels } = await sharp(join(a, f)).stats();
      const grey = await sharp(join(a, f)).greyscale().raw().toBuffer();
      const dark = grey.filter((v) => v < 128).length / grey.length;
      expect(channels[0]!.mean, f).toBeGreaterThan(200); // mostly paper
      expect(dark, f).toBeGreaterThan(0.005); // and some ink
      expect(dark, f).toBeLessThan(0.2);
    }
  });

  it('samples of one signer differ, yet are closer to each other than to other signers', async () => {
    const bySigner = await Promise.all(['01', '02', '03', '04', '05'].map((s) =>
      Promise.all(['01', '02', '03', '04'].map((k) => thumb(join(a, `signer-${s}`, `${k}.png`))))));
    const same: number[] = [];
    const other: number[] = [];
    for (let s = 0; s < bySigner.length; s++) {
      const own: number[] = [];
      const rest: number[] = [];
      for (let t = 0; t < bySigner.length; t++) {
        for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
          if (s === t && i === j) continue;
          (s === t ? own : rest).push(mad(bySigner[s]![i]!, bySigner[t]![j]!));
        }
      }
      expect(Math.min(...own), `signer ${s + 1}: samples identical`).toBeGreaterThan(5);
      expect(mean(own), `signer ${s + 1}`).toBeLessThan(mean(rest));
      same.push(...own);
      other.push(...rest);
    }
    expect(mean(same)).toBeLessThan(0.92 * mean(other));
  });
});

describe('siamese', () => {
  it('pairs anchor i with positive i of one signer, negative i of another', async () => {
    const out = tempDir('facekit-siamese-');
    const s = await sets.makeSiamese(out, { signers: 3, pairs: 2, seed: 3 });
    const names = ['0001', '0002', '0003', '0004', '0005', '0006'].map((n) => `${n}.png`);
    expect(readdirSync(out).sort()).toEqual(['anchor', 'negative', 'positive']);
    for (const d of ['anchor', 'positive', 'negative']) expect(readdirSync(join(out, d)).sort()).toEqual(names);
    expect(s.triplets.map((t) => t.name)).toEqual(names);
    for (const t of s.triplets) expect(t.negativeSigner).not.toBe(t.signer);
    for (const n of names) expect(readFileSync(join(out, 'anchor', n)).equals(readFileSync(join(out, 'positive', n)))).toBe(false);
    // the signers are those of `signatures` with the same seed: anchor 1 is sample 1 of signer 1
    const sig = tempDir('facekit-sig-s-');
    await sets.makeSignatures(sig, { signers: 1, samples: 2, seed: 3 });
    expect(readFileSync(join(out, 'anchor', '0001.png')).equals(readFileSync(join(sig, 'signer-01', '01.png')))).toBe(true);
    expect(readFileSync(join(out, 'positive', '0001.png')).equals(readFileSync(join(sig, 'signer-01', '02.png')))).toBe(true);
  });
});

describe('near-duplicates', () => {
  const names = (edits: string[]) => ['original.jpg', ...edits.map((e) => `${e}.jpg`)].sort();

  async function checkFolder(dir: string, w: number, h: number): Promise<void> {
    const size = async (f: string) => {
      const m = await sharp(join(dir, f)).metadata();
      expect(m.format, f).toBe('jpeg');
      return [m.width, m.height];
    };
    expect(await size('original.jpg')).toEqual([w, h]);
    for (const e of ['jpeg-q20', 'blur', 'rotate', 'brightness', 'contrast', 'resize-small']) expect(await size(`${e}.jpg`), e).toEqual([w, h]);
    const [cw, ch] = await size('crop.jpg');
    expect(Math.abs(cw! - 0.8 * w)).toBeLessThanOrEqual(1);
    expect(Math.abs(ch! - 0.8 * h)).toBeLessThanOrEqual(1);
    const orig = readFileSync(join(dir, 'original.jpg'));
    for (const e of sets.EDITS) expect(readFileSync(join(dir, `${e}.jpg`)).equals(orig), e).toBe(false);
  }

  it('writes <id>/original.jpg and one file per edit for each image under SRC_DIR, in path order', async () => {
    const src = tempDir('facekit-nd-src-');
    mkdirSync(join(src, 'Person A', 'more'), { recursive: true });
    mkdirSync(join(src, 'person_b'));
    const img = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: '#4a7' } })
      .composite([{ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><circle cx="${w / 2}" cy="${h / 2}" r="${h / 3}" fill="#c33"/></svg>`) }]);
    writeFileSync(join(src, 'Person A', 'Photo 1.JPG'), await img(300, 200).jpeg().toBuffer());
    writeFileSync(join(src, 'Person A', 'more', 'x.png'), await img(120, 160).png().toBuffer());
    writeFileSync(join(src, 'person_b', 'broken.jpg'), Buffer.from('not an image'));
    writeFileSync(join(src, 'person_b', 'y.webp'), await img(1200, 900).webp().toBuffer());
    writeFileSync(join(src, 'person_b', 'notes.txt'), 'ignored');
    writeFileSync(join(src, 'person_b', 'z.png'), await img(50, 50).png().toBuffer()); // beyond --limit

    const out = tempDir('facekit-nd-');
    const s = await sets.makeNearDuplicates(out, src, { limit: 4, seed: 2 });
    expect(s.items.map((i) => i.id)).toEqual(['person-a-photo-1', 'person-a-more-x', 'person-b-y']); // 'P' sorts before 'm'
    expect(s.skipped).toHaveLength(1);
    expect(s.skipped[0]).toMatch(/broken\.jpg/);
    expect(readdirSync(out).sort()).toEqual(['person-a-more-x', 'person-a-photo-1', 'person-b-y']);
    for (const id of readdirSync(out)) expect(readdirSync(join(out, id)).sort()).toEqual(names(sets.EDITS));
    await checkFolder(join(out, 'person-a-photo-1'), 300, 200);
    await checkFolder(join(out, 'person-a-more-x'), 120, 160);
    await checkFolder(join(out, 'person-b-y'), 800, 600); // at most 800 px on the long side

    const again = tempDir('facekit-nd-');
    await sets.makeNearDuplicates(again, src, { limit: 4, seed: 2 });
    expect(files(again)).toEqual(files(out));
    for (const f of files(out)) expect(readFileSync(join(again, f)).equals(readFileSync(join(out, f))), f).toBe(true);
  });

  it.skipIf(!hasArtists)('makes a folder per artist photo', async () => {
    const out = tempDir('facekit-nd-artists-');
    const s = await sets.makeNearDuplicates(out, ARTISTS, { limit: 3 });
    expect(s.folders).toBe(3);
    expect(readdirSync(out)).toHaveLength(3);
    for (const item of s.items) {
      expect(item.id).toMatch(/^[a-z0-9-]+$/);
      expect(readdirSync(join(out, item.id)).sort()).toEqual(names(sets.EDITS));
      await checkFolder(join(out, item.id), item.width, item.height);
    }
  });
});

describe('command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });

  it('says what it wrote in one line on stderr', () => {
    const out = tempDir('facekit-sig-cli-');
    const r = run('signatures', out, '--signers', '2', '--samples=1', '--seed', 'x');
    expect(r.status).toBe(0);
    expect(oneLine(r.stderr)).toMatch(/signatures: 2 images \(2 signers x 1 samples, seed x\)/);
    expect(files(out)).toEqual(['signer-01/01.png', 'signer-02/01.png']);
  });

  it('exits 2 with one line on bad usage', () => {
    for (const args of [['signatures'], ['drawings', '/tmp/x'], ['near-duplicates', tempDir()], ['signatures', tempDir(), '--samples', '0']]) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr)).toMatch(/^synthetic-sets: /);
    }
  });
});
