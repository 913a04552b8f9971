/**
 * Consensus first: the bulk gossip topics (transactions, attestations) are not handled when they
 * arrive but queued here, and the queue hands out one task per turn of the event loop
 * (setImmediate, after the I/O callbacks). Consensus messages (proposals, votes, catch-up) are
 * handled the moment they arrive, so a vote never waits behind transaction batches: at most behind
 * the one bulk slice running when its bytes came in.
 *
 * The queue is bounded: past `maxPending` tasks, `run` answers null at once and the caller drops the
 * message without blame (gossip "ignore"); the peer that sent it still holds what it carries.
 */

export interface InboundQueueOptions {
  /** Most bulk tasks waiting at once; more are refused. */
  readonly maxPending: number;
  /** Runs `fn` on a later turn of the event loop (default setImmediate; tests step it by hand). */
  readonly schedule?: (fn: () => void) => void;
}

export const defaultInboundQueueOptions: InboundQueueOptions = { maxPending: 256 };

interface Task {
  readonly run: () => unknown;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

export class InboundQueue {
  readonly #tasks: Task[] = [];
  #head = 0;
  #scheduled = false;
  readonly #maxPending: number;
  readonly #schedule: (fn: () => void) => void;
  #refused = 0;
  #closed = false;

  constructor(opts: InboundQueueOptions = defaultInboundQueueOptions) {
    if (!Number.isSafeInteger(opts.maxPending) || opts.maxPending < 1) throw new RangeError("maxPending must be a positive integer");
    this.#maxPending = opts.maxPending;
    this.#schedule = opts.schedule ?? ((fn) => void setImmediate(fn));
  }

  /** Tasks waiting for their turn. */
  get pending(): number {
    return this.#tasks.length - this.#head;
  }

  /** Tasks refused because the queue was full, since start. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * Queues `task` behind the others; its result (or rejection), or null at once when the queue is
   * full or closed. A task that returns a promise holds no turn while it waits: the next task runs
   * on the next turn.
   */
  run<T>(task: () => T | Promise<T>): Promise<T> | null {
    if (this.#closed || this.pending >= this.#maxPending) {
      this.#refused++;
      return null;
    }
    return new Promise<T>((resolve, reject) => {
      this.#tasks.push({ run: task, resolve: resolve as (v: unknown) => void, reject });
      this.#wake();
    });
  }

  /** Refuses new tasks; those waiting still run. */
  close(): void {
    this.#closed = true;
  }

  #wake(): void {
    if (this.#scheduled || this.pending === 0) return;
    this.#scheduled = true;
    this.#schedule(() => this.#turn());
  }

  #turn(): void {
    this.#scheduled = false;
    const task = this.#tasks[this.#head];
    if (task === undefined) return;
    this.#tasks[this.#head++] = undefined as never;
    if (this.#head > 1024 && this.#head * 2 > this.#tasks.length) {
      this.#tasks.splice(0, this.#head);
      this.#head = 0;
    }
    try {
      task.resolve(task.run());
    } catch (e) {
      task.reject(e);
    }
    this.#wake();
  }
}
