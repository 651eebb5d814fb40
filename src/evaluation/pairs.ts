/**
 * Lists of labelled pairs: LFW's pairs.txt, a CSV of image_a,image_b,same, and every pair of a
 * labelled set (a folder of people).
 */
import { join } from 'node:path';
import { isImagePath } from '../core/image.js';

export interface Pair {
  a: string;
  b: string;
  same: boolean;
  /** fold index (LFW's 10 sets), or -1 when the list has none */
  fold: number;
  /** 1-based line in the pairs file */
  line: number;
}

export interface ParsedPairs {
  pairs: Pair[];
  /** lines that could not be read: reported, not fatal */
  problems: { line: number; message: string }[];
  folds: number;
}

const lfwName = (name: string, n: string) => `${name}/${name}_${n.padStart(4, '0')}.jpg`;

/**
 * LFW's pairs.txt: a header "<sets> <n>", then per set n matched lines "name i j" and n
 * mismatched lines "name1 i name2 j", tab or space separated.
 */
export function parseLfwPairs(text: string, imagesDir: string): ParsedPairs {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').trim().split(/\s+/).map(Number);
  const problems: ParsedPairs['problems'] = [];
  let sets = 1, perSet = Infinity;
  let start = 0;
  if (header.length === 2 && header.every((v) => Number.isInteger(v) && v > 0)) {
    [sets, perSet] = header as [number, number];
    start = 1;
  } else if (header.length === 1 && Number.isInteger(header[0]) && header[0]! > 0) {
    perSet = header[0]!;
    start = 1;
  }
  const pairs: Pair[] = [];
  let index = 0;
  for (let i = start; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    const f = raw.split(/\s+/);
    const line = i + 1;
    const fold = Number.isFinite(perSet) ? Math.min(sets - 1, Math.floor(index / (2 * perSet))) : -1;
    if (f.length === 3 && /^\d+$/.test(f[1]!) && /^\d+$/.test(f[2]!)) {
      pairs.push({ a: join(imagesDir, lfwName(f[0]!, f[1]!)), b: join(imagesDir, lfwName(f[0]!, f[2]!)), same: true, fold, line });
    } else if (f.length === 4 && /^\d+$/.test(f[1]!) && /^\d+$/.test(f[3]!)) {
      pairs.push({ a: join(imagesDir, lfwName(f[0]!, f[1]!)), b: join(imagesDir, lfwName(f[2]!, f[3]!)), same: false, fold, line });
    } else {
      problems.push({ line, message: 'expected "name i j" or "name1 i name2 j"' });
      continue;
    }
    index++;
  }
  return { pairs, problems, folds: Number.isFinite(perSet) ? sets : 1 };
}

const YES = new Set(['1', 'yes', 'y', 'true', 't', 'same']);
const NO = new Set(['0', 'no', 'n', 'false', 'f', 'different', 'diff']);

/** A CSV of `image_a,image_b,same` (same: yes/no, 1/0, true/false); a header line is allowed. */
export function parseCsvPairs(text: string, baseDir = ''): ParsedPairs {
  const pairs: Pair[] = [];
  const problems: ParsedPairs['problems'] = [];
  const lines = text.split(/\r?\n/);
  // the columns of the two images and the verdict: the first three, or those a header names
  // (deepface's master.csv: file_x,file_y,decision, then one distance column per model)
  let cols = [0, 1, 2];
  let first = true;
  lines.forEach((rawLine, i) => {
    const raw = rawLine.trim();
    const line = i + 1;
    if (raw === '' || raw.startsWith('#')) return;
    const f = splitCsv(raw);
    const isFirst = first;
    first = false;
    // A header line names columns, not image files.
    if (isFirst && f.length >= 3 && !isImagePath(f[0]!) && !isImagePath(f[1]!)) {
      cols = headerColumns(f);
      return;
    }
    if (f.length < 3 || cols.some((c) => c >= f.length)) {
      problems.push({ line, message: `expected at least 3 fields (image_a,image_b,same), found ${f.length}` });
      return;
    }
    const [a, b, verdict] = cols.map((c) => f[c]!) as [string, string, string];
    const v = verdict.toLowerCase();
    if (!YES.has(v) && !NO.has(v)) {
      problems.push({ line, message: `"${verdict}" is not yes/no, 1/0 or true/false` });
      return;
    }
    const at = (p: string) => (baseDir && !p.startsWith('/') ? join(baseDir, p) : p);
    pairs.push({ a: at(a), b: at(b), same: YES.has(v), fold: -1, line });
  });
  return { pairs, problems, folds: 1 };
}

/** The columns of image a, image b and the verdict a header names; the first three when it names none of them. */
function headerColumns(names: string[]): number[] {
  const find = (re: RegExp, fallback: number) => {
    const i = names.findIndex((n) => re.test(n.trim().toLowerCase()));
    return i >= 0 ? i : fallback;
  };
  return [
    find(/^(file_?x|img_?1(_path)?|image_?a|image_?1|a|path_?a)$/, 0),
    find(/^(file_?y|img_?2(_path)?|image_?b|image_?2|b|path_?b)$/, 1),
    find(/^(decision|same|actual|label|verified|is_?same|match)$/, 2),
  ];
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '', quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = false; else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { out.push(cur.trim()); cur = ''; } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

/* ---------------------------------------------------------------- verification metrics */

/**
 * The index pairs of a labelled set: every same-person pair, and every different-person pair or,
 * when there would be more than `maxDifferent`, that many drawn at random (seeded) without repeats.
 */
export function labelledPairs(labels: string[], maxDifferent = Infinity, rand: () => number = Math.random): { a: number; b: number; same: boolean }[] {
  const n = labels.length;
  const out: { a: number; b: number; same: boolean }[] = [];
  let totalDifferent = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    if (labels[i] === labels[j]) out.push({ a: i, b: j, same: true });
    else totalDifferent++;
  }
  if (totalDifferent <= maxDifferent) {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (labels[i] !== labels[j]) out.push({ a: i, b: j, same: false });
    return out;
  }
  const seen = new Set<number>();
  while (seen.size < maxDifferent) {
    const i = Math.floor(rand() * n), j = Math.floor(rand() * n);
    if (i === j || labels[i] === labels[j]) continue;
    const a = Math.min(i, j), b = Math.max(i, j);
    const key = a * n + b;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ a, b, same: false });
  }
  return out;
}
