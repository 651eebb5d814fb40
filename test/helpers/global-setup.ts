/**
 * vitest globalSetup: one folder per `vitest run` for the work that several test files share (see
 * shared.ts), handed to the test files through provide/inject and removed when the run ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    facekitSharedDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'facekit-shared-'));
  project.provide('facekitSharedDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
