/**
 * Label placement for the plots: each label goes to the nearest free spot around its point, tried
 * in 16 directions at growing distances; a label that had to move away from its point gets a
 * leader line back to it. Free means: inside the plot, over no marker, no other label, no leader
 * line, and (for the leader) crossing no other label, leader or important marker. Greedy, first
 * come first served, in the order asked. Pure geometry, no SVG.
 */
import { overlaps, type Box } from './svg.js';

export interface LabelRequest {
  /** the point the label belongs to (picture coordinates) */
  x: number;
  y: number;
  /** the label's size */
  w: number;
  h: number;
  /** the nearest the label may come to the point: the marker's radius and a little air */
  gap: number;
}

export interface PlacedLabel extends Box {
  /** the label stands away from its point: draw `leader` from the marker's edge to the label */
  leader: { x1: number; y1: number; x2: number; y2: number } | null;
  /** where the text is anchored in the box: a label left of its point is right-aligned, to hug it */
  align: 'start' | 'middle' | 'end';
}

export interface PlaceOptions {
  /** how far the label may move away from its point, in label heights beyond `gap`; 0: only right next to it */
  reach?: number;
  /** allow a leader line (else only the spots next to the point are tried) */
  leader?: boolean;
  /** let the leader line cross the blockers (other stars); it still crosses no label or leader */
  crossBlockers?: boolean;
  /** let the label cover markers (the last resort before `force`); never labels or leaders */
  overMarkers?: boolean;
}

export type Segment = { x1: number; y1: number; x2: number; y2: number };

/** Directions tried, in order of preference at each distance: right, left, the diagonals, above, below, then in between. */
const DIRECTIONS = [0, 180, -45, 45, -135, 135, -90, 90, -22.5, 22.5, -157.5, 157.5, -67.5, 67.5, -112.5, 112.5]
  .map((deg) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)] as const);

/** Boxes in a coarse grid, so that "does this box touch any?" looks at a few, not all. */
class BoxGrid {
  private readonly cells = new Map<number, number[]>();
  readonly boxes: Box[] = [];

  constructor(private readonly size = 48) {}

  private *keys(b: Box): Generator<number> {
    const s = this.size;
    for (let gx = Math.floor(b.x0 / s); gx <= Math.floor(b.x1 / s); gx++) {
      for (let gy = Math.floor(b.y0 / s); gy <= Math.floor(b.y1 / s); gy++) yield (gx + 50_000) * 100_000 + (gy + 50_000);
    }
  }

  add(b: Box): void {
    const i = this.boxes.push(b) - 1;
    for (const k of this.keys(b)) {
      const list = this.cells.get(k);
      if (list) list.push(i);
      else this.cells.set(k, [i]);
    }
  }

  /** Every box that may touch `b` (a superset; check with `overlaps`). */
  *near(b: Box): Generator<Box> {
    const seen = new Set<number>();
    for (const k of this.keys(b)) {
      for (const i of this.cells.get(k) ?? []) {
        if (seen.has(i)) continue;
        seen.add(i);
        yield this.boxes[i]!;
      }
    }
  }

  hits(b: Box): boolean {
    for (const o of this.near(b)) if (overlaps(b, o)) return true;
    return false;
  }
}

/** Does the segment cross the box (Liang-Barsky clipping)? */
export function segmentHitsBox(s: Segment, b: Box): boolean {
  let t0 = 0, t1 = 1;
  const dx = s.x2 - s.x1, dy = s.y2 - s.y1;
  for (const [p, q] of [[-dx, s.x1 - b.x0], [dx, b.x1 - s.x1], [-dy, s.y1 - b.y0], [dy, b.y1 - s.y1]] as const) {
    if (p === 0) {
      if (q < 0) return false;
      continue;
    }
    const t = q / p;
    if (p < 0) { if (t > t1) return false; if (t > t0) t0 = t; }
    else { if (t < t0) return false; if (t < t1) t1 = t; }
  }
  return t0 < t1;
}

/** Do two segments cross (touching ends do not count)? */
export function segmentsCross(a: Segment, b: Segment): boolean {
  const side = (x1: number, y1: number, x2: number, y2: number, px: number, py: number) => Math.sign((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1));
  const d1 = side(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1), d2 = side(a.x1, a.y1, a.x2, a.y2, b.x2, b.y2);
  const d3 = side(b.x1, b.y1, b.x2, b.y2, a.x1, a.y1), d4 = side(b.x1, b.y1, b.x2, b.y2, a.x2, a.y2);
  return d1 * d2 < 0 && d3 * d4 < 0;
}

/**
 * The free space of one picture: the plot's bounds, the markers labels must not cover, and the
 * labels and leader lines placed so far.
 */
export class LabelSpace {
  private readonly markers = new BoxGrid();
  private readonly labels = new BoxGrid();
  /** markers a leader line must not cross (other query stars) */
  private readonly blockers = new BoxGrid();
  private readonly leaders: Segment[] = [];

  /**
   * `markers`: boxes no label may cover; `blockers`: boxes no leader line may cross either (a
   * leader's own marker, the one holding its start, is never in its way).
   */
  constructor(private readonly bounds: Box, markers: Box[] = [], blockers: Box[] = []) {
    for (const m of markers) this.markers.add(m);
    for (const b of blockers) this.blockers.add(b);
  }

