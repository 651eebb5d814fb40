/**
 * Shared SVG building blocks for the plots: palette, marker shapes, text (escaped, roughly
 * measured), nice axis ticks, the page header, and label boxes that must not overlap.
 */

const FONT = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif";

/** 20 colours that stay apart from each other on white; after 20 the marker shape changes. */
export const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#393b79',
  '#e7ba52', '#637939', '#ad494a', '#7b4173', '#6baed6', '#fd8d3c', '#74c476', '#9e9ac8', '#d6616b', '#8c6d31',
];
export const SHAPES = ['circle', 'square', 'triangle', 'diamond'] as const;
export type Shape = (typeof SHAPES)[number] | 'star';

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Rough width of text in DejaVu Sans at `size` px (good enough to lay out labels and legends). */
export function textWidth(s: string, size: number): number {
  let w = 0;
  for (const ch of s) w += /[ilj.,:;'|!I]/.test(ch) ? 0.32 : /[mwMW@]/.test(ch) ? 0.9 : /[A-Z]/.test(ch) ? 0.7 : 0.6;
  return w * size;
}

export const fmt = (v: number) => (Math.abs(v) < 1e-9 ? '0' : Number(v.toPrecision(6)).toString());

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

export function marker(shape: Shape, x: number, y: number, r: number, fill: string, extra = ''): string {
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

export function text(x: number, y: number, s: string, attrs: string): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(s)}</text>`;
}

export function header(width: number, height: number, title: string, subtitle?: string): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    text(width / 2, 38, title, 'font-size="22" font-weight="bold" text-anchor="middle" fill="#222"'),
  ];
  if (subtitle) out.push(text(width / 2, 62, subtitle, 'font-size="14" text-anchor="middle" fill="#666"'));
  return out;
}

export interface Box { x0: number; y0: number; x1: number; y1: number }

export const overlaps = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
