/**
 * A gallery's entries as columns: typed arrays of ids, label numbers, face numbers and boxes, and
 * two string columns (photos, content hashes) as one UTF-8 block each with their offsets. A
 * million entries load in one read, without a million JSON parses or a million objects: search
 * needs only the label and photo of the faces it ranks, so an entry is made when it is asked for.
 *
 * On disk (`gallery.<hash>.entries.bin`), little-endian:
 *   `FKENTRIES1\n`, u32 byte length of a JSON header {count, labels, columns}, the header, then
 *   the columns, each at the offset the header gives, counted from the first 8-aligned byte after
 *   the header (8-aligned too, so that a column is read as a typed array in place).
 */
import { FacekitError } from '../core/errors.js';
import type { Box } from '../core/records.js';

/** One face of a gallery: who, which photo, and where in it. */
export interface GalleryEntry {
  label: string;
  /** the source image, as given when it was added */
  image: string;
  /** sha256 of the image file's bytes: finds photos already in, whatever their name */
  hash: string;
  face: number;
  box?: Box;
  /** stable within the gallery (its search index's key); assigned when the face is added */
  id?: number;
}

const MAGIC = 'FKENTRIES1\n';

/** Labels numbered in the order they first come: search and the columns compare numbers, not strings. */
export class LabelNumbers {
  readonly names: string[] = [];
  private readonly byName = new Map<string, number>();

  of(label: string): number {
    let n = this.byName.get(label);
    if (n === undefined) {
      n = this.names.length;
      this.names.push(label);
      this.byName.set(label, n);
    }
    return n;
  }
}

/** Strings as one UTF-8 block and each one's start (offsets[i]..offsets[i+1]). */
interface StringColumn {
  offsets: Float64Array;
  bytes: Buffer;
}

const textAt = (c: StringColumn, i: number): string => c.bytes.toString('utf8', c.offsets[i], c.offsets[i + 1]);

interface Header {
  count: number;
  labels: string[];
  columns: Record<ColumnName, { offset: number; bytes: number }>;
}

type ColumnName = 'id' | 'label' | 'face' | 'box' | 'imageOffsets' | 'image' | 'hashOffsets' | 'hash';
const COLUMNS: readonly ColumnName[] = ['id', 'label', 'face', 'box', 'imageOffsets', 'image', 'hashOffsets', 'hash'];

export class EntryColumns {
  /** Columns as they are: made by fromEntries, decode and EntryColumnsBuilder. */
  constructor(
    readonly count: number,
    readonly ids: Uint32Array,
    /** each row's index into `labelNames` */
    readonly labelOf: Uint32Array,
    readonly labelNames: string[],
    private readonly faces: Int32Array,
    /** x, y, width, height per row; NaN where the entry has no box */
    private readonly boxes: Float64Array,
    private readonly images: StringColumn,
    private readonly hashes: StringColumn,
  ) {}

  static fromEntries(entries: readonly GalleryEntry[]): EntryColumns {
    const b = new EntryColumnsBuilder({ indexFaces: false });
    for (const e of entries) b.push(e);
    return b.finish((i) => entries[i]!.id ?? i);
  }

  label(i: number): string {
    return this.labelNames[this.labelOf[i]!]!;
  }

  image(i: number): string {
    return textAt(this.images, i);
  }

  hash(i: number): string {
    return textAt(this.hashes, i);
  }

  /** Row i as an entry (a new object each time). */
  at(i: number): GalleryEntry {
    const x = this.boxes[4 * i]!;
    const box = Number.isNaN(x) ? undefined : (Array.from(this.boxes.subarray(4 * i, 4 * i + 4)) as Box);
    return { label: this.label(i), image: this.image(i), hash: this.hash(i), face: this.faces[i]!, ...(box ? { box } : {}), id: this.ids[i]! };
  }

