import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // e2e tests start whole CLI processes that use both cores themselves
    fileParallelism: true,
    maxWorkers: 2,
    // Two test files already run at once on the two cores: a CLI they start uses one worker
    // thread unless a test asks for more (--workers 2), instead of loading the models twice more.
    env: { FACEKIT_WORKERS: '1' },
  },
});
