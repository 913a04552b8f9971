/**
 * The event queue: a binary min-heap ordered by (virtual time, sequence number). The sequence
 * number is assigned at insertion, so two events due at the same virtual millisecond run in the
 * order they were scheduled: ties never depend on heap internals.
 */

export interface Scheduled<T> {
  readonly time: number;
  readonly seq: number;
  readonly item: T;
}

export class EventQueue<T> {
  readonly #heap: Scheduled<T>[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(time: number, item: T): Scheduled<T> {
    const e: Scheduled<T> = { time, seq: this.#seq++, item };
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
    return e;
  }

  peek(): Scheduled<T> | undefined {
    return this.#heap[0];
  }

  pop(): Scheduled<T> | undefined {
    const h = this.#heap;
    const top = h[0];
    if (top === undefined) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before<T>(a: Scheduled<T>, b: Scheduled<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