  /**
   * These rows, then `more`'s, as new columns (labels numbered anew where `more` brings new ones):
   * faces added to a large gallery join its columns, never a million entry objects.
   */
  append(more: EntryColumns): EntryColumns {
    const labels = new LabelNumbers();
    for (const name of this.labelNames) labels.of(name);
    const renumber = Uint32Array.from(more.labelNames, (name) => labels.of(name));
    const n = this.count + more.count;
    const labelOf = joined(this.labelOf, more.labelOf, new Uint32Array(n));
    for (let i = 0; i < more.count; i++) labelOf[this.count + i] = renumber[more.labelOf[i]!]!;
    return new EntryColumns(n, joined(this.ids, more.ids, new Uint32Array(n)), labelOf, labels.names, joined(this.faces, more.faces, new Int32Array(n)),
      joined(this.boxes, more.boxes, new Float64Array(4 * n)), joinedStrings(this.images, more.images), joinedStrings(this.hashes, more.hashes));
  }

  /** Whether a row has this photo (by content hash): a table of row numbers, built on first use, not a Set of a million strings. */
  photoIndex(): (hash: string) => boolean {
    const table = new RowTable((row) => this.hash(row));
    for (let i = 0; i < this.count; i++) table.add(this.hash(i), i);
    return (hash) => table.has(hash);
  }

  toArray(): GalleryEntry[] {
    const out = new Array<GalleryEntry>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.at(i);
    return out;
  }

  /** The file's bytes, in pieces (the string blocks are not copied). */
  encode(): Buffer[] {
    const data: Record<ColumnName, Uint8Array> = {
      id: bytesOf(this.ids), label: bytesOf(this.labelOf), face: bytesOf(this.faces), box: bytesOf(this.boxes),
      imageOffsets: bytesOf(this.images.offsets), image: this.images.bytes, hashOffsets: bytesOf(this.hashes.offsets), hash: this.hashes.bytes,
    };
    // column offsets count from the first 8-aligned byte after the header
    const columns = {} as Header['columns'];
    let at = 0;
    for (const c of COLUMNS) {
      columns[c] = { offset: at, bytes: data[c].length };
      at = align8(at + data[c].length);
    }
    const header = Buffer.from(JSON.stringify({ count: this.count, labels: this.labelNames, columns } satisfies Header), 'utf8');
    const start = align8(MAGIC.length + 4 + header.length);
    const pre = Buffer.alloc(start);
    pre.write(MAGIC, 0, 'latin1');
    pre.writeUInt32LE(header.length, MAGIC.length);
    header.copy(pre, MAGIC.length + 4);
    const out: Buffer[] = [pre];
    let end = 0;
    for (const c of COLUMNS) {
      const pad = columns[c].offset - end;
      if (pad > 0) out.push(Buffer.alloc(pad));
      out.push(Buffer.from(data[c].buffer, data[c].byteOffset, data[c].byteLength));
      end = columns[c].offset + data[c].length;
    }
    return out;
  }

