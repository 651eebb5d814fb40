/**
 * Many items through an asynchronous step at once, results in the items' order: how a stream of
 * images keeps every worker busy while its records still come out as the images went in.
 */

/**
 * `fn` over `source` with at most `concurrency` calls under way, yielding the results in source
 * order. Items are pulled only as room frees up (a slow reader slows the pulling: memory stays
 * bounded). When `stop()` turns true no more items are pulled; the calls under way finish and are
 * yielded. A call that rejects ends the iteration with its error (in its turn).
 */
export async function* orderedMap<T, R>(
  source: Iterable<T> | AsyncIterable<T>,
  fn: (item: T, index: number) => Promise<R>,
  opts: { concurrency: number; stop?: () => boolean },
): AsyncGenerator<R> {
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  const limit = Math.max(1, opts.concurrency);
  const pending: Promise<R>[] = [];
  let running = 0;
  let index = 0;
  let exhausted = false;
  let failure: { error: unknown } | undefined;
  let pulling: Promise<void> | undefined;
  const stopped = () => opts.stop?.() === true;

  const pull = (): Promise<void> => {
    if (pulling) return pulling;
    if (exhausted || running >= limit || stopped()) return Promise.resolve();
    const p = (async () => {
      try {
        while (!exhausted && running < limit && !stopped()) {
          const next = await it.next();
          if (next.done) {
            exhausted = true;
            break;
          }
          running++;
          const call = fn(next.value, index++).finally(() => {
            running--;
            void pull();
          });
          call.catch(() => undefined); // rejections are raised in their turn, below
          pending.push(call);
        }
      } catch (error) {
        failure = { error };
        exhausted = true;
      }
    })();
    pulling = p;
    // cleared once done (never while a pull is under way: only one pulls at a time)
    void p.then(() => {
      if (pulling === p) pulling = undefined;
    });
    return p;
  };

  try {
    void pull();
    for (;;) {
      if (failure) throw failure.error;
      if (pending.length > 0) {
        yield await pending.shift()!;
        continue;
      }
      if (pulling) {
        await pulling;
        continue;
      }
      if (exhausted || stopped()) break;
      await pull();
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
