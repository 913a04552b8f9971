/**
 * What a bandwidth witness does next (docs/protocol.md section 6), pure: no clock (callers pass
 * `now` in ms), no I/O. One job per (witness key, relay, epoch) it is assigned:
 *
 *   ready      to probe (or, with `attestation` set, to submit again) once `notBefore` has passed
 *   running    a probe or a submission is in flight
 *   submitted  the attestation is in the node's mempool (`hash`)
 *   done       on chain, or the chain already holds this witness's attestation
 *   failed     given up: the chain refused its attestation for good, or it could not be sent
 *
 * A job is never probed twice once it holds a signed attestation: a witness that signs two
 * different attestations for one relay and epoch is slashed (chain/evidence.ts), so a retry after
 * a failed submission resends the same attestation. At most one job per relay runs at a time (a
 * relay serves few probes at once, and two probes at once measure each other). Jobs of epochs
 * before the current one are dropped: their window closed.
 */

/** What the witness signs and sends for a job (kept so that a retry sends the same bytes). */
export interface SignedAttestation {
  readonly bytes: bigint;
  readonly throughput: bigint;
  readonly latency: bigint;
}

export type JobState = "ready" | "running" | "submitted" | "done" | "failed";

export interface WitnessJob<A extends SignedAttestation = SignedAttestation> {
  /** `${witness}/${relay}/${epoch}` */
  readonly id: string;
  readonly witness: string;
  readonly relay: string;
  readonly epoch: number;
  /** the relay's registered multiaddr (updated while the job has not started) */
  multiaddr: string;
  state: JobState;
  /** failed probes so far */
  probeFailures: number;
  /** failed submissions so far (the node unreachable, a nonce race, ...) */
  submitFailures: number;
  notBefore: number;
  attestation?: A;
  hash?: string;
}

export interface ScheduleOptions {
  /** Probes of one job before its failure is attested (throughput 0). */
  readonly maxProbeAttempts: number;
  /** Submissions of one signed attestation before it is given up. */
  readonly maxSubmitAttempts: number;
  /** Delay after the first failure; doubled after each further one, up to retryMaxMs. */
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

export const defaultScheduleOptions: ScheduleOptions = {
  maxProbeAttempts: 3,
  maxSubmitAttempts: 5,
  retryBaseMs: 1_000,
  retryMaxMs: 8_000,
};

export const jobId = (witness: string, relay: string, epoch: number): string => `${witness}/${relay}/${epoch}`;

/** The delay before attempt `failures + 1` after `failures` failures (failures >= 1). */
export function backoffMs(failures: number, opts: Pick<ScheduleOptions, "retryBaseMs" | "retryMaxMs">): number {
  const d = opts.retryBaseMs * 2 ** Math.max(0, failures - 1);
  return Math.min(d, opts.retryMaxMs);
}

export class WitnessSchedule<A extends SignedAttestation = SignedAttestation> {
  readonly opts: ScheduleOptions;
  readonly #jobs = new Map<string, WitnessJob<A>>();

  constructor(opts: Partial<ScheduleOptions> = {}) {
    this.opts = { ...defaultScheduleOptions, ...opts };
  }

  get(id: string): WitnessJob<A> | undefined {
    return this.#jobs.get(id);
  }

