/**
 * NumPy .npy files (format version 1.0), float32 little-endian, C order: what `normalize` writes and
 * `represent` reads, and what `numpy.load` opens.
 */
import { FacekitError } from './errors.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

export function encodeNpy(arr: NpyArray): Buffer {
  const count = arr.shape.reduce((a, b) => a * b, 1);
  if (count !== arr.data.length) throw new Error(`shape ${arr.shape.join('x')} does not hold ${arr.data.length} values`);
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad so that magic + version + length + header + '\n' is a multiple of 64 bytes.
  const total = MAGIC.length + 2 + 2 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

/** Parse a .npy holding float32 values; `where` names the file in errors. */
export function decodeNpy(buf: Buffer, where: string): NpyArray {
  const bad = (msg: string) => new FacekitError('bad_tensor', msg, where);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw bad('not a .npy file');
  const major = buf[6];
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = buf.readUInt32LE(8);
    offset = 12;
  } else throw bad(`unsupported .npy version ${major}`);
  const header = buf.subarray(offset, offset + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw bad('damaged .npy header');
  if (descr !== '<f4' && descr !== '|f4') throw bad(`tensor dtype is ${descr}, expected float32 (<f4)`);
  if (fortran === 'True') throw bad('tensor is in Fortran order, expected C order');
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) throw bad('damaged .npy shape');
  const count = shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  if (buf.length - start !== count * 4) throw bad(`.npy holds ${(buf.length - start) / 4} values, its shape says ${count}`);
  // Copy: the Buffer's offset need not be 4-byte aligned.
  const data = new Float32Array(count);
  Buffer.from(data.buffer).set(buf.subarray(start));
  return { shape, data };
}