  /**
   * Read the columns from a file's bytes (`file` starts at byte 0 of its own ArrayBuffer, so that
   * the typed columns are views, not copies). Anything that does not add up is `bad_gallery`.
   */
  static decode(file: Buffer, where: string): EntryColumns {
    const bad = (why: string) => new FacekitError('bad_gallery', `the gallery's entries file ${why}`, where);
    if (file.byteOffset % 8 !== 0) file = Buffer.from(new Uint8Array(file)); // typed views need 8-aligned columns
    if (file.length < MAGIC.length + 4 || file.toString('latin1', 0, MAGIC.length) !== MAGIC) throw bad('is not a facekit entries file');
    const len = file.readUInt32LE(MAGIC.length);
    let h: Header;
    try {
      h = JSON.parse(file.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + len)) as Header;
    } catch {
      throw bad('has a damaged header');
    }
    if (!Number.isInteger(h.count) || h.count < 0 || !Array.isArray(h.labels) || !h.columns) throw bad('has a damaged header');
    const n = h.count;
    const start = align8(MAGIC.length + 4 + len);
    const want: Record<ColumnName, number | undefined> = { id: 4 * n, label: 4 * n, face: 4 * n, box: 32 * n, imageOffsets: 8 * (n + 1), image: undefined, hashOffsets: 8 * (n + 1), hash: undefined };
    const view = (c: ColumnName): { offset: number; bytes: number } => {
      const col = h.columns[c];
      if (!col || !Number.isInteger(col.offset) || col.offset < 0 || col.offset % 8 !== 0 || start + col.offset + col.bytes > file.length || (want[c] !== undefined && col.bytes !== want[c])) {
        throw bad(`is truncated or damaged (column ${c})`);
      }
      return { offset: start + col.offset, bytes: col.bytes };
    };
    const typed = <T>(c: ColumnName, Kind: new (b: ArrayBufferLike, o: number, l: number) => T, size: number): T => {
      const col = view(c);
      return new Kind(file.buffer, file.byteOffset + col.offset, col.bytes / size);
    };
    const strings = (offsets: ColumnName, bytes: ColumnName): StringColumn => {
      const o = typed(offsets, Float64Array, 8);
      const b = view(bytes);
      if (o[0] !== 0 || o[n] !== b.bytes) throw bad(`is truncated or damaged (column ${bytes})`);
      return { offsets: o, bytes: file.subarray(b.offset, b.offset + b.bytes) };
    };
    const labelOf = typed('label', Uint32Array, 4);
    for (let i = 0; i < n; i++) if (labelOf[i]! >= h.labels.length) throw bad(`is damaged (entry ${i} has no label)`);
    return new EntryColumns(n, typed('id', Uint32Array, 4), labelOf, h.labels, typed('face', Int32Array, 4), typed('box', Float64Array, 8), strings('imageOffsets', 'image'), strings('hashOffsets', 'hash'));
  }
}

/**
 * Entries gathered one by one into columns (a build of a million faces), never a million objects:
 * strings are packed into UTF-8 blocks every 16 384 entries. `finish(idOf)` gives the columns,
 * row i with id `idOf(i)`. `indexFaces`: keep the table that answers hasFace (a build does).
 */
export class EntryColumnsBuilder {
  count = 0;
  private readonly labels = new LabelNumbers();
  private labelOf = new Uint32Array(1024);
  private faces = new Int32Array(1024);
  private boxes = new Float64Array(4096);
  private readonly images = new StringPacker();
  private readonly hashes = new StringPacker();
  /** rows by photo hash and face number: a table of row numbers, not a Set of a million strings */
  private readonly faceKeys: RowTable | undefined;

  constructor(opts: { indexFaces: boolean } = { indexFaces: true }) {
    this.faceKeys = opts.indexFaces ? new RowTable((i) => faceKey(this.hashes.at(i), this.faces[i]!)) : undefined;
  }

  /** Whether this face of this photo (by content hash) has been gathered. */
  hasFace(hash: string, face: number): boolean {
    return this.faceKeys?.has(faceKey(hash, face)) ?? false;
  }

  push(e: GalleryEntry): void {
    const i = this.count;
    if (i === this.labelOf.length) {
      this.labelOf = grown(this.labelOf, new Uint32Array(2 * i));
      this.faces = grown(this.faces, new Int32Array(2 * i));
      this.boxes = grown(this.boxes, new Float64Array(8 * i));
    }
    this.labelOf[i] = this.labels.of(e.label);
    this.faces[i] = e.face;
    if (e.box) this.boxes.set(e.box, 4 * i);
    else this.boxes.fill(NaN, 4 * i, 4 * i + 4);
    this.images.push(e.image);
    this.hashes.push(e.hash);
    this.faceKeys?.add(faceKey(e.hash, e.face), i);
    this.count++;
  }

