/** --backend cuda: onnxruntime's CUDA provider, and an honest one-line error where it is not installed. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cudaUnavailable } from '../../src/models/ort.js';
import { DEMO, runCli } from '../helpers/cli.js';

const missing = cudaUnavailable();

describe('--backend cuda', () => {
  it.skipIf(missing === undefined)('where the CUDA provider is not installed: one line on stderr, exit 2, before any work', async () => {
    for (const args of [['detect', join(DEMO, 'sample1.jpg')], ['represent', join(DEMO, 'sample1.jpg')]]) {
      const r = await runCli([...args, '--backend', 'cuda']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^facekit: --backend cuda is not available: .*CUDA provider/);
    }
  });

  it('is offered by the commands that run models', async () => {
    const r = await runCli(['verify', '--help']);
    expect(r.stdout).toMatch(/"cuda"/);
  });
});
