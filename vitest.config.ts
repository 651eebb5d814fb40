import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * vitest's order (the slowest files of the last run first; on a first run, the largest files
 * first), except that the end-to-end files always come before the unit files: the short unit
 * files then fill the end of the run instead of a long e2e file running alone on one core.
 */
class EndToEndFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const e2e = (f: TestSpecification) => (/[\\/]test[\\/]e2e[\\/]/.test(f.moduleId) ? 0 : 1);
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => e2e(a.f) - e2e(b.f) || a.i - b.i).map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the built package (dist/) is loaded by Node as it is, not transformed by vite: tests then
    // run the very files a user gets, and start faster
    server: { deps: { external: [/\/dist\//] } },
    // a folder per run for the work several files share (test/helpers/shared.ts)
    globalSetup: ['test/helpers/global-setup.ts'],
    sequence: { sequencer: EndToEndFirst },
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // e2e tests start whole CLI processes that use both cores themselves
    fileParallelism: true,
    maxWorkers: 2,
    // Two test files already run at once on the two cores: a CLI they start uses one worker
    // thread unless a test asks for more (--workers 2), instead of loading the models twice more.
    // A progress line comes every 5 s of a long run: on a slow, busy machine a short run would
    // add one to the stderr that tests read. Tests of progress lines set their own.
    env: { FACEKIT_WORKERS: '1', FACEKIT_PROGRESS_EVERY: '3600' },
  },
});
