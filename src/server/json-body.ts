/** JSON request bodies, with the guards of core/json.ts (nesting depth, no __proto__): a problem is a 400. */
import { FacekitError } from '../core/errors.js';
import { parseJson } from '../core/json.js';
import { HttpError } from './http-errors.js';

/** A JSON body, parsed with the guards; any problem is a 400 bad_json. */
export function jsonBody(text: string): unknown {
  if (text.trim() === '') throw new HttpError(400, 'bad_json', 'the body is empty but Content-Type says JSON');
  try {
    return parseJson(text, 'usage');
  } catch (err) {
    const m = err instanceof FacekitError ? err.message : String(err);
    throw new HttpError(400, 'bad_json', /^not valid JSON/.test(m) ? `the body is not valid JSON (${m.replace(/^not valid JSON \((.*)\)$/, '$1')})` : `the body is refused: ${m}`);
  }
}

