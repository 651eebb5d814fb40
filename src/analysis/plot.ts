/**
 * Plots as SVG text (no drawing library): the t-SNE / PCA scatter of faces and the ROC curve of an
 * evaluation. PNG comes from the same SVG through sharp. Pure string building, except `writePlot`.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import sharp from 'sharp';
import { FacekitError } from '../core/errors.js';
import { writeFileAtomic } from '../pipeline/run.js';

const FONT = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif";

/** 20 colours that stay apart from each other on white; after 20 the marker shape changes. */
export const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#393b79',
  '#e7ba52', '#637939', '#ad494a', '#7b4173', '#6baed6', '#fd8d3c', '#74c476', '#9e9ac8', '#d6616b', '#8c6d31',
];
const OTHER = '#b0b0b0';
const SHAPES = ['circle', 'square', 'triangle', 'diamond'] as const;
type Shape = (typeof SHAPES)[number] | 'star';

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Rough width of text in DejaVu Sans at `size` px (good enough to lay out labels and legends). */
export function textWidth(s: string, size: number): number {
  let w = 0;
  for (const ch of s) w += /[ilj.,:;'|!I]/.test(ch) ? 0.32 : /[mwMW@]/.test(ch) ? 0.9 : /[A-Z]/.test(ch) ? 0.7 : 0.6;
  return w * size;
}

const fmt = (v: number) => (Math.abs(v) < 1e-9 ? '0' : Number(v.toPrecision(6)).toString());

/** "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(12)));
  return out;
}

function marker(shape: Shape, x: number, y: number, r: number, fill: string, extra = ''): string {
  const a = (v: number) => v.toFixed(1);
  switch (shape) {
    case 'circle':
      return `<circle cx="${a(x)}" cy="${a(y)}" r="${a(r)}" fill="${fill}"${extra}/>`;
    case 'square':
      return `<rect x="${a(x - r * 0.9)}" y="${a(y - r * 0.9)}" width="${a(r * 1.8)}" height="${a(r * 1.8)}" fill="${fill}"${extra}/>`;
    case 'triangle':
      return `<path d="M${a(x)},${a(y - r * 1.15)}L${a(x + r * 1.05)},${a(y + r * 0.75)}L${a(x - r * 1.05)},${a(y + r * 0.75)}Z" fill="${fill}"${extra}/>`;
    case 'diamond':
      return `<path d="M${a(x)},${a(y - r * 1.2)}L${a(x + r * 1.2)},${a(y)}L${a(x)},${a(y + r * 1.2)}L${a(x - r * 1.2)},${a(y)}Z" fill="${fill}"${extra}/>`;
    case 'star': {
      const pts: string[] = [];
      for (let i = 0; i < 10; i++) {
        const rr = i % 2 === 0 ? r : r * 0.45;
        const t = -Math.PI / 2 + (i * Math.PI) / 5;
        pts.push(`${a(x + rr * Math.cos(t))},${a(y + rr * Math.sin(t))}`);
      }
      return `<polygon points="${pts.join(' ')}" fill="${fill}"${extra}/>`;
    }
  }
}

function text(x: number, y: number, s: string, attrs: string): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(s)}</text>`;
}

function header(width: number, height: number, title: string, subtitle?: string): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    text(width / 2, 38, title, 'font-size="22" font-weight="bold" text-anchor="middle" fill="#222"'),
  ];
  if (subtitle) out.push(text(width / 2, 62, subtitle, 'font-size="14" text-anchor="middle" fill="#666"'));
  return out;
}

/* ---------------------------------------------------------------- scatter */

export interface ScatterPoint {
  x: number;
  y: number;
  /** the person; null for a query ("unknown") point */
  group: string | null;
  /** text written next to the point with `labels` */
  text?: string;
}

export interface ScatterOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** write each point's text next to it */
  labels: boolean;
  /** what query points are called in the legend and next to them, e.g. "unknown" */
  unknownLabel: string;
  width?: number;
  height?: number;
  /** most people with their own colour in the legend; the rest are grey "other" (default 20) */
  maxLegend?: number;
}

