/**
 * The ROC curve of an evaluation: true accept rate against a logarithmic false accept rate, with
 * named marks (equal error rate, TAR at fixed FARs) and a legend.
 */
import { fmt, header, niceTicks, overlaps, PALETTE, text, textWidth, type Box } from './svg.js';

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
