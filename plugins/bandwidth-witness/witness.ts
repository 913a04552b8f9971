/**
 * A bandwidth witness (docs/protocol.md section 6) as a separate process: for each of its
 * witness keys and each relay the chain assigned that key in the current epoch, it probes the relay
 * once over the probe protocol (p2p/probe.ts: a fresh random nonce, every byte checked), signs the
 * attestation (relay, epoch, bytes, throughput, latency) with the witness key and sends it in a
 * bandwidth.attest transaction signed by that key through proof_submitBandwidth.
 *
 *   every --poll-ms  tx_get for its pending transactions (finalized: done; dropped from the
 *                    mempool: sent again, same attestation), then per key bandwidth_getAssignments
 *                    {witness} (all pages) for the current epoch; jobs start once the epoch is known
 *                    and the next block is in its attestation window (its second block on).
 *   journal          every signed attestation is written to --journal (journal.ts) before it is
 *                    sent; at start the journal is read, and a job it holds an attestation for sends
 *                    that one again instead of probing (a restart must never sign a second one).
 *   a job            bandwidth_getAttestations first (already on chain: done), then the probe, at
 *                    the relay's registered address (a connection to its peer at any other address
 *                    is closed first, so an answer from elsewhere cannot pass). A failed probe (the
 *                    relay unreachable, wrong bytes, too few, too slow) is logged and retried with a
 *                    backoff; after --probe-attempts failures in the epoch the failure is attested:
 *                    throughput 0, latency 0, bytes = the size the probe asked for (the chain's
 *                    minProbeBytes applies to it too); so is a failure after fewer attempts once the
 *                    epoch's window closes too soon for another (a probe timeout and 3 blocks, at
 *                    chain_getParams's blockIntervalMs). A signed attestation is kept and only
 *                    ever sent again as it is: signing a second, different one for the same relay
 *                    and epoch is slashable (chain/evidence.ts). BANDWIDTH_ATTEST_DUPLICATE means
 *                    done; other BANDWIDTH_* refusals end the job.
 *   nonces           per key: the account nonce from state_getAccount, after the key's own
 *                    transactions still pending (nonces.ts); a nonce error resyncs and retries.
 *   probe size       max(--probe-bytes (default 1 MiB), the chain's minProbeBytes from
 *                    bandwidth_getAssignments; a BANDWIDTH_PROBE_TOO_SMALL refusal, data.minimum,
 *                    raises it too).
 *
 * Run: node --import tsx plugins/bandwidth-witness/witness.ts --rpc URL --key FILE [--key FILE ...]
 *        [--journal FILE] [--probe-bytes N] [--listen MULTIADDR ...] [--p2p-key FILE] [--poll-ms MS] [--concurrency N]
 *        [--probe-timeout-ms MS] [--probe-attempts N] [--retry-ms MS] [--fee UNITS]
 * Logs JSON lines: "witness ready" {witnesses, peerId}, "attested" {relay, epoch, witness,
 * throughput, latency, bytes, hash, failed}, "probe failed" {relay, epoch, witness, reason, attempt},
 * "earned" {epoch, witness, amount, paidAttestations, total} once per key and ended epoch (its
 * witness pay, from rewards_getEpoch), "witness totals" at exit,
 * "attestation final", "attestation refused", "missed"; exits on SIGINT/SIGTERM.
 */
