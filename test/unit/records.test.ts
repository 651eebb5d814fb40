import { describe, expect, it } from 'vitest';
import { parseRecord, requireKey, SCHEMA_VERSION } from '../../src/core/records.js';
import { FacekitError } from '../../src/core/errors.js';

const ok = { schema: 1, image: 'a.jpg', face: 0, box: [1, 2, 3, 4], landmarks: { leftEye: [1, 2] } };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FacekitError) return `${e.code}: ${e.line()}`;
    throw e;
  }
  return 'no error';
}

describe('parseRecord', () => {
  it('accepts a record of the current schema', () => {
    expect(parseRecord(JSON.stringify(ok), 'x').box).toEqual([1, 2, 3, 4]);
    expect(SCHEMA_VERSION).toBe(1);
  });
  it('names the line of broken JSON', () => {
    expect(codeOf(() => parseRecord('{"schema":1,', 'stdin line 3'))).toMatch(/^bad_record: stdin line 3: not valid JSON/);
  });
  it('refuses JSON that is not a facekit record', () => {
    expect(codeOf(() => parseRecord('{"name":"x"}', 'l1'))).toMatch(/not a facekit record \(no "schema" key\)/);
    expect(codeOf(() => parseRecord('[1,2]', 'l1'))).toMatch(/expected a JSON object/);
  });
  it('refuses records from a newer schema', () => {
    expect(codeOf(() => parseRecord(JSON.stringify({ ...ok, schema: 2 }), 'l1'))).toMatch(/^schema_version: .*newer/);
  });
  it('checks the shape of keys', () => {
    expect(codeOf(() => parseRecord(JSON.stringify({ ...ok, box: [1, 2] }), 'l1'))).toMatch(/"box" must be/);
    expect(codeOf(() => parseRecord(JSON.stringify({ ...ok, landmarks: { leftEye: 'x' } }), 'l1'))).toMatch(/landmark "leftEye"/);
    expect(codeOf(() => parseRecord(JSON.stringify({ ...ok, embedding: { model: 'm', dim: 3, vector: [1, 2] } }), 'l1'))).toMatch(/dim 3 but holds 2/);
    expect(codeOf(() => parseRecord(JSON.stringify({ ...ok, face: -1 }), 'l1'))).toMatch(/"face" must be/);
  });
  it('says which stage makes a missing key', () => {
    const r = parseRecord(JSON.stringify(ok), 'x');
    expect(codeOf(() => requireKey(r, 'aligned', 'align', 'a.jpg face 0'))).toBe('missing_key: a.jpg face 0: record has no "aligned" (run `facekit align` first)');
  });
});
