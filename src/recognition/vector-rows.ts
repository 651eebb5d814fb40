/**
 * Vectors gathered one face at a time (a build), in one buffer that grows in place.
 */
import { FacekitError } from '../core/errors.js';

/** ES2024's resizable ArrayBuffer (Node 20 has it; the ES2023 typings do not). */
interface ResizableArrayBuffer extends ArrayBuffer {
  resize(byteLength: number): void;
  readonly resizable: boolean;
  readonly maxByteLength: number;
}
const ResizableBuffer = ArrayBuffer as unknown as new (byteLength: number, opts: { maxByteLength: number }) => ResizableArrayBuffer;

/**
 * Vectors collected one by one (a build from a million records) in one growable buffer: a
 * resizable ArrayBuffer takes its memory from the system as rows arrive (no doubling, no spare
 * half, no array per face), and a new gallery adopts it as its vector array without a copy. Up to
 * 4 GiB of vectors (8 million 128-d faces); past that, PostgreSQL is the store to use.
 */
export class VectorRows {
  static readonly MAX_BYTES = 2 ** 32;
  private buffer = new ResizableBuffer(0, { maxByteLength: VectorRows.MAX_BYTES });
  private view = new Float32Array(0);
  count = 0;

  constructor(readonly dim: number) {}

  push(v: ArrayLike<number>, where?: string): void {
    if (v.length !== this.dim) throw new FacekitError('model_mismatch', `a ${v.length}-d embedding cannot join ${this.dim}-d ones`, where);
    const need = (this.count + 1) * this.dim * 4;
    if (need > this.buffer.byteLength) {
      if (need > VectorRows.MAX_BYTES) {
        throw new FacekitError('usage', `a file gallery build holds at most ${VectorRows.MAX_BYTES / 2 ** 30} GiB of vectors (${Math.floor(VectorRows.MAX_BYTES / (this.dim * 4)).toLocaleString('en')} ${this.dim}-d faces); build this one in PostgreSQL (--db postgres://…)`, where);
      }
      // grow by a quarter (at least 64 MiB): a resize in place, committed as rows are written
      this.buffer.resize(Math.min(VectorRows.MAX_BYTES, Math.max(need, Math.floor((this.buffer.byteLength * 1.25) / 4) * 4, this.buffer.byteLength + 2 ** 26)));
      this.view = new Float32Array(this.buffer, 0, this.buffer.byteLength / 4);
    }
    this.view.set(v, this.count * this.dim);
    this.count++;
  }

  /** Row i (a view, not a copy). */
  row(i: number): Float32Array {
    return this.view.subarray(i * this.dim, (i + 1) * this.dim);
  }

  /**
   * The rows as one array, handed over: the buffer is cut to their size (so that its whole is the
   * array, as usearch reads it) and these rows are left empty.
   */
  take(): Float32Array {
    const bytes = this.count * this.dim * 4;
    const buffer = this.buffer;
    buffer.resize(bytes);
    this.buffer = new ResizableBuffer(0, { maxByteLength: VectorRows.MAX_BYTES });
    this.view = new Float32Array(0);
    this.count = 0;
    return new Float32Array(buffer, 0, bytes / 4);
  }
}

/**
 * A buffer of `bytes` for a gallery's vectors that appendRows can grow in place (up to
 * MAX_BYTES; a larger one is a plain buffer). Its memory is committed as it is used.
 */
export function growableBuffer(bytes: number): ArrayBuffer {
  return bytes <= VectorRows.MAX_BYTES ? new ResizableBuffer(bytes, { maxByteLength: VectorRows.MAX_BYTES }) : new ArrayBuffer(bytes);
}

/** Give a resizable buffer's memory back at once (the rows are gone); a plain one waits for the collector. */
export function releaseRows(rows: Float32Array): void {
  const buffer = rows.buffer as ResizableArrayBuffer;
  if (buffer.resizable) buffer.resize(0);
}

/**
 * `rows` then `more`: in place when `rows` is the whole of a resizable buffer with room (a
 * gallery loaded for writing, or a build's rows), else in a new array. Adding a few faces to a
 * million then costs no second copy of 512 MB.
 */
export function appendRows(rows: Float32Array, more: Float32Array): Float32Array {
  const buffer = rows.buffer as ResizableArrayBuffer;
  const bytes = rows.byteLength + more.byteLength;
  if (buffer.resizable && rows.byteOffset === 0 && rows.byteLength === buffer.byteLength && bytes <= buffer.maxByteLength) {
    buffer.resize(bytes);
    const out = new Float32Array(buffer, 0, bytes / 4);
    out.set(more, rows.length);
    return out;
  }
  const out = new Float32Array(rows.length + more.length);
  out.set(rows);
  out.set(more, rows.length);
  return out;
}