import "../../modules/index.ts";
import { parseArgs } from "node:util";
import type { Logger } from "pino";
import { toHex } from "../../primitives/bytes.ts";
import { fromAddress, toAddress, type KeyPair } from "../../primitives/keys.ts";
import { signAttestation, type Attestation } from "../../proofs/bandwidth.ts";
import { signTx } from "../../chain/tx.ts";
import { readKeyFile } from "../shared/keyfile.ts";
import { peerIdFromString } from "@libp2p/peer-id";
import { multiaddr, type Multiaddr } from "@multiformats/multiaddr";
import { createProbeHost, MAX_PROBE_BYTES, MIN_PROBE_BYTES, probe, type ProbeHost, type ProbeResult } from "../../p2p/probe.ts";
import { RpcClient } from "../../rpc/client.ts";
import { allAssignments, decimalFlag, errorCode, exitOnSignals, intFlag, isMain, pluginLogger, runMain, PluginArgsError } from "../shared/bandwidth.ts";
import { AttestationJournal } from "./journal.ts";
import { NONCE_ERROR_CODES, NonceTracker, onNonceError } from "./nonces.ts";
import { WitnessSchedule, type ScheduleOptions, type WitnessJob } from "./schedule.ts";
import { LOG_USAGE, logOptions, parseOrUsage, standardFlags } from "../shared/cli.ts";
import { negativeNumbersAsValues } from "../../common/args.ts";

export const DEFAULT_PROBE_BYTES = 1024 * 1024;

export interface WitnessOptions {
  readonly rpcUrl: string;
  readonly keys: readonly KeyPair[];
  /** Bytes per probe; raised to the chain's minProbeBytes once known. Default 1 MiB. */
  readonly probeBytes?: number;
  /** Listen multiaddrs of the probe host (none needed: a witness only dials). */
  readonly listen?: readonly string[];
  /** A persisted libp2p identity (default: a fresh one each start). */
  readonly p2pKeyPath?: string;
  /**
   * The attestation journal (journal.ts): every signed attestation is written there before it is
   * sent, and a restarted witness sends a journaled one again instead of signing anew. Absent:
   * memory only, so a restart mid-epoch may sign a second, different attestation (slashable);
   * the command line always sets one.
   */
  readonly journalPath?: string;
  readonly pollMs?: number;
  /** Probes at once (never two to one relay). */
  readonly concurrency?: number;
  readonly probeTimeoutMs?: number;
  readonly fee?: bigint;
  readonly schedule?: Partial<ScheduleOptions>;
  readonly log: Logger;
}

export const defaultWitnessOptions = {
  pollMs: 1_000,
  concurrency: 4,
  probeTimeoutMs: 30_000,
  fee: 1_000n,
} as const;

export interface WitnessStats {
  readonly probes: number;
  readonly probeFailures: number;
  readonly attested: number;
  /** attestations sent for failed probes (throughput 0), counted in `attested` too */
  readonly failuresAttested: number;
  readonly final: number;
  readonly refused: number;
  readonly missed: number;
  /** witness pay (base units) minted to its keys in the epochs reported since the start */
  readonly earned: string;
}

export interface Witness {
  readonly witnesses: readonly string[];
  readonly peerId: string;
  readonly host: ProbeHost;
  /** The attestation journal's path, or null without one. */
  readonly journal: string | null;
  stats(): WitnessStats;
  /** The probe size in use now. */
  probeBytes(): number;
  close(): Promise<void>;
}

type Job = WitnessJob<Attestation>;

const clampProbe = (n: number): number => Math.min(MAX_PROBE_BYTES, Math.max(MIN_PROBE_BYTES, n));

/**
 * Blocks of margin for sending an attestation: a job whose probe failed and whose next attempt
 * could not finish (--probe-timeout-ms) this many blocks before the window's last block attests its
 * failure at once instead of retrying.
 */
const CLOSING_BLOCKS = 3;

/** What a witness attests for a probe of `size` bytes that failed: throughput 0, the size it asked for. */
export const failedProbe = (size: number): Pick<Attestation, "bytes" | "throughput" | "latency"> => ({ bytes: BigInt(size), throughput: 0n, latency: 0n });

/** The registered address without its /p2p/<peer id> part, and the peer id. */
function splitPeer(addr: Multiaddr): { at: string; peer: string | undefined } {
  const parts = addr.getComponents();
  return { at: multiaddr(parts.filter((c) => c.name !== "p2p").map((c) => `/${c.name}${c.value !== undefined ? `/${c.value}` : ""}`).join("")).toString(), peer: parts.find((c) => c.name === "p2p")?.value };
}

