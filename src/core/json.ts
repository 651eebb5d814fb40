/**
 * JSON from outside (record lines, request bodies), parsed with two guards: a nesting depth (a
 * deeply nested document costs time and stack before it is refused anywhere else: 600 KB of
 * brackets took the server's JSON parser seconds and a recursive check past the stack), and no
 * `__proto__` key (which would reach an object's prototype).
 */
import { FacekitError } from './errors.js';

/** Deeper than any record or request facekit takes (a record is 4 levels deep). */
export const MAX_JSON_DEPTH = 64;

/**
 * How deep `text` nests arrays and objects, counted in one pass (strings skipped); stops counting
 * past `limit`.
 */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 93 || c === 125) depth--;
  }
  return max;
}

/**
 * JSON.parse, after the guards. A problem is a FacekitError with `code` (bad_record for record
 * lines; the server answers 400 bad_json) and a message that says what.
 */
export function parseJson(text: string, code: 'bad_record' | 'usage' = 'bad_record', where?: string): unknown {
  if (jsonDepth(text) > MAX_JSON_DEPTH) throw new FacekitError(code, `JSON nested more than ${MAX_JSON_DEPTH} levels deep`, where);
  try {
    // A reviver costs a call per value (a record's 128-512 numbers: most of a build's time from
    // records); only text that could spell the key, plainly or escaped, is parsed with one.
    if (!text.includes('proto') && !text.includes('\\u')) return JSON.parse(text);
    return JSON.parse(text, (k, v: unknown) => {
      if (k === '__proto__') throw new ProtoKey();
      return v;
    });
  } catch (err) {
    if (err instanceof ProtoKey) throw new FacekitError(code, 'a key named "__proto__" is refused', where);
    const detail = err instanceof Error ? err.message.split('\n')[0] : '';
    throw new FacekitError(code, `not valid JSON (${detail})`, where);
  }
}

class ProtoKey extends Error {}
