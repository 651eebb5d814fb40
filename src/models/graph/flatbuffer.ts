/**
 * Just enough of FlatBuffers to read a TFLite model: tables through their vtables, scalars,
 * strings, vectors of scalars and of tables. Read-only, little-endian, no generated code: the
 * TFLite schema needs a dozen tables, which tflite.ts names field by field.
 */
import { FacekitError } from '../../core/errors.js';

export class FlatTable {
  constructor(
    readonly view: DataView,
    /** Position of the table in the buffer. */
    readonly pos: number,
  ) {}

  /** Position of field `index`'s value, or 0 when the field is absent (written as default). */
  private field(index: number): number {
    const vtable = this.pos - this.view.getInt32(this.pos, true);
    const vtableSize = this.view.getUint16(vtable, true);
    const slot = 4 + 2 * index;
    if (slot >= vtableSize) return 0;
    const offset = this.view.getUint16(vtable + slot, true);
    return offset === 0 ? 0 : this.pos + offset;
  }

  has(index: number): boolean {
    return this.field(index) !== 0;
  }

  /** Where an offset field (table, vector, string) points to. */
  private target(index: number): number {
    const at = this.field(index);
    return at === 0 ? 0 : at + this.view.getUint32(at, true);
  }

  uint8(index: number, fallback = 0): number {
    const at = this.field(index);
    return at === 0 ? fallback : this.view.getUint8(at);
  }

  int8(index: number, fallback = 0): number {
    const at = this.field(index);
    return at === 0 ? fallback : this.view.getInt8(at);
  }

  int32(index: number, fallback = 0): number {
    const at = this.field(index);
    return at === 0 ? fallback : this.view.getInt32(at, true);
  }

  uint32(index: number, fallback = 0): number {
    const at = this.field(index);
    return at === 0 ? fallback : this.view.getUint32(at, true);
  }

  /** A 64-bit unsigned field as a number (TFLite uses them for buffer offsets within the file). */
  uint64(index: number, fallback = 0): number {
    const at = this.field(index);
    return at === 0 ? fallback : Number(this.view.getBigUint64(at, true));
  }

  bool(index: number, fallback = false): boolean {
    const at = this.field(index);
    return at === 0 ? fallback : this.view.getUint8(at) !== 0;
  }

  string(index: number): string | undefined {
    const at = this.target(index);
    if (at === 0) return undefined;
    const length = this.view.getUint32(at, true);
    return new TextDecoder().decode(new Uint8Array(this.view.buffer, this.view.byteOffset + at + 4, length));
  }

  table(index: number): FlatTable | undefined {
    const at = this.target(index);
    return at === 0 ? undefined : new FlatTable(this.view, at);
  }

  /** Start and length of a vector field (length 0 when absent). */
  private vector(index: number): { start: number; length: number } {
    const at = this.target(index);
    if (at === 0) return { start: 0, length: 0 };
    return { start: at + 4, length: this.view.getUint32(at, true) };
  }

  tables(index: number): FlatTable[] {
    const { start, length } = this.vector(index);
    const out: FlatTable[] = [];
    for (let i = 0; i < length; i++) {
      const at = start + 4 * i;
      out.push(new FlatTable(this.view, at + this.view.getUint32(at, true)));
    }
    return out;
  }

  int32s(index: number): number[] {
    const { start, length } = this.vector(index);
    return Array.from({ length }, (_, i) => this.view.getInt32(start + 4 * i, true));
  }

  float32s(index: number): number[] {
    const { start, length } = this.vector(index);
    return Array.from({ length }, (_, i) => this.view.getFloat32(start + 4 * i, true));
  }

  int64s(index: number): number[] {
    const { start, length } = this.vector(index);
    return Array.from({ length }, (_, i) => Number(this.view.getBigInt64(start + 8 * i, true)));
  }

  /** A [ubyte] vector as a view into the file's bytes (no copy). */
  bytes(index: number): Uint8Array {
    const { start, length } = this.vector(index);
    return new Uint8Array(this.view.buffer, this.view.byteOffset + start, length);
  }
}

/** The root table of a FlatBuffer, checking the 4-character file identifier when one is given. */
export function rootTable(bytes: Uint8Array, identifier?: string, what = 'file'): FlatTable {
  if (bytes.byteLength < 8) throw new FacekitError('unreadable', `${what} is too short to be a FlatBuffer`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (identifier !== undefined) {
    const found = String.fromCharCode(...bytes.subarray(4, 8));
    if (found !== identifier) throw new FacekitError('unreadable', `${what} is not a ${identifier} FlatBuffer (identifier "${found}")`);
  }
  const root = view.getUint32(0, true);
  if (root >= bytes.byteLength) throw new FacekitError('unreadable', `${what} is damaged (root offset past its end)`);
  return new FlatTable(view, root);
}
