import { join } from 'node:path';
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { GalleryMeta } from '../../src/recognition/gallery.js';
import { Journal, journalPath, readJournal } from '../../src/recognition/gallery-journal.js';
import { tempDir } from '../helpers/cli.js';

const meta: GalleryMeta = { model: 'resnet34', dim: 4, metric: 'euclidean_l2', flip: true, detector: 'blazeface' };
const face = (i: number) => ({ entry: { label: `p${i % 3}`, image: `img${i}.jpg`, hash: `h${i}`, face: 0 }, vector: [i, i + 0.5, -i, 1 / (i + 1)] });

function write(db: string, from: number, to: number): void {
  const j = new Journal(journalPath(db), meta, readJournal(db, meta));
  for (let i = from; i < to; i++) j.append(face(i).entry, face(i).vector);
  j.close();
}

describe('the build journal', () => {
  it('keeps every face written, with its vector exactly, in binary (not JSON numbers)', () => {
    const db = join(tempDir(), 'g.json');
    write(db, 0, 50);
    const back = readJournal(db, meta);
    expect(back.mode).toBe('binary');
    expect(back.entries.map((e) => e.image)).toEqual(Array.from({ length: 50 }, (_, i) => `img${i}.jpg`));
    expect(Array.from(back.rows.row(7))).toEqual(Array.from(Float32Array.from(face(7).vector)));
    expect(readFileSync(journalPath(db)).subarray(0, 11).toString()).toBe('FKJOURNAL2\n');
  });

  it('drops a record a kill cut short, and the next run appends after the last whole one', () => {
    const db = join(tempDir(), 'g.json');
    write(db, 0, 10);
    const size = statSync(journalPath(db)).size;
    truncateSync(journalPath(db), size - 5); // the tenth face half-written
    expect(readJournal(db, meta).entries).toHaveLength(9);
    write(db, 9, 12);
    const back = readJournal(db, meta);
    expect(back.entries.map((e) => e.hash)).toEqual(Array.from({ length: 12 }, (_, i) => `h${i}`));
    expect(Array.from(back.rows.row(11))).toEqual(Array.from(Float32Array.from(face(11).vector)));
  });

  it('ignores a journal of other settings, and starts a new one over it', () => {
    const db = join(tempDir(), 'g.json');
    write(db, 0, 5);
    const other = { ...meta, flip: false };
    expect(readJournal(db, other).entries).toHaveLength(0);
    const j = new Journal(journalPath(db), other, readJournal(db, other));
    j.append(face(9).entry, face(9).vector);
    j.close();
    expect(readJournal(db, other).entries.map((e) => e.hash)).toEqual(['h9']);
  });

  it('still reads the JSON Lines journal of an older facekit, and a half line at its end is skipped', () => {
    const db = join(tempDir(), 'g.json');
    const lines = [0, 1, 2].map((i) => JSON.stringify({ meta, entry: face(i).entry, vector: face(i).vector }));
    writeFileSync(journalPath(db), lines.join('\n') + '\n');
    appendFileSync(journalPath(db), '{"meta":{"model":"resn');
    const back = readJournal(db, meta);
    expect(back.mode).toBe('rewrite');
    expect(back.entries.map((e) => e.hash)).toEqual(['h0', 'h1', 'h2']);
  });

  it('reads an older JSON Lines journal larger than one read (1 MiB) whole', () => {
    const db = join(tempDir(), 'g.json');
    const lines = Array.from({ length: 12_000 }, (_, i) => JSON.stringify({ meta, entry: face(i).entry, vector: face(i).vector }));
    writeFileSync(journalPath(db), lines.join('\n') + '\n');
    expect(statSync(journalPath(db)).size).toBeGreaterThan(1 << 20);
    const back = readJournal(db, meta);
    expect(back.entries).toHaveLength(12_000);
    expect(back.entries[11_999]!.hash).toBe('h11999');
  });

  it('reads a journal with only its settings, or nothing, as no faces', () => {
    const db = join(tempDir(), 'g.json');
    writeFileSync(journalPath(db), 'FKJOURNAL2\n{"model":"res');
    expect(readJournal(db, meta).entries).toHaveLength(0);
    writeFileSync(journalPath(db), '');
    expect(readJournal(db, meta).entries).toHaveLength(0);
  });
});
