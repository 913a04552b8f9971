/**
 * Start in order, stop in reverse, with one AbortSignal (docs/architecture.md): each part of the
 * node registers how it stops as it starts; `stop()` (or the caller's signal) aborts the shared
 * signal and runs the stops in reverse order, once, even if a part failed to start halfway.
 */
export class Lifecycle {
  readonly #controller = new AbortController();
  readonly #stops: { name: string; stop: () => Promise<void> | void }[] = [];
  #stopping: Promise<void> | undefined;
  readonly #onError: (name: string, e: unknown) => void;

  constructor(opts: { signal?: AbortSignal; onError?: (name: string, e: unknown) => void } = {}) {
    this.#onError = opts.onError ?? (() => undefined);
    if (opts.signal) {
      if (opts.signal.aborted) void this.stop();
      else opts.signal.addEventListener("abort", () => void this.stop(), { once: true });
    }
  }

  /** Aborted when the node begins to stop: long-running loops and waits watch it. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Registers how a part that just started stops; parts stop in the reverse order of registration. */
  onStop(name: string, stop: () => Promise<void> | void): void {
    if (this.#stopping) throw new Error(`${name} started after the node began to stop`);
    this.#stops.push({ name, stop });
  }

  /** Stops every registered part, last first; a part that fails to stop is reported and the others still stop. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#controller.abort();
      for (const { name, stop } of this.#stops.reverse()) {
        try {
          await stop();
        } catch (e) {
          this.#onError(name, e);
        }
      }
    })();
    return this.#stopping;
  }
}