/** Names from folders read better with spaces, and capitals when they have none: "bob_dylan" -> "Bob Dylan". */
export function displayName(label: string): string {
  const spaced = label.replace(/_/g, ' ').trim();
  return spaced === spaced.toLowerCase() ? spaced.replace(/(^|[\s-])(\p{L})/gu, (_, a: string, b: string) => a + b.toUpperCase()) : spaced;
}

interface Box { x0: number; y0: number; x1: number; y1: number }

/** At most `max` characters: the start and the end with an ellipsis between. */
export function shorten(s: string, max: number): string {
  if (s.length <= max) return s;
  const head = Math.ceil((max - 1) * 0.6);
  return `${s.slice(0, head)}…${s.slice(s.length - (max - 1 - head))}`;
}
const overlaps = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/**
 * One colour (and, past 20 people, shape) per person with a legend, query points as black stars
 * called `unknownLabel`, equal scales on both axes (distances in the picture mean the same in
 * every direction), ticks and grid.
 */
export function scatterSvg(points: ScatterPoint[], opts: ScatterOptions): string {
  const width = opts.width ?? 1200, height = opts.height ?? 860;
  const maxLegend = opts.maxLegend ?? 20;
  // people, largest first when some must go grey; otherwise in name order
  const counts = new Map<string, number>();
  for (const p of points) if (p.group !== null) counts.set(p.group, (counts.get(p.group) ?? 0) + 1);
  let groups = [...counts.keys()].sort((a, b) => a.localeCompare(b));
  let others = 0, otherPoints = 0;
  if (groups.length > maxLegend) {
    const keep = new Set([...groups].sort((a, b) => counts.get(b)! - counts.get(a)! || a.localeCompare(b)).slice(0, maxLegend - 1));
    others = groups.length - keep.size;
    otherPoints = groups.filter((g) => !keep.has(g)).reduce((s, g) => s + counts.get(g)!, 0);
    groups = groups.filter((g) => keep.has(g));
  }
  const style = new Map(groups.map((g, i) => [g, { colour: PALETTE[i % PALETTE.length]!, shape: SHAPES[Math.floor(i / PALETTE.length) % SHAPES.length]! as Shape }]));
  const queries = points.filter((p) => p.group === null).length;

  // legend size decides the plot area
  const legendFont = 14;
  const legendItems: { label: string; colour: string; shape: Shape }[] = groups.map((g) => ({
    label: `${displayName(g)} (${counts.get(g)})`, ...style.get(g)!,
  }));
  if (others > 0) legendItems.push({ label: `${others} other people (${otherPoints})`, colour: OTHER, shape: 'circle' });
  if (queries > 0) legendItems.push({ label: `${opts.unknownLabel}${queries > 1 ? ` (${queries})` : ''}`, colour: '#111', shape: 'star' });
  const legendW = Math.min(300, Math.max(140, ...legendItems.map((l) => textWidth(l.label, legendFont) + 44)));
  const top = opts.subtitle ? 84 : 64, bottom = 64, left = 72, right = legendW + 36;
  const pw = width - left - right, ph = height - top - bottom;

  // equal scale on both axes, 4% padding
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
  if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  const scale = Math.min(pw / ((x1 - x0) * 1.08), ph / ((y1 - y0) * 1.08));
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const vx0 = cx - pw / 2 / scale, vx1 = cx + pw / 2 / scale, vy0 = cy - ph / 2 / scale, vy1 = cy + ph / 2 / scale;
  const px = (x: number) => left + (x - vx0) * scale;
  const py = (y: number) => top + ph - (y - vy0) * scale;

  const out = header(width, height, opts.title, opts.subtitle);
  // grid, ticks, frame
  out.push(`<g font-size="12" fill="#555">`);
  for (const t of niceTicks(vx0, vx1, 8)) {
    out.push(`<line x1="${px(t).toFixed(1)}" y1="${top}" x2="${px(t).toFixed(1)}" y2="${top + ph}" stroke="#eeeeee"/>`);
    out.push(`<line x1="${px(t).toFixed(1)}" y1="${top + ph}" x2="${px(t).toFixed(1)}" y2="${top + ph + 5}" stroke="#666"/>`);
    out.push(text(px(t), top + ph + 20, fmt(t), 'text-anchor="middle"'));
  }
  for (const t of niceTicks(vy0, vy1, 7)) {
    out.push(`<line x1="${left}" y1="${py(t).toFixed(1)}" x2="${left + pw}" y2="${py(t).toFixed(1)}" stroke="#eeeeee"/>`);
    out.push(`<line x1="${left - 5}" y1="${py(t).toFixed(1)}" x2="${left}" y2="${py(t).toFixed(1)}" stroke="#666"/>`);
    out.push(text(left - 9, py(t) + 4, fmt(t), 'text-anchor="end"'));
  }
  out.push('</g>');
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#666"/>`);
  out.push(text(left + pw / 2, height - 18, opts.xLabel, 'font-size="15" text-anchor="middle" fill="#333"'));
  out.push(`<text transform="translate(22 ${(top + ph / 2).toFixed(1)}) rotate(-90)" font-size="15" text-anchor="middle" fill="#333">${escapeXml(opts.yLabel)}</text>`);

  // points: others first, then people, then queries on top
  const n = points.length;
  const r = n <= 150 ? 6.5 : n <= 600 ? 5 : n <= 2000 ? 3.5 : 2.5;
  const outline = n <= 2000 ? ' stroke="#ffffff" stroke-width="1"' : '';
  const opacity = n <= 600 ? '' : ' fill-opacity="0.8"';
  out.push('<g>');
  for (const p of points) if (p.group !== null && !style.has(p.group)) out.push(marker('circle', px(p.x), py(p.y), r * 0.8, OTHER, opacity));
  for (const p of points) {
    if (p.group === null || !style.has(p.group)) continue;
    const s = style.get(p.group)!;
    out.push(marker(s.shape, px(p.x), py(p.y), r, s.colour, outline + opacity));
  }
  for (const p of points) if (p.group === null) out.push(marker('star', px(p.x), py(p.y), Math.max(11, r * 2), '#111', ' stroke="#ffffff" stroke-width="1.5"'));
  out.push('</g>');

  // labels: queries always (their text or "unknown"); with `labels`, every point's name where it
  // covers no other label or point, and not when the same name is already written close by (a
  // cluster gets its name once or twice; a face far from its person's cluster gets its own)
  const placed: (Box & { text: string })[] = [];
  const markers: Box[] = points.map((p) => {
    const rr = (p.group === null ? Math.max(11, r * 2) : r) + 1;
    return { x0: px(p.x) - rr, y0: py(p.y) - rr, x1: px(p.x) + rr, y1: py(p.y) + rr };
  });
  const clip: Box = { x0: left, y0: top, x1: left + pw, y1: top + ph };
  const centroid = new Map<string, [number, number]>();
  for (const g of counts.keys()) {
    const mine = points.filter((p) => p.group === g);
    centroid.set(g, [mine.reduce((a, p) => a + p.x, 0) / mine.length, mine.reduce((a, p) => a + p.y, 0) / mine.length]);
  }
  const fromCentre = (p: ScatterPoint) => {
    const c = centroid.get(p.group!)!;
    return Math.hypot(p.x - c[0], p.y - c[1]);
  };
  const labelled = [
    ...points.filter((p) => p.group === null),
    ...(opts.labels ? points.filter((p) => p.group !== null).sort((a, b) => fromCentre(a) - fromCentre(b)) : []),
  ];
  const labelSvg: string[] = [];
  for (const p of labelled) {
    const isQuery = p.group === null;
    const s = isQuery ? (opts.labels && p.text ? `${opts.unknownLabel}: ${shorten(p.text, 24)}` : opts.unknownLabel) : (p.text ?? displayName(p.group!));
    const size = isQuery ? 14 : n <= 300 ? 12 : 10;
    const w = textWidth(s, size) * (isQuery ? 1.12 : 1), h = size;
    const x = px(p.x), y = py(p.y);
    if (!isQuery && placed.some((q) => q.text === s && Math.hypot(Math.max(q.x0 - x, 0, x - q.x1), Math.max(q.y0 - y, 0, y - q.y1)) < 70)) continue;
    const gap = (isQuery ? Math.max(11, r * 2) : r) + 3;
    const candidates: Box[] = [
      { x0: x + gap, y0: y - h / 2, x1: x + gap + w, y1: y + h / 2 },
      { x0: x - gap - w, y0: y - h / 2, x1: x - gap, y1: y + h / 2 },
      { x0: x - w / 2, y0: y - gap - h, x1: x + w / 2, y1: y - gap },
      { x0: x - w / 2, y0: y + gap, x1: x + w / 2, y1: y + gap + h },
    ];
    if (isQuery) {
      // further out, with a leader line, rather than over the points
      for (const k of [1.6, 2.6, 3.8, 5]) {
        const dy = k * h;
        candidates.push(
          { x0: x + gap, y0: y - dy - h / 2, x1: x + gap + w, y1: y - dy + h / 2 },
          { x0: x + gap, y0: y + dy - h / 2, x1: x + gap + w, y1: y + dy + h / 2 },
          { x0: x - gap - w, y0: y - dy - h / 2, x1: x - gap, y1: y - dy + h / 2 },
          { x0: x - gap - w, y0: y + dy - h / 2, x1: x - gap, y1: y + dy + h / 2 },
        );
      }
    }
    const inside = (b: Box) => b.x0 >= clip.x0 && b.x1 <= clip.x1 && b.y0 >= clip.y0 && b.y1 <= clip.y1;
    let box = candidates.find((b) => inside(b) && !placed.some((q) => overlaps(b, q)) && !markers.some((m) => overlaps(b, m)));
    if (!box && isQuery) box = candidates.find((b) => inside(b) && !placed.some((q) => overlaps(b, q))) ?? candidates.find(inside) ?? candidates[0]!;
    if (!box) continue;
    placed.push({ ...box, text: s });
    if (isQuery && (box.y0 > y + gap || box.y1 < y - gap)) {
      const ex = box.x0 > x ? box.x0 - 2 : box.x1 + 2, ey = (box.y0 + box.y1) / 2;
      labelSvg.push(`<line x1="${x.toFixed(1)}" y1="${y.toFixed(1)}" x2="${ex.toFixed(1)}" y2="${ey.toFixed(1)}" stroke="#111" stroke-width="1"/>`);
    }
    const weight = isQuery ? ' font-weight="bold"' : '';
    labelSvg.push(text(box.x0, box.y1 - h * 0.15, s,
      `font-size="${size}"${weight} fill="${isQuery ? '#111' : '#333'}" stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"`));
  }
  out.push('<g>', ...labelSvg, '</g>');

  // legend
  const lx = left + pw + 24, ly = top;
  const rowH = legendItems.length > 30 ? 16 : 22;
  out.push(`<g font-size="${legendFont}" fill="#222">`);
  out.push(text(lx, ly + 4, queries > 0 && groups.length + others === 0 ? '' : 'people', 'font-size="15" font-weight="bold"'));
  legendItems.forEach((l, i) => {
    const y = ly + 26 + i * rowH;
    out.push(marker(l.shape, lx + 8, y - 5, l.shape === 'star' ? 9 : 6, l.colour));
    out.push(text(lx + 24, y, l.label, ''));
  });
  out.push('</g>', '</svg>');
  return out.join('\n') + '\n';
}

