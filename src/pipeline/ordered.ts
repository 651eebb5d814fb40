/**
 * Many items through an asynchronous step at once, results in the items' order: how a stream of
 * images keeps every worker busy while its records still come out as the images went in.
 */

/**
 * `fn` over `source` with at most `concurrency` calls under way or done and not yet taken,
 * yielding the results in source order. Items are pulled only as the reader takes results (a slow
 * reader slows the pulling: memory stays bounded). When `stop()` turns true no more items are pulled; the calls under way finish and are
 * yielded. A call that rejects ends the iteration with its error (in its turn).
 */
export async function* orderedMap<T, R>(
  source: Iterable<T> | AsyncIterable<T>,
  fn: (item: T, index: number) => Promise<R>,
  opts: { concurrency: number; stop?: () => boolean },
): AsyncGenerator<R> {
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  const limit = Math.max(1, opts.concurrency);
  // calls started and not yet handed out (under way, or finished and waiting for the reader): at most `limit`
  const pending: Promise<R>[] = [];
  let index = 0;
  let exhausted = false;
  let failure: { error: unknown } | undefined;
  let pulling = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const stopped = () => opts.stop?.() === true;

  // Start calls while there is room; only one pull at a time.
  const pull = (): void => {
    if (pulling || exhausted || pending.length >= limit || stopped()) return;
    pulling = true;
    void (async () => {
      try {
        while (!exhausted && pending.length < limit && !stopped()) {
          const next = await it.next();
          if (next.done) {
            exhausted = true;
            break;
          }
          const call = fn(next.value, index++);
          call.catch(() => undefined); // rejections are raised in their turn, below
          pending.push(call);
          notify();
        }
      } catch (error) {
        failure = { error };
        exhausted = true;
      } finally {
        pulling = false;
        notify();
      }
    })();
  };

  try {
    for (;;) {
      if (failure) throw failure.error;
      pull();
      if (pending.length > 0) {
        const head = pending.shift()!;
        pull(); // the room it leaves is filled while it is awaited and handed out
        yield await head;
        continue;
      }
      if (!pulling) break; // exhausted, or stopped
      await new Promise<void>((r) => {
        wake = r;
      });
    }
  } finally {
    if (!exhausted) await (it as AsyncIterator<T>).return?.();
  }
}

/** Every item of an (async) iterable, in an array. */
export async function collect<T>(source: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}
