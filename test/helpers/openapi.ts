/** Checking a server answer against /openapi.json (the subset of JSON Schema the document uses). */
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
