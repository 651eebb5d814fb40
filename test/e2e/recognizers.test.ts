/**
 * Every recognition model, end to end through the CLI: two photos of one artist are the same
 * person and a photo of another artist is not, at the model's own default threshold.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RECOGNIZERS, type RecognizerId } from '../../src/models/catalogue.js';
import { ARTISTS, hasArtists, runCli } from '../helpers/cli.js';

if (!hasArtists) console.warn(`skipping the recognizer tests: ${ARTISTS} is absent`);

const photos = (person: string) => readdirSync(join(ARTISTS, person)).sort().map((f) => join(ARTISTS, person, f));

describe.skipIf(!hasArtists)('each recognition model', () => {
  const people = hasArtists ? readdirSync(ARTISTS).sort() : [];
  const [a1, a2] = hasArtists ? photos(people[0]!) : [];
  const [b1] = hasArtists ? photos(people[1]!) : [];

  it.each(Object.keys(RECOGNIZERS) as RecognizerId[])('%s: same person matches, another does not', async (model) => {
    const same = await runCli(['verify', a1!, a2!, '--model', model, '--json']);
    expect(same.code, same.stderr).toBe(0);
    const sameAnswer = JSON.parse(same.stdout) as { distance: number; threshold: number; verified: boolean; model: string };
    expect(sameAnswer).toMatchObject({ verified: true, model, threshold: RECOGNIZERS[model].thresholds.euclidean_l2 });
    const other = await runCli(['verify', a1!, b1!, '--model', model, '--json']);
    expect(other.code, other.stderr).toBe(1);
    const otherAnswer = JSON.parse(other.stdout) as { distance: number; verified: boolean };
    expect(otherAnswer.verified).toBe(false);
    expect(otherAnswer.distance).toBeGreaterThan(sameAnswer.distance);
  }, 60_000);
});
