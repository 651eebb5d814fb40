/**
 * The t-SNE / PCA scatter of faces: one colour (and shape) per person with a legend, query photos
 * as stars, equal axis scales, and names placed where they cover nothing.
 */
import { LabelSpace, type PlacedLabel } from './labels.js';
import {
  escapeXml, fmt, header, marker, niceTicks, PALETTE, SHAPES, text, textWidth, type Box, type Shape,
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
  /** what the groups are, plural, for the legend (default "people"; "categories" for pictures) */
  groupsName?: string;
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
 *
 * Labels never overlap each other or the markers: each goes to the nearest free spot around its
 * point (a query's with a leader line when it had to move away); a query label with no room left
 * becomes a number next to its star, listed in the legend.
 */
export function scatterSvg(points: ScatterPoint[], opts: ScatterOptions): string {
  const first = drawScatter(points, opts, 0);
  // numbered queries are listed in the legend: draw again with the legend wide enough for them
  return first.legendNeeds > first.legendW ? drawScatter(points, opts, first.legendNeeds).svg : first.svg;
}

const QUERY_FONT = 14;
const NUMBER_FONT = 13;
const LEGEND_MAX_W = 300;

function drawScatter(points: ScatterPoint[], opts: ScatterOptions, minLegendW: number): { svg: string; legendW: number; legendNeeds: number } {
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
  const queryPoints = points.filter((p) => p.group === null);
  const queries = queryPoints.length;

  // legend size decides the plot area
  const legendFont = 14;
  const legendItems: { label: string; colour: string; shape: Shape }[] = groups.map((g) => ({
    label: `${displayName(g)} (${counts.get(g)})`, ...style.get(g)!,
  }));
  if (others > 0) legendItems.push({ label: `${others} other ${opts.groupsName ?? 'people'} (${otherPoints})`, colour: OTHER, shape: 'circle' });
  if (queries > 0) legendItems.push({ label: `${opts.unknownLabel}${queries > 1 ? ` (${queries})` : ''}`, colour: '#111', shape: 'star' });
  const legendW = Math.min(LEGEND_MAX_W, Math.max(140, minLegendW, ...legendItems.map((l) => textWidth(l.label, legendFont) + 44)));
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
  const starR = Math.max(11, r * 2);
  const outline = n <= 2000 ? ' stroke="#ffffff" stroke-width="1"' : '';
  const opacity = n <= 600 ? '' : ' fill-opacity="0.8"';
  out.push('<g>');
  for (const p of points) if (p.group !== null && !style.has(p.group)) out.push(marker('circle', px(p.x), py(p.y), r * 0.8, OTHER, opacity));
  for (const p of points) {
    if (p.group === null || !style.has(p.group)) continue;
    const s = style.get(p.group)!;
    out.push(marker(s.shape, px(p.x), py(p.y), r, s.colour, outline + opacity));
  }
  for (const p of queryPoints) out.push(marker('star', px(p.x), py(p.y), starR, '#111', ' stroke="#ffffff" stroke-width="1.5"'));
  out.push('</g>');

  // labels: queries first (their text, or "unknown"), each at the nearest free spot around its
  // star, further out with a leader line when the ring around it is full; then, with `labels`,
  // every point's name where it covers no other label, point or leader line, and not when the
  // same name is already written close by (a cluster gets its name once or twice; a face far
  // from its person's cluster gets its own)
  const box = (x: number, y: number, rr: number): Box => ({ x0: x - rr, y0: y - rr, x1: x + rr, y1: y + rr });
  const markers: Box[] = points.map((p) => box(px(p.x), py(p.y), (p.group === null ? starR : r) + 1));
  const stars: Box[] = queryPoints.map((p) => box(px(p.x), py(p.y), starR + 1));
  const bounds: Box = { x0: left + 2, y0: top + 2, x1: left + pw - 2, y1: top + ph - 2 };
  const labelSvg: string[] = [];
  const leaders: string[] = [];
  const halo = 'stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"';
  const draw = (s: string, at: PlacedLabel, size: number, attrs: string) => {
    const x = at.align === 'start' ? at.x0 + 1 : at.align === 'end' ? at.x1 - 1 : (at.x0 + at.x1) / 2;
    labelSvg.push(text(x, at.y1 - 1 - size * 0.2, s, `font-size="${size}" text-anchor="${at.align}" ${attrs} ${halo}`));
    if (at.leader) {
      const l = at.leader;
      leaders.push(`<line x1="${l.x1.toFixed(1)}" y1="${l.y1.toFixed(1)}" x2="${l.x2.toFixed(1)}" y2="${l.y2.toFixed(1)}" stroke="#111" stroke-width="0.8"/>`);
    }
  };

  // query labels. Crowded stars first: they have the fewest free spots near them. A star whose
  // whole text finds no room gets a number instead (with `labels`; a plain "unknown" needs
  // neither: the legend's star says it). Numbers that found no free spot either go first in a
  // second round, before the long texts wall them in.
  const crowd = (p: ScatterPoint) => queryPoints.filter((q) => Math.hypot(px(q.x) - px(p.x), py(q.y) - py(p.y)) < 80).length;
  const queryText = (p: ScatterPoint) => (opts.labels && p.text ? `${opts.unknownLabel}: ${shorten(p.text, 24)}` : opts.unknownLabel);
  const order = queryPoints.map((p, i) => ({ i, crowd: crowd(p) })).sort((a, b) => b.crowd - a.crowd || a.i - b.i).map((o) => o.i);
  const numberW = textWidth('8'.repeat(String(queries).length), NUMBER_FONT) * 1.12 + 4;
  const placeQueries = (numberFirst: Set<number>) => {
    const space = new LabelSpace(bounds, markers, stars);
    const placed = new Map<number, { at: PlacedLabel; number: boolean }>();
    const forced: number[] = [];
    const placeNumber = (i: number) => {
      const p = queryPoints[i]!;
      const req = { x: px(p.x), y: py(p.y), w: numberW, h: NUMBER_FONT + 3, gap: starR + 1 };
      // near the star; else further out, the leader line crossing other stars if it must; else
      // over other markers (never over a label)
      let at = space.place(req, { reach: 4 }) ?? space.place(req, { reach: 10, crossBlockers: true })
        ?? space.place(req, { reach: 10, crossBlockers: true, overMarkers: true });
      if (!at) { forced.push(i); at = space.force(req); }
      placed.set(i, { at, number: true });
    };
    for (const i of order) if (numberFirst.has(i)) placeNumber(i);
    const unplaced: number[] = [];
    for (const i of order) {
      if (numberFirst.has(i)) continue;
      const p = queryPoints[i]!, s = queryText(p);
      const at = space.place({ x: px(p.x), y: py(p.y), w: textWidth(s, QUERY_FONT) * 1.12 + 4, h: QUERY_FONT + 3, gap: starR + 2 }, { reach: 7 });
      if (at) placed.set(i, { at, number: false });
      else unplaced.push(i);
    }
    if (opts.labels) for (const i of unplaced) placeNumber(i);
    return { space, placed, forced };
  };
  let round = placeQueries(new Set());
  for (let tries = 0; round.forced.length > 0 && tries < 2; tries++) {
    const again = placeQueries(new Set([...round.placed].filter(([, v]) => v.number).map(([i]) => i)));
    if (again.forced.length >= round.forced.length) break;
    round = again;
  }
  const space = round.space;
  const numbered: { num: number; text: string }[] = [];
  for (const i of [...round.placed.keys()].sort((a, b) => a - b)) {
    const { at, number } = round.placed.get(i)!;
    const p = queryPoints[i]!;
    if (!number) { draw(queryText(p), at, QUERY_FONT, 'font-weight="bold" fill="#111"'); continue; }
    const num = numbered.length + 1;
    numbered.push({ num, text: p.text ?? opts.unknownLabel });
    draw(String(num), at, NUMBER_FONT, 'font-weight="bold" fill="#111"');
  }
  if (opts.labels) {
    const placedNames: (Box & { text: string })[] = [];
    const centroid = new Map<string, [number, number]>();
    for (const g of counts.keys()) {
      const mine = points.filter((p) => p.group === g);
      centroid.set(g, [mine.reduce((a, p) => a + p.x, 0) / mine.length, mine.reduce((a, p) => a + p.y, 0) / mine.length]);
    }
    const fromCentre = (p: ScatterPoint) => {
      const c = centroid.get(p.group!)!;
      return Math.hypot(p.x - c[0], p.y - c[1]);
    };
    const size = n <= 300 ? 12 : 10;
    for (const p of points.filter((q) => q.group !== null).sort((a, b) => fromCentre(a) - fromCentre(b))) {
      const s = p.text ?? displayName(p.group!);
      const x = px(p.x), y = py(p.y);
      if (placedNames.some((q) => q.text === s && Math.hypot(Math.max(q.x0 - x, 0, x - q.x1), Math.max(q.y0 - y, 0, y - q.y1)) < 70)) continue;
      const at = space.place({ x, y, w: textWidth(s, size) + 2, h: size + 1, gap: r + 3 }, { leader: false });
      if (!at) continue;
      placedNames.push({ ...at, text: s });
      draw(s, at, size, 'fill="#333"');
    }
  }
  out.push('<g>', ...leaders, '</g>', '<g>', ...labelSvg, '</g>');

  // legend: people, then the star, then the numbered queries
  const lx = left + pw + 24, ly = top;
  const numberedW = numbered.length ? Math.max(...numbered.map((q) => textWidth(`${q.num}  ${q.text}`, 13) + 44)) : 0;
  const legendNeeds = Math.min(LEGEND_MAX_W, numberedW);
  const rows = legendItems.length + numbered.length;
  const rowH = Math.max(12, Math.min(rows > 30 ? 16 : 22, (height - ly - 40) / Math.max(1, rows)));
  out.push(`<g font-size="${legendFont}" fill="#222">`);
  out.push(text(lx, ly + 4, queries > 0 && groups.length + others === 0 ? '' : (opts.groupsName ?? 'people'), 'font-size="15" font-weight="bold"'));
  legendItems.forEach((l, i) => {
    const y = ly + 26 + i * rowH;
    out.push(marker(l.shape, lx + 8, y - 5, l.shape === 'star' ? 9 : 6, l.colour));
    out.push(text(lx + 24, y, l.label, ''));
  });
  const room = Math.floor((legendW - 24 - textWidth('00  ', 13)) / (13 * 0.6));
  numbered.forEach((q, k) => {
    const y = ly + 26 + (legendItems.length + k) * rowH;
    out.push(`<text x="${(lx + 24).toFixed(1)}" y="${y.toFixed(1)}" font-size="13"><tspan font-weight="bold">${q.num}</tspan>  ${escapeXml(shorten(q.text, Math.max(8, room)))}</text>`);
  });
  out.push('</g>', '</svg>');
  return { svg: out.join('\n') + '\n', legendW, legendNeeds };
}
