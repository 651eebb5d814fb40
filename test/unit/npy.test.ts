import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from '../../src/core/npy.js';
import { tempDir } from '../helpers/cli.js';

describe('.npy', () => {
  const arr = { shape: [1, 2, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i / 7 - 1) };

  it('round-trips float32 data and shape', () => {
    const buf = encodeNpy(arr);
    expect(buf.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
    const headerLen = buf.readUInt16LE(8);
    expect((10 + headerLen) % 64).toBe(0);
    const back = decodeNpy(buf, 'x.npy');
    expect(back.shape).toEqual([1, 2, 3, 3]);
    expect(Array.from(back.data)).toEqual(Array.from(arr.data));
  });

  it('refuses other dtypes, orders and sizes with the file named', () => {
    const buf = encodeNpy(arr);
    const f8 = Buffer.from(buf.toString('latin1').replace("'<f4'", "'<f8'"), 'latin1');
    expect(() => decodeNpy(f8, 'x.npy')).toThrow(/dtype is <f8, expected float32/);
    expect(() => decodeNpy(buf.subarray(0, buf.length - 4), 'x.npy')).toThrow(/holds 17 values, its shape says 18/);
    expect(() => decodeNpy(Buffer.from('hello'), 'x.npy')).toThrow(/not a .npy file/);
  });

  const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!numpy)('is read by numpy as the same array', () => {
    const dir = tempDir();
    const path = join(dir, 't.npy');
    writeFileSync(path, encodeNpy(arr));
    const py = spawnSync('python3', ['-c', `import numpy as np; a = np.load(${JSON.stringify(path)}); print(a.dtype, a.shape, float(a.sum()))`], { encoding: 'utf8' });
    expect(py.status).toBe(0);
    const sum = Array.from(arr.data).reduce((a, b) => a + b, 0);
    const [dtype, ...rest] = py.stdout.trim().split(' ');
    expect(dtype).toBe('float32');
    expect(rest.slice(0, 4).join(' ')).toBe('(1, 2, 3, 3)');
    expect(Number(rest[4])).toBeCloseTo(sum, 4);
  });
});