  jobs(): WitnessJob<A>[] {
    return [...this.#jobs.values()];
  }

  /**
   * Records what `witness` is assigned in `epoch` (the current epoch, known): a ready job for each
   * relay not seen yet. Idempotent. A relay that left the list keeps its job (the chain decides).
   */
  observe(witness: string, epoch: number, relays: readonly { readonly relay: string; readonly multiaddr: string }[], now: number): WitnessJob<A>[] {
    const added: WitnessJob<A>[] = [];
    for (const r of relays) {
      const id = jobId(witness, r.relay, epoch);
      const existing = this.#jobs.get(id);
      if (existing) {
        if (existing.state === "ready" && existing.probeFailures === 0 && !existing.attestation) existing.multiaddr = r.multiaddr;
        continue;
      }
      const job: WitnessJob<A> = { id, witness, relay: r.relay, epoch, multiaddr: r.multiaddr, state: "ready", probeFailures: 0, submitFailures: 0, notBefore: now };
      this.#jobs.set(id, job);
      added.push(job);
    }
    return added;
  }

  /**
   * Drops the jobs of epochs before `currentEpoch`; returns those that never got on chain. A job
   * whose transaction is still in the mempool stays until its fate is known (finalized, or
   * dropped: see `dropped`).
   */
  prune(currentEpoch: number): WitnessJob<A>[] {
    const missed: WitnessJob<A>[] = [];
    for (const [id, j] of this.#jobs) {
      if (j.epoch >= currentEpoch || j.state === "submitted") continue;
      this.#jobs.delete(id);
      if (j.state !== "done" && j.state !== "failed") missed.push(j);
    }
    return missed;
  }

  /**
   * The ready jobs of `epoch` whose time has come, at most `slots`, never a relay that has a job
   * running, oldest epoch and fewest failures first, then by id; marked running.
   */
  take(now: number, slots: number, epoch?: number): WitnessJob<A>[] {
    if (slots <= 0) return [];
    const busy = new Set<string>();
    for (const j of this.#jobs.values()) if (j.state === "running") busy.add(j.relay);
    const ready = [...this.#jobs.values()]
      .filter((j) => j.state === "ready" && j.notBefore <= now && (epoch === undefined || j.epoch === epoch))
      .sort((a, b) => a.epoch - b.epoch || a.probeFailures + a.submitFailures - (b.probeFailures + b.submitFailures) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const out: WitnessJob<A>[] = [];
    for (const j of ready) {
      if (out.length === slots) break;
      if (busy.has(j.relay)) continue;
      busy.add(j.relay);
      j.state = "running";
      out.push(j);
    }
    return out;
  }

  /**
   * A probe failed: "retry" (ready again after a backoff), or "attest" after maxProbeAttempts: the
   * job stays running and the witness signs the failure (throughput 0) and sends it like any
   * other attestation. A relay that cannot be reached is judged on that, not let off by silence.
   */
  probeFailed(job: WitnessJob<A>, now: number): "retry" | "attest" {
    job.probeFailures++;
    if (job.probeFailures >= this.opts.maxProbeAttempts) return "attest";
    job.state = "ready";
    job.notBefore = now + backoffMs(job.probeFailures, this.opts);
    return "retry";
  }

  /**
   * The epoch's window is closing: the jobs of `epoch` that failed a probe and wait for their next
   * attempt (ready, no attestation) are marked running, for the witness to attest their failure now
   * rather than miss the window with a retry that may not finish in it.
   */
  closeFailing(epoch: number): WitnessJob<A>[] {
    const out: WitnessJob<A>[] = [];
    for (const j of this.#jobs.values()) {
      if (j.epoch !== epoch || j.state !== "ready" || j.attestation || j.probeFailures === 0) continue;
      j.state = "running";
      out.push(j);
    }
    return out;
  }

  /** The probe succeeded and the witness signed `attestation`: ready to submit at once. */
  signed(job: WitnessJob<A>, attestation: A): void {
    if (job.attestation) throw new Error(`job ${job.id} already holds a signed attestation`);
    job.attestation = attestation;
  }

  /**
   * A submission failed for a reason that may pass (node unreachable, nonce race): "retry"
   * (`immediately`: at once, else after a backoff) or "failed" after maxSubmitAttempts.
   */
  submitFailed(job: WitnessJob<A>, now: number, immediately = false): "retry" | "failed" {
    job.submitFailures++;
    if (job.submitFailures >= this.opts.maxSubmitAttempts) {
      job.state = "failed";
      return "failed";
    }
    job.state = "ready";
    job.notBefore = immediately ? now : now + backoffMs(job.submitFailures, this.opts);
    return "retry";
  }

  submitted(job: WitnessJob<A>, hash: string): void {
    job.state = "submitted";
    job.hash = hash;
  }

  done(job: WitnessJob<A>): void {
    job.state = "done";
  }

  /** Given up for good (the chain refused the attestation, or the job cannot be done). */
  fail(job: WitnessJob<A>): void {
    job.state = "failed";
  }

  /**
   * The submitted tx `hash` left the mempool without getting into a block: the job is ready to send
   * the same attestation again if its epoch is still `currentEpoch` or later, else it is dropped
   * (missed). Returns the job and which, or undefined for a hash no job holds.
   */
  dropped(hash: string, now: number, currentEpoch: number): { job: WitnessJob<A>; retry: boolean } | undefined {
    for (const [id, j] of this.#jobs) {
      if (j.state !== "submitted" || j.hash !== hash) continue;
      delete j.hash;
      if (j.epoch < currentEpoch) {
        this.#jobs.delete(id);
        j.state = "failed";
        return { job: j, retry: false };
      }
      j.state = "ready";
      j.notBefore = now;
      return { job: j, retry: true };
    }
    return undefined;
  }

  /** Jobs whose transaction is in the mempool, waiting for a block. */
  submittedJobs(): WitnessJob<A>[] {
    return [...this.#jobs.values()].filter((j) => j.state === "submitted");
  }

  running(): number {
    let n = 0;
    for (const j of this.#jobs.values()) if (j.state === "running") n++;
    return n;
  }
}