  /** The columns, handed over: the builder lets go of what it gathered (no second copy while a graph is built). */
  finish(idOf: (row: number) => number): EntryColumns {
    const n = this.count;
    const ids = new Uint32Array(n);
    for (let i = 0; i < n; i++) ids[i] = idOf(i);
    const cols = new EntryColumns(n, ids, this.labelOf.slice(0, n), [...this.labels.names], this.faces.slice(0, n), this.boxes.slice(0, 4 * n), this.images.finish(), this.hashes.finish());
    this.labelOf = new Uint32Array(0);
    this.faces = new Int32Array(0);
    this.boxes = new Float64Array(0);
    return cols;
  }
}

/** Strings packed as UTF-8, a block at a time. */
class StringPacker {
  private pending: string[] = [];
  private readonly blocks: Buffer[] = [];
  private offsets = new Float64Array(1025);
  private count = 0;
  private bytes = 0;

  push(s: string): void {
    this.pending.push(s);
    if (this.pending.length === 16_384) this.pack();
  }

  private pack(): void {
    const block = Buffer.from(this.pending.join(''), 'utf8');
    if (this.offsets.length < this.count + this.pending.length + 1) this.offsets = grown(this.offsets, new Float64Array(2 * (this.count + this.pending.length) + 1));
    for (const s of this.pending) {
      this.bytes += Buffer.byteLength(s, 'utf8');
      this.offsets[++this.count] = this.bytes;
    }
    this.blocks.push(block);
    this.pending = [];
  }

  /** String i (pushed earlier). */
  at(i: number): string {
    const packed = this.count;
    if (i >= packed) return this.pending[i - packed]!;
    const b = Math.floor(i / 16_384);
    const start = this.offsets[b * 16_384]!;
    return this.blocks[b]!.toString('utf8', this.offsets[i]! - start, this.offsets[i + 1]! - start);
  }

  finish(): StringColumn {
    this.pack();
    const out = { offsets: this.offsets.slice(0, this.count + 1), bytes: Buffer.concat(this.blocks, this.bytes) };
    this.blocks.length = 0;
    this.offsets = new Float64Array(1);
    return out;
  }
}

const faceKey = (hash: string, face: number): string => `${hash}#${face}`;

/** Rows keyed by a string, in an open-addressing table of row numbers; `keyOf(row)` reads a row's key back. */
class RowTable {
  private slots = new Int32Array(1 << 16).fill(-1);
  private codes = new Uint32Array(1 << 16);
  private used = 0;

  constructor(private readonly keyOf: (row: number) => string) {}

  private static code(s: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    return h >>> 0;
  }

  has(key: string): boolean {
    const code = RowTable.code(key);
    const mask = this.slots.length - 1;
    for (let at = code & mask; ; at = (at + 1) & mask) {
      const row = this.slots[at]!;
      if (row < 0) return false;
      if (this.codes[row] === code && this.keyOf(row) === key) return true;
    }
  }

  add(key: string, row: number): void {
    if (row >= this.codes.length) this.codes = grown(this.codes, new Uint32Array(Math.max(2 * this.codes.length, row + 1)));
    this.codes[row] = RowTable.code(key);
    if (2 * (this.used + 1) > this.slots.length) this.grow();
    this.place(row);
    this.used++;
  }

  private place(row: number): void {
    const mask = this.slots.length - 1;
    let at = this.codes[row]! & mask;
    while (this.slots[at]! >= 0) at = (at + 1) & mask;
    this.slots[at] = row;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2).fill(-1);
    for (const row of old) if (row >= 0) this.place(row);
  }
}

function joined<T extends Uint32Array | Int32Array | Float64Array>(a: T, b: T, to: T): T {
  to.set(a);
  to.set(b, a.length);
  return to;
}

function joinedStrings(a: StringColumn, b: StringColumn): StringColumn {
  const n = a.offsets.length - 1;
  const offsets = new Float64Array(n + b.offsets.length);
  offsets.set(a.offsets);
  for (let i = 1; i < b.offsets.length; i++) offsets[n + i] = a.bytes.length + b.offsets[i]!;
  return { offsets, bytes: Buffer.concat([a.bytes, b.bytes]) };
}

function grown<T extends Uint32Array | Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;
const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