  /** The nearest free spot for the label, taken; null when there is none within reach. */
  place(req: LabelRequest, opts: PlaceOptions = {}): PlacedLabel | null {
    const reach = opts.leader === false ? 0 : Math.max(0, opts.reach ?? 8);
    const step = Math.max(4, req.h * 0.8);
    const rings = Math.floor(reach / 0.8);
    const cross = opts.crossBlockers ?? false;
    // with `crossBlockers`: the free spot whose leader crosses the fewest stars, then the nearest
    let best: { box: Box; leader: Segment | null; cx: number; cost: number } | null = null;
    for (let ring = 0; ring <= rings && best?.cost !== 0; ring++) {
      const d = req.gap + ring * step;
      for (const [cx, cy] of ring === 0 ? DIRECTIONS.slice(0, 8) : DIRECTIONS) {
        const box = attach(req, d, cx, cy);
        if (!this.fits(box, opts.overMarkers ?? false)) continue;
        const leader = ring > 0 ? leaderLine(req, box) : null;
        const cost = leader ? this.lineCost(leader, req, cross) : 0;
        if (cost === Infinity || (best && cost >= best.cost)) continue;
        best = { box, leader, cx, cost };
        if (cost === 0) break;
      }
    }
    if (!best) return null;
    this.labels.add(best.box);
    if (best.leader) this.leaders.push(best.leader);
    return { ...best.box, leader: best.leader, align: Math.abs(best.cx) < 0.38 ? 'middle' : best.cx < 0 ? 'end' : 'start' };
  }

  /**
   * The last resort: the nearest spot that covers no other label, whatever it covers else (markers,
   * leader lines), with its leader line drawn across whatever lies between; only when even that is
   * missing, right of the point regardless.
   */
  force(req: LabelRequest, reach = 12): PlacedLabel {
    const step = Math.max(4, req.h * 0.8);
    const b = this.bounds;
    for (let ring = 0; ring <= Math.floor(reach / 0.8); ring++) {
      for (const [cx, cy] of DIRECTIONS) {
        const box = attach(req, req.gap + ring * step, cx, cy);
        if (box.x0 < b.x0 || box.y0 < b.y0 || box.x1 > b.x1 || box.y1 > b.y1 || this.labels.hits(box)) continue;
        const leader = ring > 0 ? leaderLine(req, box) : null;
        this.labels.add(box);
        if (leader) this.leaders.push(leader);
        return { ...box, leader, align: Math.abs(cx) < 0.38 ? 'middle' : cx < 0 ? 'end' : 'start' };
      }
    }
    const box = attach(req, req.gap, 1, 0);
    this.labels.add(box);
    return { ...box, leader: null, align: 'start' };
  }

  /** Inside the bounds, and over no marker (unless `overMarkers`), label or leader line. */
  fits(box: Box, overMarkers = false): boolean {
    const b = this.bounds;
    if (box.x0 < b.x0 || box.y0 < b.y0 || box.x1 > b.x1 || box.y1 > b.y1) return false;
    if ((!overMarkers && this.markers.hits(box)) || this.labels.hits(box)) return false;
    return !this.leaders.some((s) => segmentHitsBox(s, box));
  }

  /**
   * What a leader line costs: Infinity when it crosses a label or another leader (or a blocker,
   * unless `crossBlockers`), else how many blockers (other stars) it crosses.
   */
  private lineCost(s: Segment, req: LabelRequest, crossBlockers: boolean): number {
    const span: Box = { x0: Math.min(s.x1, s.x2), y0: Math.min(s.y1, s.y2), x1: Math.max(s.x1, s.x2), y1: Math.max(s.y1, s.y2) };
    for (const b of this.labels.near(span)) if (segmentHitsBox(s, b)) return Infinity;
    if (this.leaders.some((o) => segmentsCross(o, s))) return Infinity;
    let crossed = 0;
    for (const b of this.blockers.near(span)) {
      const own = req.x >= b.x0 && req.x <= b.x1 && req.y >= b.y0 && req.y <= b.y1;
      if (!own && segmentHitsBox(s, b)) {
        if (!crossBlockers) return Infinity;
        crossed++;
      }
    }
    return crossed;
  }
}

/** The label's box at distance `d` from its point in direction (cx, cy): the box's nearest side or corner there. */
function attach(req: LabelRequest, d: number, cx: number, cy: number): Box {
  const px = req.x + d * cx, py = req.y + d * cy;
  const x0 = cx > 0.38 ? px : cx < -0.38 ? px - req.w : px - req.w / 2;
  const y0 = cy > 0.38 ? py : cy < -0.38 ? py - req.h : py - req.h / 2;
  return { x0, y0, x1: x0 + req.w, y1: y0 + req.h };
}

/** From the edge of the point's marker to the nearest point of the label's box. */
function leaderLine(req: LabelRequest, box: Box): Segment {
  const tx = Math.min(Math.max(req.x, box.x0), box.x1), ty = Math.min(Math.max(req.y, box.y0), box.y1);
  const len = Math.hypot(tx - req.x, ty - req.y) || 1;
  const start = Math.min(req.gap - 2, len);
  return { x1: req.x + ((tx - req.x) / len) * start, y1: req.y + ((ty - req.y) / len) * start, x2: tx, y2: ty };
}

/**
 * Labels for many points at once, greedily in the order given: each at its nearest free spot
 * (with a leader line when away from its point), or null when nothing within `reach` is free.
 * No two returned boxes overlap; none covers a marker.
 */
export function placeLabels(requests: LabelRequest[], bounds: Box, markers: Box[] = [], opts: PlaceOptions = {}): (PlacedLabel | null)[] {
  const space = new LabelSpace(bounds, markers, markers);
  return requests.map((r) => space.place(r, opts));
}
