/** Vector arithmetic shared by the models (normalising their outputs) and the verify stage. */
export type Vector = ArrayLike<number>;

export function dot(a: Vector, b: Vector): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm(a: Vector): number {
  return Math.sqrt(dot(a, a));
}

export function l2normalize(a: Vector): Float32Array {
  const n = norm(a) || 1;
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! / n;
  return out;
}
