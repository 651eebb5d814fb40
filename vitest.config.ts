import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // e2e tests start whole CLI processes that use both cores themselves
    fileParallelism: true,
    maxWorkers: 2,
  },
});
