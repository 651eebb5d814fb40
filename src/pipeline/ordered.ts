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

/**
 * How many items a stream of unknown length holds when it is short: its first items are read
 * until it ends (`count` is then their number), `limit` have come, or `waitMs` passed since the
 * first one (`count` undefined: a long or slow stream). `rest` yields every item, the read ones
 * first. A command given one photo then runs it in this thread instead of starting workers.
 */
export async function peekShort<T>(
  source: Iterable<T> | AsyncIterable<T>, limit: number, waitMs: number,
): Promise<{ count?: number; rest: AsyncIterable<T> }> {
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  const read: T[] = [];
  let pending: Promise<IteratorResult<T>> | undefined;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  let startClock = (): void => undefined;
  // the clock starts at the first item: an upstream stage's start-up is not a long stream
  const late = new Promise<'late'>((resolve) => {
    startClock = () => { timer = setTimeout(() => resolve('late'), waitMs); };
  });
  let failed: { error: unknown } | undefined;
  try {
    while (read.length < limit) {
      pending = Promise.resolve(it.next());
      pending.catch(() => undefined); // raised when `rest` reaches it
      const r = read.length === 0 ? await pending : await Promise.race([pending, late]);
      if (r === 'late') break;
      pending = undefined;
      if (r.done) {
        ended = true;
        break;
      }
      read.push(r.value);
      if (read.length === 1) startClock();
    }
  } catch (error) {
    // raised in its place, after the items before it
    failed = { error };
    pending = undefined;
  } finally {
    clearTimeout(timer);
  }
  async function* rest(): AsyncGenerator<T> {
    let finished = ended || failed !== undefined;
    try {
      yield* read;
      if (failed) throw failed.error;
      if (finished) return;
      if (pending) {
        const r = await pending;
        if (r.done) {
          finished = true;
          return;
        }
        yield r.value;
      }
      for (;;) {
        const r = await it.next();
        if (r.done) {
          finished = true;
          return;
        }
        yield r.value;
      }
    } finally {
      if (!finished) await it.return?.();
    }
  }
  return { ...(ended || failed ? { count: read.length } : {}), rest: rest() };
}
