/** peekShort: how a stream of unknown length is told short (run here) from long (start workers). */
import { describe, expect, it } from 'vitest';
import { peekShort } from '../../src/pipeline/ordered.js';

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}

async function* slow(n: number, everyMs: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, everyMs));
    yield i;
  }
}

describe('peekShort', () => {
  it('counts a stream that ends within the limit, and gives every item back in order', async () => {
    const { count, rest } = await peekShort(slow(3, 1), 6, 1000);
    expect(count).toBe(3);
    expect(await all(rest)).toEqual([0, 1, 2]);
  });

  it('has no count for a stream of `limit` items or more, and loses none of them', async () => {
    const { count, rest } = await peekShort(slow(10, 1), 6, 1000);
    expect(count).toBeUndefined();
    expect(await all(rest)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('stops waiting `waitMs` after the first item (a slow stream), the item in flight kept', async () => {
    const started = Date.now();
    const { count, rest } = await peekShort(slow(3, 300), 6, 50);
    expect(count).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(850) // the whole stream takes 900 ms;
    expect(await all(rest)).toEqual([0, 1, 2]);
  });

  it('waits for the first item however long it takes (an upstream stage starting)', async () => {
    const { count } = await peekShort(slow(1, 120), 6, 50);
    expect(count).toBe(1);
  });

  it('raises a failure of the stream after the items before it', async () => {
    async function* failing(): AsyncGenerator<number> {
      yield 1;
      throw new Error('bad line 2');
    }
    const { rest } = await peekShort(failing(), 6, 1000);
    const seen: number[] = [];
    await expect((async () => { for await (const x of rest) seen.push(x); })()).rejects.toThrow('bad line 2');
    expect(seen).toEqual([1]);
  });

  it('closes the source when the reader stops early', async () => {
    let closed = false;
    async function* source(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    const { rest } = await peekShort(source(), 6, 1000);
    for await (const x of rest) if (x === 2) break;
    expect(closed).toBe(true);
  });
});
