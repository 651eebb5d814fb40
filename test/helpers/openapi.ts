/** Checking a server answer against /openapi.json (the subset of JSON Schema the document uses). */
import { expect } from 'vitest';
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Schema = { [k: string]: Json };

function resolveRef(doc: Schema, s: Schema): Schema {
  if (typeof s.$ref !== 'string') return s;
  const name = s.$ref.replace('#/components/schemas/', '');
  return ((doc.components as Schema).schemas as Schema)[name] as Schema;
}

/** Problems of `v` against `schema`: [] when it conforms. */
export function conform(doc: Schema, v: unknown, schemaIn: Schema, at = '$'): string[] {
  const s = resolveRef(doc, schemaIn);
  // anyOf / oneOf (an operation two APIs share answers either's shape): the value conforms to one of them
  const alternatives = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (Array.isArray(alternatives)) {
    const tries = alternatives.map((alt) => conform(doc, v, alt, at));
    const fits = tries.filter((t) => t.length === 0).length;
    if (s.oneOf ? fits !== 1 : fits === 0) return [`${at}: conforms to ${fits} of its ${s.oneOf ? 'oneOf' : 'anyOf'} schemas (${tries.map((t) => t[0] ?? 'ok').join(' | ')})`];
  }
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  const typeOf = (x: unknown) => (x === null ? 'null' : Array.isArray(x) ? 'array' : Number.isInteger(x) ? 'integer' : typeof x);
  if (types.length) {
    const t = typeOf(v);
    if (!types.some((want) => want === t || (want === 'number' && t === 'integer'))) return [`${at}: is ${t}, schema says ${types.join('|')}`];
  }
  if (Array.isArray(s.enum) && !s.enum.includes(v as Json)) return [`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`];
  const out: string[] = [];
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in o)) out.push(`${at}: lacks "${r}"`);
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const [k, val] of Object.entries(o)) {
      if (props[k]) out.push(...conform(doc, val, props[k]!, `${at}.${k}`));
      else if (s.additionalProperties && typeof s.additionalProperties === 'object') out.push(...conform(doc, val, s.additionalProperties as Schema, `${at}.${k}`));
      else if (s.properties) out.push(`${at}: "${k}" is not in the schema`);
    }
  }
  if (Array.isArray(v) && s.items) v.forEach((x, i) => out.push(...conform(doc, x, s.items as Schema, `${at}[${i}]`)));
  return out;
}

/** The schema of `method path`'s answer with `status`, or undefined when the document has none. */
export function responseSchema(doc: Schema, path: string, method: string, status: number): Schema | undefined {
  const op = ((doc.paths as Schema)[path] as Schema | undefined)?.[method] as Schema | undefined;
  const r = (op?.responses as Schema | undefined)?.[String(status)] as Schema | undefined;
  return r ? (((r.content as Schema)['application/json'] as Schema).schema as Schema) : undefined;
}

/** A JSON answer, as checked: its status and parsed body. */
export interface Checked {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * An answer, checked against what `doc` (a server's /openapi.json) says `method path` answers with
 * that status: never a stack trace; documented; an error is exactly { error: { code, message } }
 * under the Error schema; anything else conforms to its schema.
 */
export function checkAnswer(doc: Schema, res: { status: number; text: string }, path: string, method: string): Checked {
  expect(res.text, 'never a stack trace').not.toMatch(/\n\s+at |node:internal/);
  const body = JSON.parse(res.text) as unknown;
  const ops = (doc.paths as Schema)[path] as Schema | undefined;
  expect(ops, `${path} is in the OpenAPI document`).toBeDefined();
  const r = ((ops![method] as Schema | undefined)?.responses as Schema | undefined)?.[String(res.status)] as Schema | undefined;
  expect(r, `${method.toUpperCase()} ${path} ${res.status} is documented`).toBeDefined();
  const schema = ((r!.content as Schema)['application/json'] as Schema).schema as Schema;
  if (res.status >= 400) {
    // a path deepface's service shares (--compat) documents its error shape beside facekit's
    const shapes = (schema.anyOf as Schema[] | undefined) ?? [schema];
    expect(shapes).toContainEqual({ $ref: '#/components/schemas/Error' });
    expect(body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    expect(Object.keys(body as object)).toEqual(['error']);
  } else {
    expect(conform(doc, body, schema)).toEqual([]);
  }
  return { status: res.status, body };
}