/**
 * probe() at the relay's registered address only. libp2p reuses an open connection to a peer
 * whatever its address, so a relay reached before at another address (another registration with
 * the same peer id: a Sybil relay on a borrowed IP) would answer from there; such connections are
 * closed first, and the probe dials the registered one.
 */
export async function probeRegistered(host: ProbeHost, relayAddr: string, chainId: string, relay: Uint8Array, size: number, timeoutMs: number): Promise<ProbeResult> {
  let addr: Multiaddr;
  try {
    addr = multiaddr(relayAddr);
  } catch (e) {
    return { ok: false, reason: "dial", bytesOk: 0, message: `bad relay address: ${(e as Error).message}` };
  }
  const { at, peer } = splitPeer(addr);
  if (peer !== undefined) {
    let peerId;
    try {
      peerId = peerIdFromString(peer);
    } catch (e) {
      return { ok: false, reason: "dial", bytesOk: 0, message: `bad peer id in ${relayAddr}: ${(e as Error).message}` };
    }
    const elsewhere = host.libp2p.getConnections(peerId).filter((c) => splitPeer(c.remoteAddr).at !== at);
    await Promise.all(elsewhere.map((c) => c.close().catch(() => c.abort(new Error("not the registered address")))));
  }
  return probe(host, addr, chainId, relay, size, { timeoutMs });
}