/* ---------------------------------------------------------------- ROC */

export interface RocSeries {
  name: string;
  /** FAR ascending, as rocCurve gives */
  points: { far: number; tar: number }[];
  /** points to mark and name on the curve (equal error rate, TAR at fixed FARs) */
  marks?: { far: number; tar: number; text: string }[];
}

export interface RocOptions {
  title: string;
  subtitle?: string;
  width?: number;
  height?: number;
}

/**
 * ROC curves: true accept rate against false accept rate, the FAR axis logarithmic (the region
 * that matters for faces, FAR 1e-3..1e-2, is otherwise squeezed against the left edge). Points at
 * FAR 0 sit on the left edge.
 */
export function rocSvg(series: RocSeries[], opts: RocOptions): string {
  const width = opts.width ?? 960, height = opts.height ?? 720;
  const top = opts.subtitle ? 88 : 68, bottom = 70, left = 80, right = 30;
  const pw = width - left - right, ph = height - top - bottom;
  const minFar = Math.min(1e-3, ...series.flatMap((s) => s.points.filter((p) => p.far > 0).map((p) => p.far)));
  const lo = Math.floor(Math.log10(minFar));
  // TAR axis: from 0, or zoomed in to the tenth below the lowest TAR shown when that is 0.5 or more
  // (good systems hug the top edge, and the part that matters would be a few pixels high)
  const lowest = Math.min(...series.map((s) => s.points.filter((p) => p.far >= 10 ** lo).reduce((m, p) => Math.min(m, p.tar), 1)));
  let yLo = 0;
  if (lowest >= 0.5) {
    yLo = Math.floor(lowest * 10 + 1e-9) / 10;
    if (lowest - yLo < 0.02) yLo -= 0.1; // keep the lowest point off the bottom edge
  }
  const px = (far: number) => left + ((Math.log10(Math.max(far, 10 ** lo)) - lo) / -lo) * pw;
  const py = (tar: number) => top + ph - ((tar - yLo) / (1 - yLo)) * ph;
  const out = header(width, height, opts.title, opts.subtitle);
  out.push(`<defs><clipPath id="plot-area"><rect x="${left}" y="${top - 4}" width="${pw + 4}" height="${ph + 4}"/></clipPath></defs>`);
  out.push('<g font-size="13" fill="#555">');
  for (let e = lo; e <= 0; e++) {
    const x = px(10 ** e);
    out.push(`<line x1="${x.toFixed(1)}" y1="${top}" x2="${x.toFixed(1)}" y2="${top + ph}" stroke="#e4e4e4"/>`);
    if (e < 0) for (let m = 2; m < 10; m++) {
      const xm = px(m * 10 ** e);
      out.push(`<line x1="${xm.toFixed(1)}" y1="${top + ph}" x2="${xm.toFixed(1)}" y2="${top + ph + 4}" stroke="#999"/>`);
    }
    out.push(`<line x1="${x.toFixed(1)}" y1="${top + ph}" x2="${x.toFixed(1)}" y2="${top + ph + 7}" stroke="#666"/>`);
    out.push(text(x, top + ph + 24, e === 0 ? '1' : `${fmt(10 ** e)}`, 'text-anchor="middle"'));
  }
  const yTicks = niceTicks(yLo, 1, 10);
  const yDigits = yTicks.length > 1 && yTicks[1]! - yTicks[0]! < 0.1 - 1e-9 ? 2 : 1;
  for (const t of yTicks) {
    const y = py(t);
    out.push(`<line x1="${left}" y1="${y.toFixed(1)}" x2="${left + pw}" y2="${y.toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(text(left - 10, y + 4, t.toFixed(yDigits), 'text-anchor="end"'));
  }
  out.push('</g>');
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#666"/>`);
  out.push(text(left + pw / 2, height - 20, 'false accept rate (different people accepted; log scale)', 'font-size="15" text-anchor="middle" fill="#333"'));
  out.push(`<text transform="translate(24 ${(top + ph / 2).toFixed(1)}) rotate(-90)" font-size="15" text-anchor="middle" fill="#333">true accept rate (same person accepted${yLo > 0 ? `; axis from ${yLo.toFixed(1)}` : ''})</text>`);
  // chance: TAR = FAR
  if (yLo === 0) {
    const chance: string[] = [];
    for (let i = 0; i <= 60; i++) {
      const far = 10 ** (lo - (lo * i) / 60);
      chance.push(`${px(far).toFixed(1)},${py(far).toFixed(1)}`);
    }
    out.push(`<polyline clip-path="url(#plot-area)" points="${chance.join(' ')}" fill="none" stroke="#999" stroke-dasharray="6 5" stroke-width="1.5"/>`);
    out.push(text(px(0.3) + 8, py(0.3) + 18, 'chance', 'font-size="13" fill="#888" text-anchor="start"'));
  }
  const placed: Box[] = [];
  series.forEach((s, si) => {
    const colour = PALETTE[si % PALETTE.length]!;
    // thin the polyline to what shows at this size
    const pts: string[] = [];
    let lastX = -Infinity, lastY = -Infinity;
    s.points.forEach((p, i) => {
      const x = px(p.far), y = py(Math.max(p.tar, yLo - 0.02));
      if (i === s.points.length - 1 || Math.abs(x - lastX) >= 0.5 || Math.abs(y - lastY) >= 0.5) {
        pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
        lastX = x;
        lastY = y;
      }
    });
    out.push(`<polyline clip-path="url(#plot-area)" points="${pts.join(' ')}" fill="none" stroke="${colour}" stroke-width="2.5" stroke-linejoin="round"/>`);
    // marks, their labels below the curve, moved down until they cover no other label
    for (const m of [...(s.marks ?? [])].sort((a, b) => a.far - b.far)) {
      const x = px(m.far), y = py(m.tar);
      out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="5" fill="#ffffff" stroke="${colour}" stroke-width="2.5"/>`);
      const w = textWidth(m.text, 13);
      const toRight = x + 10 + w < left + pw;
      const bx = toRight ? x + 8 : x - 8 - w;
      let by = y + 10;
      while (placed.some((b) => overlaps(b, { x0: bx, y0: by, x1: bx + w, y1: by + 16 })) && by < top + ph - 20) by += 18;
      placed.push({ x0: bx, y0: by, x1: bx + w, y1: by + 16 });
      out.push(`<line x1="${x.toFixed(1)}" y1="${(y + 5).toFixed(1)}" x2="${(toRight ? bx : bx + w).toFixed(1)}" y2="${(by + 8).toFixed(1)}" stroke="#bbb"/>`);
      out.push(text(bx, by + 13, m.text, 'font-size="13" fill="#222" stroke="#ffffff" stroke-width="3" paint-order="stroke"'));
    }
  });
  // legend, bottom right
  const lh = 24, lw = Math.max(...series.map((s) => textWidth(s.name, 14))) + 56;
  const lx = left + pw - lw - 12, ly = top + ph - 16 - lh * series.length;
  out.push(`<rect x="${lx.toFixed(1)}" y="${(ly - 8).toFixed(1)}" width="${lw.toFixed(1)}" height="${lh * series.length + 12}" fill="#ffffff" fill-opacity="0.9" stroke="#ccc"/>`);
  series.forEach((s, si) => {
    const y = ly + 10 + si * lh;
    out.push(`<line x1="${(lx + 10).toFixed(1)}" y1="${y.toFixed(1)}" x2="${(lx + 38).toFixed(1)}" y2="${y.toFixed(1)}" stroke="${PALETTE[si % PALETTE.length]}" stroke-width="3"/>`);
    out.push(text(lx + 46, y + 5, s.name, 'font-size="14" fill="#222"'));
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/* ---------------------------------------------------------------- files */

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
