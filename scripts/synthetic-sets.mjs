#!/usr/bin/env node
/**
 * Synthetic, labelled image sets for facekit's "any image" mode (no faces in them), seeded and
 * deterministic: the same seed on the same machine (same sharp/libvips/librsvg) writes
 * byte-identical files. Only node: modules and sharp.
 *
 *   node scripts/synthetic-sets.mjs signatures OUT_DIR [--signers 12] [--samples 8] [--seed 1]
 *   node scripts/synthetic-sets.mjs near-duplicates OUT_DIR --from SRC_DIR [--limit 40] [--seed 1]
 *   node scripts/synthetic-sets.mjs siamese OUT_DIR [--signers 12] [--pairs 4] [--seed 1]
 *
 * signatures: OUT_DIR/signer-01/01.png ... -- SYNTHETIC handwriting, not real signatures. No font
 *   is used: each signer is a procedural "name", one optional initial and a word of 4-8 cursive
 *   glyphs (a capital and lower-case letter shapes: loops, humps, arcs, ascender and descender
 *   loops, each a seeded distortion of a template, drawn as one Catmull-Rom pen path), i dots and
 *   t bars, and a flourish of its own (underline, looped underline, end loop, strike, or tail);
 *   plus the signer's slant, width, letter spacing, roundness, trailing-off of letter height and
 *   pen width. What varies between two samples of one signer (genuine-signature variation):
 *   jitter of every control point and of each letter's width, slant (sd 2.5 deg), rotation
 *   (sd 1.3 deg), width/height stretch (+-8-10%), a drifting (wavy, tilted) baseline, position
 *   and size in the frame, pen width and pressure, ink colour (black or blue ballpoint, the
 *   signer's usual one 3 times in 4), and the "scan": paper tint (white to cream), a faint
 *   gradient, gaussian noise, dark speckles, a slight blur and a JPEG round trip (quality 55-85)
 *   before the PNG is written. Images are about 400x160 (+-20 x +-10 px), RGB PNG.
 *   Nothing here is a real signature or a forgery: a verifier that does well on it has learnt
 *   procedural stroke shapes, not handwriting.
 * near-duplicates: OUT_DIR/<id>/original.jpg and OUT_DIR/<id>/<edit>.jpg for the first --limit
 *   images under SRC_DIR (recursively, jpg/jpeg/png/webp, sorted by path), one folder per source
 *   image (a "category"); <id> is a slug of the source path (folders + file stem, -2 on a clash;
 *   unreadable files are skipped and counted, not fatal). original.jpg
 *   is the source auto-oriented, at most 800 px on its long side. Edits: jpeg-q20, blur (sigma 3),
 *   crop (central 80%, its centre moved by up to 3% by the seed), rotate (10 deg, direction by the
 *   seed, the image's mean colour in the corners, cut back to the original size), brightness
 *   (x1.3), contrast (x1.35 about mid-grey), resize-small (64 px long side, then back up).
 * siamese: OUT_DIR/anchor/NNNN.png, positive/NNNN.png, negative/NNNN.png from synthetic signers
 *   (as in `signatures`, same seed = same signers): anchor i and positive i are two different
 *   samples of one signer, negative i a sample of another signer. --pairs per signer.
 *
 * A one-line summary goes to stderr; bad usage exits 2 with one line. The functions
 * makeSignatures, makeNearDuplicates and makeSiamese are exported for tests and benchmarks.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';

/* ------------------------------------------------------------------ seeded randomness */