export async function startWitness(opts: WitnessOptions): Promise<Witness> {
  const o = { ...defaultWitnessOptions, ...opts };
  const log = o.log;
  if (o.keys.length === 0) throw new PluginArgsError("BAD_ARGS", "a witness needs at least one key");
  const rpc = new RpcClient(o.rpcUrl);
  const chainId = (await rpc.call("node_status", {})).chainId;
  // for the time left in an epoch's window (a node that does not say: the default interval)
  const interval = Number((await rpc.call("chain_getParams", {}).catch(() => undefined))?.params.blockIntervalMs);
  const blockIntervalMs = Number.isSafeInteger(interval) && interval > 0 ? interval : 1_000;
  const journal = o.journalPath !== undefined ? await AttestationJournal.open(o.journalPath, chainId) : undefined;
  const keys = new Map<string, KeyPair>(o.keys.map((k) => [toAddress(k.publicKey), k]));
  const trackers = new Map<string, NonceTracker>([...keys.keys()].map((a) => [a, new NonceTracker()]));
  const schedule = new WitnessSchedule<Attestation>(o.schedule);
  let chainMinProbe = 0;
  const probeBytes = (): number => clampProbe(Math.max(o.probeBytes ?? DEFAULT_PROBE_BYTES, chainMinProbe));
  const stats = { probes: 0, probeFailures: 0, attested: 0, failuresAttested: 0, final: 0, refused: 0, missed: 0 };
  const earned = new Map<string, bigint>([...keys.keys()].map((a) => [a, 0n]));
  /** the first epoch this process saw, and the last one whose pay it reported */
  let firstEpoch: number | undefined;
  let reportedThrough = -1;
  /** the epoch of the next block, as of the last poll */
  let currentEpoch = 0;

  const host = await createProbeHost({ listen: [...(o.listen ?? [])], ...(o.p2pKeyPath ? { keyPath: o.p2pKeyPath } : {}) }).catch(async (e: unknown) => {
    await journal?.close();
    throw e;
  });

  // ---- submission, one at a time per key (nonces) ----
  const locks = new Map<string, Promise<void>>();
  const withKeyLock = (witness: string, fn: () => Promise<void>): Promise<void> => {
    const run = (locks.get(witness) ?? Promise.resolve()).then(fn);
    locks.set(witness, run.catch(() => undefined));
    return run;
  };

  const jobCtx = (j: Job) => ({ relay: j.relay, epoch: j.epoch, witness: j.witness });

  async function submit(job: Job): Promise<void> {
    const a = job.attestation!;
    const key = keys.get(job.witness)!;
    const tracker = trackers.get(job.witness)!;
    for (let tries = 0; tries < 3; tries++) {
      const account = await rpc.call("state_getAccount", { address: job.witness });
      const nonce = tracker.next(BigInt(account.nonce));
      const tx = signTx({ chainId, nonce, fee: o.fee, op: { type: "bandwidth.attest", attestation: a } }, key);
      try {
        const r = await rpc.call("proof_submitBandwidth", { tx: toHex(tx.bytes) });
        tracker.sent(r.hash, nonce);
        schedule.submitted(job, r.hash);
        stats.attested++;
        if (a.throughput === 0n) stats.failuresAttested++;
        log.info({ ...jobCtx(job), throughput: a.throughput.toString(), latency: a.latency.toString(), bytes: a.bytes.toString(), failed: a.throughput === 0n, hash: r.hash, nonce: nonce.toString() }, "attested");
        return;
      } catch (e) {
        const code = errorCode(e);
        if (NONCE_ERROR_CODES.has(code)) {
          log.debug({ ...jobCtx(job), code, nonce: nonce.toString() }, "nonce race, resyncing");
          onNonceError(tracker, code, nonce);
          continue;
        }
        refusedOrRetry(job, code, e as Error);
        return;
      }
    }
    const next = schedule.submitFailed(job, Date.now());
    log.warn({ ...jobCtx(job), next }, "could not find a free nonce");
  }

  /** A submission the node refused (not for its nonce). */
  function refusedOrRetry(job: Job, code: string, e: Error): void {
    if (code === "BANDWIDTH_ATTEST_DUPLICATE") {
      schedule.done(job);
      log.info({ ...jobCtx(job) }, "already attested");
      return;
    }
    if (code === "BANDWIDTH_PROBE_TOO_SMALL") {
      const min = Number((e as { data?: { minimum?: unknown } }).data?.minimum);
      if (Number.isSafeInteger(min) && min > chainMinProbe) chainMinProbe = min;
      stats.refused++;
      schedule.fail(job);
      // this attestation is signed: a bigger probe now would be a second, different one (slashable)
      log.error({ ...jobCtx(job), code, bytes: job.attestation?.bytes.toString(), minProbeBytes: chainMinProbe, probeBytes: probeBytes() }, "probe below the chain's minimum: raise --probe-bytes; later probes use the minimum");
      return;
    }
    if (code.startsWith("BANDWIDTH_") || code === "TX_BAD_SIGNATURE" || code === "TX_INVALID_OPERATION" || code === "TX_WRONG_CHAIN_ID") {
      stats.refused++;
      schedule.fail(job);
      log.warn({ ...jobCtx(job), code, message: e.message }, "attestation refused");
      return;
    }
    // the node unreachable, the fee, a full mempool: try again later with the same attestation
    const next = schedule.submitFailed(job, Date.now());
    log.warn({ ...jobCtx(job), code, message: e.message, attempt: job.submitFailures, next }, "submit failed");
  }

  /** Signs and journals what `job` measured; false (the job retries later) if it could not be journaled. */
  async function sign(job: Job, measured: Pick<Attestation, "bytes" | "throughput" | "latency">): Promise<boolean> {
    const a = signAttestation(chainId, keys.get(job.witness)!, { relay: fromAddress(job.relay), epoch: BigInt(job.epoch), ...measured });
    if (journal !== undefined) {
      try {
        await journal.record(a, BigInt(currentEpoch));
      } catch (e) {
        // not journaled, so not sent: nothing signed has left this process, a later probe may sign again
        const next = schedule.submitFailed(job, Date.now());
        log.error({ ...jobCtx(job), code: errorCode(e), message: (e as Error).message, journal: journal.path, next }, "could not journal the attestation; not sending it");
        return false;
      }
    }
    schedule.signed(job, a);
    return true;
  }

  /** The window closes before another attempt could finish: the failure so far is attested now. */
  async function attestFailureNow(job: Job): Promise<void> {
    try {
      log.warn({ ...jobCtx(job), probeFailures: job.probeFailures }, "the epoch's window is closing: attesting the failed probes now");
      if (!(await sign(job, failedProbe(probeBytes())))) return;
      await withKeyLock(job.witness, () => submit(job));
    } catch (e) {
      const next = schedule.submitFailed(job, Date.now());
      log.warn({ ...jobCtx(job), code: errorCode(e), message: (e as Error).message, next }, "witness job failed");
    }
  }

  async function runJob(job: Job): Promise<void> {
    try {
      if (!job.attestation) {
        // already on chain (an earlier run of this witness): nothing to measure
        const view = await rpc.call("bandwidth_getAttestations", { relay: job.relay, epoch: job.epoch });
        if (view.attestations.some((x) => x.witness === job.witness)) {
          schedule.done(job);
          log.info({ ...jobCtx(job) }, "already attested");
          return;
        }
        // signed before this process started (the journal): send that one again, never a second one
        const journaled = journal?.get(job.witness, job.relay, BigInt(job.epoch));
        if (journaled !== undefined) {
          schedule.signed(job, journaled);
          log.info({ ...jobCtx(job) }, "sending the journaled attestation again");
        } else {
          const size = probeBytes();
          stats.probes++;
          const r = await probeRegistered(host, job.multiaddr, chainId, fromAddress(job.relay), size, o.probeTimeoutMs);
          let measured: Pick<Attestation, "bytes" | "throughput" | "latency">;
          if (!r.ok) {
            stats.probeFailures++;
            const next = schedule.probeFailed(job, Date.now());
            log.warn({ ...jobCtx(job), multiaddr: job.multiaddr, reason: r.reason, message: r.message, bytesOk: r.bytesOk, attempt: job.probeFailures, next }, "probe failed");
            if (next === "retry") return;
            measured = failedProbe(size);
          } else {
            measured = { bytes: r.bytes, throughput: r.throughput, latency: r.latency };
            log.debug({ ...jobCtx(job), bytes: r.bytes.toString(), throughput: r.throughput.toString(), latency: r.latency.toString(), elapsedMs: r.elapsedMs }, "probed");
          }
          if (!(await sign(job, measured))) return;
        }
      }
      await withKeyLock(job.witness, () => submit(job));
    } catch (e) {
      // the node unreachable (or an answer we did not expect): the job waits and tries again
      const next = schedule.submitFailed(job, Date.now());
      log.warn({ ...jobCtx(job), code: errorCode(e), message: (e as Error).message, next }, "witness job failed");
    }
  }

  // ---- the loop ----

  /** Our transactions in the mempool: finalized, still pending, or dropped. */
  async function checkPending(): Promise<void> {
    for (const [witness, tracker] of trackers) {
      for (const hash of tracker.pendingHashes()) {
        const r = await rpc.call("tx_get", { hash });
        if (r.status === "pending") continue;
        tracker.forget(hash);
        const job = schedule.submittedJobs().find((j) => j.hash === hash);
        if (r.status === "unknown") {
          // left the mempool without a block: send the same attestation again if its epoch is still open
          const d = schedule.dropped(hash, Date.now(), currentEpoch);
          if (d?.retry) log.warn({ ...jobCtx(d.job), hash }, "attestation dropped from the mempool; sending it again");
          else if (d) {
            stats.missed++;
            log.warn({ ...jobCtx(d.job), hash }, "missed: the attestation left the mempool after its epoch");
          }
          continue;
        }
        if (!job) continue;
        const code = r.receipt?.code ?? null;
        if (r.receipt?.ok || code === "BANDWIDTH_ATTEST_DUPLICATE") {
          schedule.done(job);
          stats.final++;
          log.debug({ ...jobCtx(job), hash, height: r.height }, "attestation final");
        } else {
          schedule.fail(job);
          stats.refused++;
          log.warn({ ...jobCtx(job), hash, height: r.height, code, witness }, "attestation failed in its block");
        }
      }
    }
  }

  /**
   * What each key earned as a witness in every epoch that ended since this process started
   * (rewards_getEpoch: the mints of pool `witness`), one "earned" line per key and epoch.
   */
  async function reportEarnings(): Promise<void> {
    if (firstEpoch === undefined) return;
    for (let e = Math.max(reportedThrough + 1, firstEpoch); e < currentEpoch; e++) {
      const r = await rpc.call("rewards_getEpoch", { epoch: e });
      if (r !== null && r.status !== "ended") return; // settled with the epoch's last block: not yet
      for (const [witness, total] of earned) {
        // null: an epoch the node keeps no index for (it did not sync it from genesis)
        const paid = r === null ? [] : r.mints.filter((m) => m.pool === "witness" && m.to === witness);
        const amount = paid.reduce((sum, m) => sum + BigInt(m.amount), 0n);
        const attestations = paid.reduce((sum, m) => sum + BigInt(m.basis), 0n);
        earned.set(witness, total + amount);
        log.info({ epoch: e, witness, amount: amount.toString(), paidAttestations: attestations.toString(), total: (total + amount).toString(), known: r !== null }, "earned");
      }
      reportedThrough = e;
    }
  }

  async function tick(): Promise<void> {
    await checkPending();
    await reportEarnings().catch((e: unknown) => log.debug({ code: errorCode(e), message: (e as Error).message }, "could not read the epoch's pay"));
    let open: number | undefined;
    let closing = false;
    for (const witness of keys.keys()) {
      const page = await allAssignments(rpc, { witness });
      currentEpoch = page.epoch;
      firstEpoch ??= page.epoch;
      if (page.minProbeBytes > chainMinProbe) chainMinProbe = page.minProbeBytes;
      for (const j of schedule.prune(page.epoch)) {
        stats.missed++;
        log.warn({ ...jobCtx(j), state: j.state, probeFailures: j.probeFailures }, "missed");
      }
      const next = page.headHeight + 1;
      if (!page.known || next < page.window.from || next > page.window.to) continue;
      open = page.epoch;
      closing = (page.window.to - page.headHeight) * blockIntervalMs < o.probeTimeoutMs + CLOSING_BLOCKS * blockIntervalMs;
      const added = schedule.observe(witness, page.epoch, page.assignments.map((x) => ({ relay: x.relay, multiaddr: x.multiaddr })), Date.now());
      if (added.length > 0) log.debug({ witness, epoch: page.epoch, relays: added.map((j) => j.relay) }, "assigned");
    }
    if (open === undefined) return;
    if (closing) {
      for (const job of schedule.closeFailing(open)) {
        const p = attestFailureNow(job).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    }
    for (const job of schedule.take(Date.now(), o.concurrency - schedule.running(), open)) {
      const p = runJob(job).finally(() => inflight.delete(p));
      inflight.add(p);
    }
  }

  const inflight = new Set<Promise<void>>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastError = "";
  const loop = (): void => {
    if (stopped) return;
    tick().then(
      () => {
        lastError = "";
      },
      (e: unknown) => {
        const code = errorCode(e);
        // one line per kind of trouble, not one per poll
        if (code !== lastError) log.warn({ code, message: (e as Error).message }, "poll failed");
        lastError = code;
      },
    ).finally(() => {
      if (!stopped) timer = setTimeout(loop, o.pollMs);
    });
  };
  loop();

  return {
    witnesses: [...keys.keys()],
    peerId: host.peerId,
    host,
    journal: journal?.path ?? null,
    stats: () => ({ ...stats, earned: [...earned.values()].reduce((a, b) => a + b, 0n).toString() }),
    probeBytes,
    close: async () => {
      stopped = true;
      clearTimeout(timer);
      // probes in flight end within probeTimeoutMs; do not wait longer than a few seconds
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 3_000).unref())]);
      await host.stop();
      await journal?.close();
    },
  };
}

