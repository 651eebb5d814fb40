/**
 * The t-SNE / PCA scatter of faces: one colour (and shape) per person with a legend, query photos
 * as stars, equal axis scales, and names placed where they cover nothing.
 */
import {
  escapeXml, fmt, header, marker, niceTicks, overlaps, PALETTE, SHAPES, text, textWidth, type Box, type Shape,
} from './svg.js';

const OTHER = '#b0b0b0';

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

/** At most `max` characters: the start and the end with an ellipsis between. */
export function shorten(s: string, max: number): string {
  if (s.length <= max) return s;
  const head = Math.ceil((max - 1) * 0.6);
  return `${s.slice(0, head)}…${s.slice(s.length - (max - 1 - head))}`;
}


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