function hashSeed(...parts) {
  let h = 2166136261 >>> 0;
  const s = parts.join('|');
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** mulberry32 with helpers; every image gets its own stream, so order and concurrency don't matter. */
function rng(...parts) {
  let a = hashSeed(...parts);
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare = null;
  const r = {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    normal: (sd = 1) => {
      if (spare !== null) { const s = spare; spare = null; return s * sd; }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const m = Math.sqrt(-2 * Math.log(u));
      spare = m * Math.sin(2 * Math.PI * v);
      return m * Math.cos(2 * Math.PI * v) * sd;
    },
  };
  return r;
}

/* ------------------------------------------------------------------ glyphs */

// Pen paths through a glyph, y up, baseline 0, x-height 1, x in [0, 1] of the glyph's width;
// each enters at the left near the baseline and leaves at the right (joined to the next glyph).
const LOWER = {
  a: { w: 0.95, p: [[0, 0.15], [0.55, 0.8], [0.25, 0.95], [0.05, 0.5], [0.2, 0.05], [0.55, 0.45], [0.62, 0.95], [0.6, 0.2], [0.75, 0], [0.95, 0.2]] },
  c: { w: 0.8, p: [[0, 0.15], [0.55, 0.85], [0.35, 0.98], [0.08, 0.55], [0.25, 0.02], [0.9, 0.25]] },
  d: { w: 1.0, p: [[0, 0.15], [0.5, 0.8], [0.2, 0.9], [0.05, 0.45], [0.2, 0.05], [0.5, 0.4], [0.65, 2.1], [0.58, 0.2], [0.72, 0], [0.95, 0.2]] },
  e: { w: 0.75, p: [[0, 0.1], [0.55, 0.45], [0.6, 0.8], [0.35, 0.95], [0.12, 0.6], [0.25, 0.05], [0.9, 0.25]] },
  g: { w: 0.95, p: [[0, 0.15], [0.55, 0.85], [0.25, 0.95], [0.08, 0.5], [0.25, 0.1], [0.55, 0.45], [0.6, 0.9], [0.55, -0.6], [0.3, -1.1], [0.12, -0.8], [0.6, -0.15], [0.95, 0.2]] },
  h: { w: 1.0, p: [[0, 0.1], [0.35, 1.3], [0.4, 2.2], [0.2, 2.1], [0.15, 0], [0.3, 0.7], [0.55, 0.9], [0.7, 0.1], [0.95, 0.2]] },
  i: { w: 0.5, p: [[0, 0.1], [0.4, 0.95], [0.4, 0.1], [0.55, 0], [0.9, 0.25]], dot: [0.45, 1.5] },
  k: { w: 0.95, p: [[0, 0.1], [0.35, 1.3], [0.4, 2.2], [0.2, 2.1], [0.15, 0], [0.25, 0.6], [0.6, 0.95], [0.35, 0.5], [0.7, 0.05], [0.95, 0.2]] },
  l: { w: 0.6, p: [[0, 0.1], [0.5, 1.1], [0.65, 2.1], [0.45, 2.35], [0.3, 1.9], [0.3, 0.4], [0.5, 0], [0.9, 0.25]] },
  m: { w: 1.4, p: [[0, 0], [0.08, 0.85], [0.15, 0], [0.22, 0.8], [0.38, 0.95], [0.47, 0.05], [0.55, 0.8], [0.72, 0.95], [0.8, 0.1], [0.95, 0.15]] },
  n: { w: 1.0, p: [[0, 0], [0.12, 0.85], [0.2, 0], [0.3, 0.75], [0.55, 0.95], [0.7, 0.1], [0.95, 0.2]] },
  o: { w: 0.85, p: [[0, 0.15], [0.45, 0.9], [0.2, 0.85], [0.1, 0.3], [0.4, 0], [0.6, 0.5], [0.45, 0.95], [0.95, 0.8]] },
  r: { w: 0.75, p: [[0, 0], [0.25, 0.9], [0.5, 0.75], [0.6, 0.85], [0.65, 0.1], [0.95, 0.2]] },
  s: { w: 0.7, p: [[0, 0.1], [0.4, 1.0], [0.6, 0.45], [0.4, 0.05], [0.15, 0.2], [0.95, 0.2]] },
  t: { w: 0.6, p: [[0, 0.1], [0.45, 1.9], [0.35, 0.2], [0.55, 0], [0.9, 0.25]], bar: [[0.05, 1.1], [0.9, 1.2]] },
  u: { w: 1.0, p: [[0, 0.15], [0.2, 0.9], [0.2, 0.15], [0.45, 0], [0.65, 0.9], [0.65, 0.1], [0.8, 0], [0.95, 0.2]] },
  v: { w: 0.85, p: [[0, 0.2], [0.2, 0.9], [0.45, 0], [0.7, 0.9], [0.6, 0.7], [0.95, 0.8]] },
  w: { w: 1.25, p: [[0, 0.2], [0.12, 0.9], [0.3, 0], [0.5, 0.8], [0.68, 0], [0.85, 0.9], [0.78, 0.7], [1.0, 0.8]] },
  y: { w: 0.95, p: [[0, 0.2], [0.2, 0.9], [0.2, 0.15], [0.45, 0.05], [0.62, 0.9], [0.55, -0.5], [0.35, -1.1], [0.2, -0.8], [0.55, -0.2], [0.95, 0.2]] },
};
// Capitals, about 2.5 x-heights tall; the pen leaves at the right near the baseline.
const UPPER = {
  A: { w: 1.3, p: [[0, 0], [0.4, 1.6], [0.5, 2.5], [0.6, 1.6], [0.85, 0.1], [1.0, 0.2]], bar: [[0.2, 1.0], [0.85, 1.15]] },
  B: { w: 1.2, p: [[0.2, 0], [0.25, 2.3], [0.05, 2.0], [0.5, 2.55], [0.85, 2.0], [0.35, 1.35], [0.95, 0.9], [0.6, 0.0], [0.2, 0.2], [1.0, 0.3]] },
  C: { w: 1.1, p: [[0.8, 2.0], [0.65, 2.5], [0.25, 2.2], [0.05, 1.1], [0.3, 0.0], [1.0, 0.3]] },
  D: { w: 1.3, p: [[0.3, 2.2], [0.25, 0.1], [0.0, 0.3], [0.3, 0.0], [0.9, 0.6], [0.85, 2.2], [0.2, 2.5], [0.1, 2.1], [0.6, 1.0], [1.0, 0.2]] },
  E: { w: 1.0, p: [[0.7, 2.2], [0.45, 2.5], [0.2, 2.15], [0.5, 1.4], [0.15, 1.1], [0.1, 0.3], [0.4, 0.0], [1.0, 0.3]] },
  G: { w: 1.2, p: [[0.8, 2.0], [0.6, 2.5], [0.2, 2.2], [0.05, 1.1], [0.35, 0.0], [0.7, 0.6], [0.65, 1.1], [0.6, -0.8], [0.3, -1.2], [0.25, -0.7], [1.0, 0.3]] },
  H: { w: 1.4, p: [[0, 2.0], [0.2, 2.4], [0.25, 0.0], [0.3, 1.1], [0.75, 1.3], [0.8, 2.4], [0.75, 0.1], [1.0, 0.25]] },
  J: { w: 1.1, p: [[0.1, 2.0], [0.6, 2.5], [0.9, 2.4], [0.6, 2.2], [0.55, 0.2], [0.4, -1.0], [0.15, -0.9], [0.2, -0.4], [1.0, 0.3]] },
  K: { w: 1.3, p: [[0.15, 2.4], [0.2, 0.0], [0.25, 1.0], [0.85, 2.4], [0.35, 1.2], [0.8, 0.05], [1.0, 0.25]] },
  L: { w: 1.2, p: [[0.5, 1.6], [0.75, 2.4], [0.55, 2.6], [0.35, 2.0], [0.25, 0.5], [0.05, 0.0], [0.0, 0.25], [0.35, 0.1], [0.75, 0.0], [1.0, 0.2]] },
  M: { w: 1.6, p: [[0, 0], [0.15, 2.2], [0.3, 0.3], [0.45, 2.1], [0.6, 0.2], [0.75, 1.5], [0.85, 0.1], [1.0, 0.2]] },
  N: { w: 1.3, p: [[0, 0], [0.1, 2.3], [0.2, 2.2], [0.7, 0.1], [0.8, 2.4], [0.85, 0.9], [1.0, 0.3]] },
  P: { w: 1.1, p: [[0.25, 0], [0.3, 2.3], [0.1, 2.1], [0.5, 2.55], [0.85, 2.0], [0.35, 1.3], [0.45, 0.6], [1.0, 0.3]] },
  R: { w: 1.2, p: [[0.2, 0], [0.25, 2.3], [0.05, 2.1], [0.5, 2.5], [0.85, 2.0], [0.4, 1.3], [0.8, 0.2], [1.0, 0.2]] },
  S: { w: 1.0, p: [[0.1, 0.6], [0.6, 2.0], [0.7, 2.5], [0.4, 2.4], [0.35, 1.6], [0.6, 0.8], [0.45, 0.0], [0.1, 0.1], [0.2, 0.3], [1.0, 0.3]] },
  T: { w: 1.2, p: [[0.5, 2.3], [0.45, 0.1], [0.2, 0.0], [0.15, 0.3], [0.6, 0.2], [1.0, 0.3]], bar: [[0.0, 2.2], [0.6, 2.55], [1.1, 2.35]] },
  W: { w: 1.7, p: [[0, 2.3], [0.2, 0.0], [0.4, 1.8], [0.55, 0.0], [0.8, 2.4], [0.85, 1.8], [1.0, 0.4]] },
};
const LOWER_KEYS = Object.keys(LOWER);
const UPPER_KEYS = Object.keys(UPPER);
// common letters more often, as in names
const LOWER_WEIGHTED = 'aaeeeiioonnrrllssttuuhdcmgkywv'.split('');

/** A signer's own version of a glyph: the template with every point moved, and its own proportions. */
function ownGlyph(r, tpl, strength) {
  const sx = r.uniform(0.8, 1.3);
  const sy = r.uniform(0.85, 1.2);
  const move = (pt) => [pt[0] + r.normal(0.09 * strength), pt[1] + r.normal(0.13 * strength)];
  return {
    w: tpl.w * sx,
    p: tpl.p.map((pt, i) => (i === 0 ? [pt[0], pt[1]] : move([pt[0], pt[1] * sy]))),
    dot: tpl.dot ? move(tpl.dot) : undefined,
    bar: tpl.bar ? tpl.bar.map((pt) => move([pt[0], pt[1] * sy])) : undefined,
  };
}

/** A signer: everything its signatures share. */
function makeSigner(seed, index) {
  const r = rng('signer', seed, index);
  const strength = r.uniform(0.7, 1.3);
  const word = [];
  const capital = ownGlyph(r, UPPER[r.pick(UPPER_KEYS)], strength);
  capital.capital = true;
  word.push(capital);
  const nLower = r.int(3, 7); // 4-8 glyphs with the capital
  for (let i = 0; i < nLower; i++) word.push(ownGlyph(r, LOWER[r.pick(LOWER_WEIGHTED)] ?? LOWER[r.pick(LOWER_KEYS)], strength));
  const initial = r.chance(0.45) ? ownGlyph(r, UPPER[r.pick(UPPER_KEYS)], strength) : null;
  if (initial) initial.capital = true;
  return {
    index,
    initial,
    initialDot: r.chance(0.6),
    capitalApart: r.chance(0.3), // pen lifted after the capital
    word,
    slant: r.uniform(-5, 35) * (Math.PI / 180),
    widthScale: r.uniform(0.75, 1.35),
    capHeight: r.uniform(0.8, 1.25),
    spacing: r.uniform(-0.12, 0.25),
    decay: r.chance(0.5) ? r.uniform(0.15, 0.6) : 0, // later letters lower (trailing off)
    tension: r.uniform(0, 0.45), // 0 = round Catmull-Rom, higher = tighter turns
    dots: r.chance(0.75),
    flourish: r.pick(['underline', 'underline', 'underline', 'loop-underline', 'loop-underline', 'end-loop', 'end-loop', 'strike', 'tail', 'tail']),
    flourishParams: Array.from({ length: 8 }, () => r.next()),
    pen: r.uniform(1.7, 3.2),
    pressureContrast: r.uniform(0.15, 0.45),
    ink: r.chance(0.55) ? 'black' : 'blue',
  };
}

/* ------------------------------------------------------------------ geometry */

/** The pen strokes of one sample, in x-height units (y up), before placing in the frame. */
function signerStrokes(signer, r) {
  const J = 0.05; // per-sample jitter of control points (x-heights)
  const strokes = [];
  let x = 0;
  const extras = [];
  const place = (g, x0, heightScale, stroke) => {
    const w = g.w * signer.widthScale * (1 + r.normal(0.06));
    for (const [px, py] of g.p) stroke.push([x0 + px * w + r.normal(J), py * heightScale + r.normal(J)]);
    if (signer.dots && g.dot) extras.push([[x0 + g.dot[0] * w + r.normal(J * 2), g.dot[1] * heightScale + r.normal(J * 2)], 'dot']);
    if (signer.dots && g.bar) extras.push([g.bar.map(([bx, by]) => [x0 + bx * w + r.normal(J * 1.5), by * heightScale + r.normal(J * 1.5)]), 'bar']);
    return x0 + w;
  };
  if (signer.initial) {
    const s = [];
    x = place(signer.initial, x, signer.capHeight, s);
    strokes.push(s);
    if (signer.initialDot) extras.push([[x + 0.15 + r.normal(J), 0.05 + r.normal(J)], 'dot']);
    x += 0.6 + r.normal(0.06);
  }
  let stroke = [];
  const n = signer.word.length;
  signer.word.forEach((g, i) => {
    const t = n > 1 ? i / (n - 1) : 0;
    const h = g.capital ? signer.capHeight : 1 - signer.decay * t;
    x = place(g, x, h, stroke) + signer.spacing * signer.widthScale;
    if (i === 0 && signer.capitalApart && n > 1) {
      strokes.push(stroke);
      stroke = [];
      x += 0.1;
    }
  });
  // the flourish, joined to the end of the word (per signer, jittered per sample)
  const f = signer.flourishParams;
  const xs = strokes.flat().concat(stroke).map((p) => p[0]);
  const left = Math.min(...xs);
  const right = Math.max(...xs);
  const span = right - left;
  const J2 = 0.08;
  const j = () => r.normal(J2);
  const last = stroke[stroke.length - 1];
  switch (signer.flourish) {
    case 'underline': {
      const y = -0.5 - f[0] * 0.6;
      stroke.push([last[0] + 0.3 + j(), last[1] - 0.6 + j()], [right - span * 0.3 + j(), y - 0.1 + j()], [left + span * (0.05 + f[1] * 0.2) + j(), y + j()], [left - 0.2 + j(), y + 0.3 + f[2] * 0.4 + j()]);
      break;
    }
    case 'loop-underline': {
      const y = -0.6 - f[0] * 0.5;
      const lx = left + span * (0.3 + f[1] * 0.4);
      stroke.push([last[0] + 0.2 + j(), last[1] - 0.5 + j()], [lx + 0.4 + j(), y + j()], [lx + j(), y + 0.7 + f[3] * 0.3 + j()], [lx - 0.3 + j(), y + 0.1 + j()], [left + j(), y - 0.15 + j()]);
      break;
    }
    case 'end-loop': {
      const h = 1.8 + f[0] * 1.2;
      stroke.push([last[0] + 0.5 + j(), last[1] + h * 0.5 + j()], [last[0] + 0.2 + j(), last[1] + h + j()], [last[0] - 0.3 + j(), last[1] + h * 0.6 + j()], [last[0] + 0.9 + f[1] + j(), -0.3 - f[2] * 0.5 + j()]);
      break;
    }
    case 'strike': {
      strokes.push([[left - 0.2 + j(), 0.3 + f[0] * 0.8 + j()], [left + span * 0.5 + j(), 0.9 + f[1] * 0.4 + j()], [right + 0.4 + j(), 1.2 + f[2] * 0.8 + j()]]);
      break;
    }
    case 'tail': {
      stroke.push([last[0] + 0.6 + f[0] * 0.6 + j(), last[1] + 0.4 + f[1] * 0.6 + j()], [last[0] + 1.6 + f[2] + j(), last[1] + 0.9 + f[3] * 0.6 + j()]);
      break;
    }
  }
  strokes.push(stroke);
  const dotStrokes = extras.map(([pts, kind]) => (kind === 'dot' ? [pts, [pts[0] + 0.05, pts[1] + 0.02]] : pts));
  return { strokes, dots: dotStrokes };
}

/** Cardinal spline through the points, sampled `per` points per segment. */
function spline(points, tension, per) {
  if (points.length < 2) return points.slice();
  const out = [];
  const p = [points[0], ...points, points[points.length - 1]];
  const k = (1 - tension) / 2;
  for (let i = 1; i < p.length - 2; i++) {
    const [p0, p1, p2, p3] = [p[i - 1], p[i], p[i + 1], p[i + 2]];
    const m1 = [k * (p2[0] - p0[0]), k * (p2[1] - p0[1])];
    const m2 = [k * (p3[0] - p1[0]), k * (p3[1] - p1[1])];
    for (let s = 0; s < per; s++) {
      const t = s / per;
      const t2 = t * t;
      const t3 = t2 * t;
      const h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + t, h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
      out.push([h00 * p1[0] + h10 * m1[0] + h01 * p2[0] + h11 * m2[0], h00 * p1[1] + h10 * m1[1] + h01 * p2[1] + h11 * m2[1]]);
    }
  }
  out.push(points[points.length - 1]);
  return out;
}

const INKS = {
  black: [[22, 22, 28], [35, 33, 38], [15, 15, 18]],
  blue: [[24, 42, 125], [20, 30, 95], [35, 55, 140]],
};

/** One sample of a signer: an SVG of the ink and the scan parameters. */
function sampleSpec(signer, seed, sample) {
  const r = rng('sample', seed, signer.index, sample);
  const W = Math.round(400 + r.uniform(-20, 20));
  const H = Math.round(160 + r.uniform(-10, 10));
  const { strokes, dots } = signerStrokes(signer, r);
  // per-sample geometry: slant, stretch, rotation, drifting baseline
  const slant = signer.slant + r.normal(2.5) * (Math.PI / 180);
  const sx = r.uniform(0.92, 1.08);
  const sy = r.uniform(0.9, 1.1);
  const rot = r.normal(1.3) * (Math.PI / 180);
  const driftA = r.uniform(-0.25, 0.25);
  const driftW = r.uniform(0.6, 1.6);
  const driftP = r.uniform(0, Math.PI * 2);
  const tilt = r.normal(0.03);
  const tf = ([x, y]) => {
    let yy = y * sy + driftA * Math.sin(driftW * x * 0.35 + driftP) + tilt * x;
    let xx = x * sx + Math.tan(slant) * yy;
    const c = Math.cos(rot), s = Math.sin(rot);
    return [xx * c - yy * s, xx * s + yy * c];
  };
  const lines = strokes.map((s) => spline(s.map(tf), signer.tension, 12));
  const dotLines = dots.map((s) => spline(s.map(tf), 0.2, 6));
  // fit to the frame: a fraction of the width (or height), at a random place in the margin
  const all = lines.flat().concat(dotLines.flat());
  const minX = Math.min(...all.map((p) => p[0])), maxX = Math.max(...all.map((p) => p[0]));
  const minY = Math.min(...all.map((p) => p[1])), maxY = Math.max(...all.map((p) => p[1]));
  const fill = r.uniform(0.74, 0.9);
  const scale = Math.min((W * fill) / (maxX - minX), (H * r.uniform(0.76, 0.9)) / (maxY - minY));
  const bw = (maxX - minX) * scale, bh = (maxY - minY) * scale;
  const ox = r.uniform(0.25, 0.75) * (W - bw), oy = r.uniform(0.3, 0.7) * (H - bh);
  const toPx = ([x, y]) => [ox + (x - minX) * scale, oy + (maxY - y) * scale];
  // variable pen width: thin where the pen moves fast, tapered at both ends, wavering pressure
  const pen = signer.pen * r.uniform(0.8, 1.25) * Math.max(0.8, Math.min(1.25, scale / 30));
  const pressureP = r.uniform(0, 10);
  const segs = [];
  let run = null;
  const flush = () => {
    segs.push(`<path d="M${run.d.join('L')}" stroke-width="${run.w}"/>`);
    run = null;
  };
  const drawLine = (pts, isDot) => {
    const px = pts.map(toPx);
    const d = px.slice(1).map((p, i) => Math.hypot(p[0] - px[i][0], p[1] - px[i][1]));
    const med = [...d].sort((a, b) => a - b)[Math.floor(d.length / 2)] || 1;
    const n = d.length;
    let prevW = null;
    for (let i = 0; i < n; i++) {
      const t = n > 1 ? i / (n - 1) : 0.5;
      const taper = isDot ? 1 : Math.max(0.35, Math.min(1, Math.sqrt(t / 0.03), Math.sqrt((1 - t) / 0.07)));
      const speed = Math.max(0.55, Math.min(1.3, 1.2 - signer.pressureContrast * (d[i] / med - 0.6)));
      const waver = 1 + 0.12 * Math.sin(pressureP + i * 0.045);
      let w = pen * taper * speed * waver * (isDot ? 1.3 : 1);
      if (prevW !== null) w = 0.6 * prevW + 0.4 * w;
      prevW = w;
      // consecutive segments of (nearly) one width go into one path: far fewer SVG elements
      const q = Math.max(0.2, Math.round(w / 0.2) * 0.2).toFixed(1);
      const at = `${px[i + 1][0].toFixed(2)} ${px[i + 1][1].toFixed(2)}`;
      if (run && run.w === q) run.d.push(at);
      else {
        if (run) flush();
        run = { w: q, d: [`${px[i][0].toFixed(2)} ${px[i][1].toFixed(2)}`, at] };
      }
    }
    if (run) flush();
  };
  for (const l of lines) drawLine(l, false);
  for (const l of dotLines) drawLine(l, true);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`
    + `<rect width="${W}" height="${H}" fill="#fff"/><g fill="none" stroke="#000" stroke-linecap="round" stroke-linejoin="round">${segs.join('')}</g></svg>`;
  const inkKind = r.chance(0.75) ? signer.ink : signer.ink === 'black' ? 'blue' : 'black';
  return {
    W, H, svg,
    ink: r.pick(INKS[inkKind]),
    inkKind,
    paper: ((L, warm) => [Math.min(255, L + 1), L - warm * 0.3, L - warm])(r.uniform(241, 254), r.uniform(-2, 12)), // white to cream, a hint of grey-blue
    density: r.uniform(0.82, 1),
    noise: r.uniform(2, 6),
    speckle: r.uniform(0, 0.0015),
    blur: r.uniform(0.35, 0.8),
    quality: r.int(55, 85),
    noiseSeed: hashSeed('noise', seed, signer.index, sample),
  };
}

let gaussTable = null;
/** 4096 standard normal values (fixed), looked up by the per-pixel noise. */
function normalTable() {
  if (!gaussTable) {
    const r = rng('gauss-table');
    gaussTable = Float32Array.from({ length: 4096 }, () => r.normal(1));
  }
  return gaussTable;
}

/** The PNG of one sample. */
async function renderSample(spec) {
  const { W, H } = spec;
  const { data: mask, info } = await sharp(Buffer.from(spec.svg)).flatten({ background: '#ffffff' }).greyscale().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 1 || info.width !== W || info.height !== H) throw new Error(`unexpected SVG raster ${info.width}x${info.height}x${info.channels}`);
  const r = rng('pixels', spec.noiseSeed);
  const rgb = new Uint8ClampedArray(W * H * 3); // clamps and rounds
  const [pr, pg, pb] = spec.paper;
  const [ir, ig, ib] = spec.ink;
  // paper: tint plus a faint, smooth unevenness of the scan (a gradient)
  const gx = r.normal(4) / W, gy = r.normal(4) / H;
  const gauss = normalTable();
  const speckle = Math.round(spec.speckle * 65536);
  let x32 = (spec.noiseSeed | 1) >>> 0; // xorshift32: one draw per pixel (noise index, speckle)
  for (let y = 0, o = 0, m = 0; y < H; y++) {
    for (let x = 0; x < W; x++, o += 3, m++) {
      x32 ^= x32 << 13; x32 >>>= 0; x32 ^= x32 >>> 17; x32 ^= x32 << 5; x32 >>>= 0;
      const a = (1 - mask[m] / 255) * spec.density;
      const n = gauss[x32 & 4095] * spec.noise + gx * (x - W / 2) + gy * (y - H / 2);
      let R = pr + (ir - pr) * a + n, G = pg + (ig - pg) * a + n, B = pb + (ib - pb) * a + n;
      if ((x32 >>> 16) < speckle) { const dk = 60 + ((x32 >>> 12) & 15) * 6; R -= dk; G -= dk; B -= dk; }
      rgb[o] = R; rgb[o + 1] = G; rgb[o + 2] = B;
    }
  }
  const jpg = await sharp(Buffer.from(rgb.buffer), { raw: { width: W, height: H, channels: 3 } }).blur(spec.blur).jpeg({ quality: spec.quality }).toBuffer();
  return sharp(jpg).png({ compressionLevel: 6 }).toBuffer();
}

/** Run fn over items with a few in flight at once (results in input order). */
async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

const pad = (n, width) => String(n).padStart(width, '0');
const posInt = (v, name, min = 1) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
};

class UsageError extends Error {}

/* ------------------------------------------------------------------ the sets */

/**
 * OUT_DIR/signer-NN/NN.png: `signers` synthetic signers, `samples` samples each.
 * @param {string} outDir
 * @param {{ signers?: number, samples?: number, seed?: number|string }} [opts]
 */
export async function makeSignatures(outDir, opts = {}) {
  const t0 = Date.now();
  const signers = posInt(opts.signers ?? 12, 'signers');
  const samples = posInt(opts.samples ?? 8, 'samples');
  const seed = String(opts.seed ?? 1);
  const sw = Math.max(2, String(signers).length);
  const pw = Math.max(2, String(samples).length);
  const jobs = [];
  for (let s = 0; s < signers; s++) {
    const signer = makeSigner(seed, s);
    const dir = join(outDir, `signer-${pad(s + 1, sw)}`);
    mkdirSync(dir, { recursive: true });
    for (let k = 0; k < samples; k++) jobs.push({ signer, k, path: join(dir, `${pad(k + 1, pw)}.png`) });
  }
  await pool(jobs, 8, async ({ signer, k, path }) => writeFileSync(path, await renderSample(sampleSpec(signer, seed, k))));
  return { kind: 'signatures', outDir, seed, signers, samples, images: jobs.length, folders: signers, ms: Date.now() - t0 };
}

/**
 * OUT_DIR/{anchor,positive,negative}/NNNN.png: anchor i and positive i are samples of one signer,
 * negative i a sample of another. Signers are those of makeSignatures with the same seed.
 * @param {string} outDir
 * @param {{ signers?: number, pairs?: number, seed?: number|string }} [opts]
 */
export async function makeSiamese(outDir, opts = {}) {
  const t0 = Date.now();
  const nSigners = posInt(opts.signers ?? 12, 'signers', 2);
  const pairs = posInt(opts.pairs ?? 4, 'pairs');
  const seed = String(opts.seed ?? 1);
  const signers = Array.from({ length: nSigners }, (_, s) => makeSigner(seed, s));
  const r = rng('siamese', seed, nSigners, pairs);
  const triplets = [];
  for (let s = 0; s < nSigners; s++) {
    for (let p = 0; p < pairs; p++) {
      const other = (s + 1 + r.int(0, nSigners - 2)) % nSigners;
      // samples 2p and 2p+1 of the signer; a sample of the other signer from beyond those
      triplets.push({ signer: s, anchor: 2 * p, positive: 2 * p + 1, negativeSigner: other, negative: 2 * pairs + r.int(0, pairs * 2 - 1) });
    }
  }
  const width = Math.max(4, String(triplets.length).length);
  for (const d of ['anchor', 'positive', 'negative']) mkdirSync(join(outDir, d), { recursive: true });
  const jobs = triplets.flatMap((t, i) => {
    const name = `${pad(i + 1, width)}.png`;
    return [
      { path: join(outDir, 'anchor', name), s: t.signer, k: t.anchor },
      { path: join(outDir, 'positive', name), s: t.signer, k: t.positive },
      { path: join(outDir, 'negative', name), s: t.negativeSigner, k: t.negative },
    ];
  });
  await pool(jobs, 8, async ({ path, s, k }) => writeFileSync(path, await renderSample(sampleSpec(signers[s], seed, k))));
  return {
    kind: 'siamese', outDir, seed, signers: nSigners, pairs: triplets.length, images: jobs.length,
    triplets: triplets.map((t, i) => ({ name: `${pad(i + 1, width)}.png`, signer: t.signer + 1, negativeSigner: t.negativeSigner + 1 })),
    ms: Date.now() - t0,
  };
}

const IMAGE = /\.(jpe?g|png|webp)$/i;

function listImages(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && IMAGE.test(name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function slug(rel) {
  const parts = rel.split(sep).filter(Boolean);
  const stem = basename(parts.pop() ?? '', extname(rel));
  const clean = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  const s = [...parts.map(clean), clean(stem).slice(0, 28).replace(/-+$/, '')].filter(Boolean).join('-').replace(/-+/g, '-');
  return s || 'image';
}

export const EDITS = ['jpeg-q20', 'blur', 'crop', 'rotate', 'brightness', 'contrast', 'resize-small'];

/**
 * OUT_DIR/<id>/original.jpg and OUT_DIR/<id>/<edit>.jpg (EDITS) for the first `limit` images
 * under srcDir in sorted path order.
 * @param {string} outDir
 * @param {string} srcDir
 * @param {{ limit?: number, seed?: number|string, maxSide?: number }} [opts]
 */
export async function makeNearDuplicates(outDir, srcDir, opts = {}) {
  const t0 = Date.now();
  const limit = posInt(opts.limit ?? 40, 'limit');
  const seed = String(opts.seed ?? 1);
  const maxSide = opts.maxSide ?? 800;
  let files;
  try {
    files = listImages(srcDir);
  } catch (err) {
    throw new UsageError(`cannot read --from ${srcDir}: ${err.code ?? err.message}`);
  }
  files = files.slice(0, limit);
  const used = new Set();
  const items = files.map((f) => {
    const base = slug(relative(srcDir, f));
    let id = base;
    for (let i = 2; used.has(id); i++) id = `${base}-${i}`;
    used.add(id);
    return { src: f, id };
  });
  const skipped = [];
  const done = await pool(items, 4, async ({ src, id }) => {
    const r = rng('near-duplicate', seed, id);
    let orig;
    try {
      orig = await sharp(src).rotate().resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
        .removeAlpha().toColourspace('srgb').jpeg({ quality: 92 }).toBuffer({ resolveWithObject: true });
    } catch (err) {
      skipped.push(`${relative(srcDir, src)}: ${String(err.message).split('\n')[0]}`);
      return null;
    }
    const { width: w, height: h } = orig.info;
    const img = () => sharp(orig.data);
    const stats = await img().stats();
    const mean = { r: Math.round(stats.channels[0].mean), g: Math.round(stats.channels[1].mean), b: Math.round(stats.channels[2].mean) };
    const angle = r.chance(0.5) ? 10 : -10;
    const cw = Math.round(w * 0.8), chh = Math.round(h * 0.8);
    const within = (v, hi) => Math.max(0, Math.min(hi, Math.round(v)));
    const cx = within((w - cw) / 2 + r.uniform(-0.03, 0.03) * w, w - cw), cy = within((h - chh) / 2 + r.uniform(-0.03, 0.03) * h, h - chh);
    const rotated = await img().rotate(angle, { background: mean }).toBuffer({ resolveWithObject: true });
    const small = await img().resize(64, 64, { fit: 'inside' }).toBuffer();
    const edits = {
      'jpeg-q20': img().jpeg({ quality: 20 }),
      blur: img().blur(3).jpeg({ quality: 90 }),
      crop: img().extract({ left: cx, top: cy, width: cw, height: chh }).jpeg({ quality: 90 }),
      rotate: sharp(rotated.data).extract({ left: Math.floor((rotated.info.width - w) / 2), top: Math.floor((rotated.info.height - h) / 2), width: w, height: h }).jpeg({ quality: 90 }),
      brightness: img().modulate({ brightness: 1.3 }).jpeg({ quality: 90 }),
      contrast: img().linear(1.35, 128 * (1 - 1.35)).jpeg({ quality: 90 }),
      'resize-small': sharp(small).resize(w, h, { fit: 'fill', kernel: 'cubic' }).jpeg({ quality: 90 }),
    };
    const dir = join(outDir, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'original.jpg'), orig.data);
    for (const name of EDITS) writeFileSync(join(dir, `${name}.jpg`), await edits[name].toBuffer());
    return { id, src: relative(srcDir, src), width: w, height: h, rotate: angle };
  });
  const made = done.filter(Boolean);
  return { kind: 'near-duplicates', outDir, srcDir, seed, sources: files.length, folders: made.length, images: made.length * (EDITS.length + 1), edits: EDITS, items: made, skipped, ms: Date.now() - t0 };
}

/* ------------------------------------------------------------------ command line */

const USAGE = 'usage: synthetic-sets.mjs signatures OUT_DIR [--signers 12] [--samples 8] [--seed 1] | near-duplicates OUT_DIR --from SRC_DIR [--limit 40] [--seed 1] | siamese OUT_DIR [--signers 12] [--pairs 4] [--seed 1]';

function parseArgs(argv) {
  const pos = [];
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') throw new UsageError(USAGE);
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '') throw new UsageError(`--${key} needs a value; ${USAGE}`);
      flags[key] = value;
    } else pos.push(a);
  }
  return { pos, flags };
}

async function cli(argv) {
  const { pos, flags } = parseArgs(argv);
  const [kind, out, ...extra] = pos;
  if (!kind || !out || extra.length) throw new UsageError(USAGE);
  const allowed = { signatures: ['signers', 'samples', 'seed'], 'near-duplicates': ['from', 'limit', 'seed'], siamese: ['signers', 'pairs', 'seed'] }[kind];
  if (!allowed) throw new UsageError(`unknown set "${kind}"; ${USAGE}`);
  for (const k of Object.keys(flags)) if (!allowed.includes(k)) throw new UsageError(`${kind} takes no --${k}; ${USAGE}`);
  let s;
  if (kind === 'signatures') s = await makeSignatures(out, flags);
  else if (kind === 'siamese') s = await makeSiamese(out, flags);
  else {
    if (!flags.from) throw new UsageError(`near-duplicates needs --from SRC_DIR; ${USAGE}`);
    s = await makeNearDuplicates(out, flags.from, flags);
  }
  const what = kind === 'signatures' ? `${s.signers} signers x ${s.samples} samples`
    : kind === 'siamese' ? `${s.pairs} anchor/positive/negative triplets of ${s.signers} signers`
      : `${s.folders} originals x ${s.edits.length} edits${s.skipped.length ? ` (${s.skipped.length} unreadable skipped)` : ''}`;
  process.stderr.write(`synthetic-sets: ${kind}: ${s.images} images (${what}, seed ${s.seed}) in ${out} in ${(s.ms / 1000).toFixed(1)} s\n`);
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  cli(process.argv.slice(2)).catch((err) => {
    const msg = String(err?.message ?? err).split('\n')[0];
    process.stderr.write(`synthetic-sets: ${msg}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  });
}
