/**
 * Where onnxruntime-node cannot load, detection (and recognition) fall back to tfjs: here
 * onnxruntime is made unavailable and no session may be created, yet faces are found.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const sessions = vi.hoisted(() => ({ created: 0 }));
vi.mock('../../src/models/ort.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/models/ort.js')>();
  return {
    ...real,
    ortAvailable: () => false,
    ortLoadError: () => 'made unavailable by the test',
    createSession: () => {
      sessions.created++;
      throw new Error('onnxruntime is unavailable in this test');
    },
  };
});

const { decodeImage } = await import('../../src/core/image.js');
const { detectFaces } = await import('../../src/stages/detection.js');
const { initBackend } = await import('../../src/models/runtime.js');
const { defaultEngine } = await import('../../src/models/detectors/blazeface-net.js');
const { DEMO } = await import('../helpers/cli.js');

describe('detection without onnxruntime', () => {
  it('runs BlazeFace and FaceMesh on tfjs, and creates no onnxruntime session', async () => {
    expect(defaultEngine()).toBe('tfjs');
    await initBackend('wasm');
    const path = join(DEMO, 'sample1.jpg');
    const img = await decodeImage(readFileSync(path), path);
    const faces = await detectFaces(img, { detector: 'blazeface', minScore: 0.5, maxFaces: 20, maxSide: 1280 });
    expect(faces.length).toBe(3);
    for (const f of faces) {
      expect(f.mesh).toHaveLength(468);
      const [x, y, w, h] = f.box;
      for (const p of [f.landmarks.leftEye, f.landmarks.rightEye, f.landmarks.noseTip]) {
        expect(p[0]).toBeGreaterThan(x);
        expect(p[0]).toBeLessThan(x + w);
        expect(p[1]).toBeGreaterThan(y);
        expect(p[1]).toBeLessThan(y + h);
      }
    }
    expect(sessions.created).toBe(0);
  });
});