async function main(): Promise<void> {
  if (process.argv.slice(2).includes("--version")) standardFlags(["--version"], "");
  const usage =
    "usage: witness.ts --rpc URL --key FILE [--key FILE ...] [--journal FILE (default: first key file + .attestations.json)] [--probe-bytes N] [--listen MULTIADDR ...] [--p2p-key FILE] [--poll-ms MS] " +
    `[--concurrency N] [--probe-timeout-ms MS] [--probe-attempts N] [--retry-ms MS] [--fee UNITS] ${LOG_USAGE}`;
  const { values: v } = parseOrUsage("bandwidth-witness", usage, () =>
    parseArgs({
      args: negativeNumbersAsValues(process.argv.slice(2)),
      options: {
        rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? "http://127.0.0.1:8645/" },
        key: { type: "string", multiple: true },
        "probe-bytes": { type: "string" },
        listen: { type: "string", multiple: true },
        "p2p-key": { type: "string" },
        journal: { type: "string" },
        "poll-ms": { type: "string", default: String(defaultWitnessOptions.pollMs) },
        concurrency: { type: "string", default: String(defaultWitnessOptions.concurrency) },
        "probe-timeout-ms": { type: "string", default: String(defaultWitnessOptions.probeTimeoutMs) },
        "probe-attempts": { type: "string", default: "3" },
        "retry-ms": { type: "string", default: "1000" },
        fee: { type: "string", default: String(defaultWitnessOptions.fee) },
        help: { type: "boolean", default: false },
        ...logOptions,
      },
    }),
  );
  if (v.help) {
    process.stdout.write(usage + "\n");
    return;
  }
  if (!v.key || v.key.length === 0) throw new PluginArgsError("BAD_ARGS", usage);
  const probeBytesFlag = v["probe-bytes"] !== undefined ? intFlag("probe-bytes", v["probe-bytes"], MIN_PROBE_BYTES) : undefined;
  if (probeBytesFlag !== undefined && probeBytesFlag > MAX_PROBE_BYTES) throw new PluginArgsError("BAD_ARGS", `--probe-bytes must be at most ${MAX_PROBE_BYTES}`);
  const log = pluginLogger("bandwidth-witness", v);
  const keys = await Promise.all(v.key.map((k) => readKeyFile(k)));
  const retryMs = intFlag("retry-ms", v["retry-ms"]);
  const w = await startWitness({
    rpcUrl: v.rpc, keys, log,
    ...(probeBytesFlag !== undefined ? { probeBytes: probeBytesFlag } : {}),
    ...(v.listen ? { listen: v.listen } : {}),
    ...(v["p2p-key"] ? { p2pKeyPath: v["p2p-key"] } : {}),
    journalPath: v.journal ?? `${v.key[0]}.attestations.json`,
    pollMs: intFlag("poll-ms", v["poll-ms"]),
    concurrency: intFlag("concurrency", v.concurrency),
    probeTimeoutMs: intFlag("probe-timeout-ms", v["probe-timeout-ms"]),
    fee: decimalFlag("fee", v.fee),
    schedule: { maxProbeAttempts: intFlag("probe-attempts", v["probe-attempts"]), retryBaseMs: retryMs, retryMaxMs: retryMs * 8 },
  });
  log.info({ witnesses: w.witnesses, peerId: w.peerId, probeBytes: w.probeBytes(), listen: w.host.listenAddresses(), journal: w.journal }, "witness ready");
  exitOnSignals(log, async () => {
    await w.close();
    log.info({ ...w.stats() }, "witness totals");
  });
}

if (isMain(import.meta.url)) runMain(main);
