/**
 * Proof of bandwidth: what the probe protocol (p2p/probe.ts) costs next to the raw libp2p stream
 * it runs on, both measured in this run on loopback.
 *
 *   node --import tsx test/perf/bandwidth.ts [--reps N] [--mib N] [--json]
 *
 * 1. Raw libp2p stream throughput: a protocol whose server writes N bytes of one preallocated
 *    buffer (64 KiB chunks, the same backpressure-respecting writer as the relay) and whose client
 *    reads and discards them. Hosts from createProbeHost (tcp, noise, yamux with its default
 *    256 KiB initial / 16 MiB max stream window); 1b: the same with 4 MiB / 64 MiB windows, to
 *    show whether window tuning would pay (on loopback it does not: the CPU is the limit).
 * 2. Probe throughput: probe() against serveProbes(), the relay generating the AES-CTR stream and
 *    the witness generating it again and comparing every chunk. Throughput as the probe reports it
 *    (bytes x 1e9 / ns from request sent to last byte; raw is timed the same way), and latency.
 * 3. The generator alone: ProbeStream.next(64 KiB) bytes per second on one core, and the
 *    witness's check (generate + compare) alone.
 *
 * 4. Attestations on the chain side (no network): 1,000 relays registered (every relay, and the one
 *    validator, weighing 10^6: 1,001 witness candidates), L = 4; for 3 witnesses of each relay a
 *    signed bandwidth.attest sent by the witness: 3,000 transactions in one block (buildBlock).
 *    4a. Attestations checked per second: checkAttestation (every rule: the relay's and record's
 *        lookups, then the signature) and verifyAttestationSignature alone (sign bytes + the chain's
 *        `verify`), against the native ed25519 ceiling over the same sign bytes and signatures
 *        (node:crypto verify with a KeyObject parsed once per witness beforehand, as
 *        test/perf/throughput.ts); ratios paired per repetition.
 *    4b. applyBlock (header checks, every tx, state root) of: the epoch's first block (assigning
 *        5 witnesses to each of the 1,000 relays), the block carrying the 3,000 attestations, and
 *        the epoch's last block (settling the 1,000 relays: credit, reputation, bandwidth pool).
 *        clearVerifiedTxCache() before every repetition: the tx signatures are really verified.
 *
 * Ratio = probe / raw (target >= 0.8: the probe must not be the bottleneck of what it measures).
 * The relay (serving both protocols) runs in a child process, as it would on another machine, so
 * each side has its own event loop; the client/witness runs here. Medians of --reps repetitions
 * after one warm-up, raw and probe interleaved back to back. Timings are never asserted; the run
 * fails only if a probe fails or a raw transfer is short.
 */
import "../../p2p/polyfill.ts";
import type { Stream } from "@libp2p/interface";
import { lpStream } from "@libp2p/utils";
import { multiaddr } from "@multiformats/multiaddr";
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { YamuxMuxerInit } from "@chainsafe/libp2p-yamux";
import { createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import { attestSignBytes, checkAttestation, readRelayEpoch, signAttestation, verifyAttestationSignature, witnessCandidates, type Attestation } from "../../modules/bandwidth/bandwidth.ts";
import { equalBytes, toHex } from "../../primitives/bytes.ts";
import { firstHeightOfEpoch, lastHeightOfEpoch } from "../../chain/epoch.ts";
import type { KeyPair } from "../../primitives/keys.ts";
import { ProviderKind } from "../../modules/storage/storage.ts";
import { applyBlock, type BuiltBlock } from "../../chain/transition.ts";
import { clearVerifiedTxCache, signTx, type SignedTx } from "../../chain/tx.ts";
import { createProbeHost, PROBE_CHUNK_BYTES, probe, ProbeStream, serveProbes, writeProbeBytes, type ProbeHost } from "../../p2p/probe.ts";
import { advance, newTestChain, testKey, type TestChain } from "../helpers/chain.ts";
import { fmtInt, fmtMs, fmtRatio, median, spread, table, timeMs, verdict } from "./stats.ts";

const CHAIN_ID = "bench";
const RAW_PROTOCOL = "/cloudcoin/bench/raw/1";
const TARGET = 0.8;
const MB = 1e6;
const SELF = fileURLToPath(import.meta.url);
/** Figure 1b: larger yamux stream windows than createProbeHost's defaults (256 KiB initial, 16 MiB max). */
const LARGE_WINDOWS: YamuxMuxerInit = { streamOptions: { initialStreamWindowSize: 4 * 1024 * 1024, maxStreamWindowSize: 64 * 1024 * 1024 } };
type Muxer = "default" | "large";
const yamuxOf = (m: Muxer): YamuxMuxerInit | undefined => (m === "large" ? LARGE_WINDOWS : undefined);

export interface BandwidthConfig {
  readonly reps: number;
  /** bytes per transfer */
  readonly bytes: number;
  /** bytes generated per repetition of figure 3 */
  readonly generatorBytes: number;
}

export interface BandwidthFigures {
  readonly bytes: number;
  readonly reps: number;
  /** bytes per second, per repetition */
  readonly raw: number[];
  /** the same with LARGE_WINDOWS on both sides */
  readonly rawLargeWindows: number[];
  readonly probe: number[];
  /** probe latency (request sent -> first byte), µs, per repetition */
  readonly probeLatencyUs: number[];
  readonly generator: number[];
  readonly check: number[];
  /** median over repetitions of probe / raw (each pair measured back to back) */
  readonly ratio: number;
}

// ---- the relay (child process) ----

/** Serves the raw protocol: one length-prefixed u32 (bytes wanted), answered by that many bytes of one buffer. */
async function serveRaw(host: ProbeHost): Promise<void> {
  const buf = randomBytes(PROBE_CHUNK_BYTES);
  const source = { next: (n: number) => (n === buf.length ? buf : buf.subarray(0, n)) };
  await host.handle(RAW_PROTOCOL, async (stream: Stream) => {
    try {
      const lp = lpStream(stream, { maxDataLength: 4 });
      const req = (await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray();
      lp.unwrap();
      await writeProbeBytes(stream, source, new DataView(req.buffer, req.byteOffset, 4).getUint32(0, false));
      await stream.close();
    } catch (e) {
      stream.abort(e as Error);
    }
  });
}

/** The child: a relay serving raw and probe; sends its address, exits when the parent goes. */
async function runRelay(keyHex: string, muxer: Muxer): Promise<void> {
  const host = await createProbeHost({ listen: ["/ip4/127.0.0.1/tcp/0"], yamux: yamuxOf(muxer) });
  await serveRaw(host);
  await serveProbes(host, CHAIN_ID, Buffer.from(keyHex, "hex"), { maxConcurrent: 1 });
  process.on("disconnect", () => void host.stop().finally(() => process.exit(0)));
  process.send!({ addr: host.listenAddresses()[0]! });
}

async function startRelay(relayKey: Uint8Array, muxer: Muxer): Promise<{ addr: string; stop(): void }> {
  const child: ChildProcess = fork(SELF, ["--relay", Buffer.from(relayKey).toString("hex"), "--yamux", muxer], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const stop = (): void => {
    if (child.connected) child.disconnect();
    setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
  };
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the relay did not start within 30 s")), 30_000);
    child.once("message", (m: { addr: string }) => {
      clearTimeout(timer);
      resolve(m.addr);
    });
    child.once("exit", (code) => reject(new Error(`the relay exited with ${code}`)));
  }).catch((e: unknown) => {
    stop();
    throw e;
  });
  return { addr, stop };
}

// ---- the client / witness (this process) ----

/** Reads `bytes` raw bytes and discards them; bytes per second from request sent to last byte. */
async function rawTransfer(client: ProbeHost, addr: string, bytes: number): Promise<number> {
  const stream = await client.dialProtocol(multiaddr(addr), RAW_PROTOCOL, { signal: AbortSignal.timeout(10_000) });
  let received = 0;
  let tLast = 0n;
  const ended = new Promise<void>((resolve, reject) => {
    stream.addEventListener("message", (e) => {
      received += e.data.byteLength;
      tLast = process.hrtime.bigint();
    });
    stream.addEventListener("remoteCloseWrite", () => resolve());
    stream.addEventListener("close", (e) => (e.error ? reject(e.error) : resolve()));
  });
  const req = new Uint8Array(5);
  req[0] = 4;
  new DataView(req.buffer).setUint32(1, bytes, false);
  const tSent = process.hrtime.bigint();
  stream.send(req);
  await stream.close();
  await ended;
  if (received !== bytes) throw new Error(`raw transfer: ${received} of ${bytes} bytes`);
  return (bytes * 1e9) / Number(tLast - tSent);
}

async function probeOnce(witness: ProbeHost, addr: string, relayKey: Uint8Array, bytes: number): Promise<{ rate: number; latencyUs: number }> {
  const r = await probe(witness, addr, CHAIN_ID, relayKey, bytes, { timeoutMs: 30_000 });
  if (!r.ok) throw new Error(`probe failed: ${r.reason}: ${r.message}`);
  return { rate: Number(r.throughput), latencyUs: Number(r.latency) };
}

/** A relay child and a client host here with the same yamux settings; both closed after `run`. */
async function withRelay<T>(relayKey: Uint8Array, muxer: Muxer, run: (client: ProbeHost, addr: string) => Promise<T>): Promise<T> {
  const relay = await startRelay(relayKey, muxer);
  const client = await createProbeHost({ listen: [], yamux: yamuxOf(muxer) });
  try {
    return await run(client, relay.addr);
  } finally {
    await client.stop();
    relay.stop();
  }
}

export async function benchBandwidth(cfg: BandwidthConfig): Promise<BandwidthFigures> {
  const relayKey = randomBytes(32);
  const raw: number[] = [];
  const probeRates: number[] = [];
  const latency: number[] = [];
  const ratios: number[] = [];
  await withRelay(relayKey, "default", async (client, addr) => {
    for (let r = 0; r <= cfg.reps; r++) {
      const a = await rawTransfer(client, addr, cfg.bytes);
      const p = await probeOnce(client, addr, relayKey, cfg.bytes);
      if (r === 0) continue; // warm-up
      raw.push(a);
      probeRates.push(p.rate);
      latency.push(p.latencyUs);
      ratios.push(p.rate / a);
    }
  });
  const rawLargeWindows: number[] = [];
  await withRelay(relayKey, "large", async (client, addr) => {
    for (let r = 0; r <= cfg.reps; r++) {
      const a = await rawTransfer(client, addr, cfg.bytes);
      if (r > 0) rawLargeWindows.push(a);
    }
  });
  const generator: number[] = [];
  const check: number[] = [];
  const nonce = randomBytes(32);
  const first = Buffer.from(new ProbeStream(nonce, relayKey).next(PROBE_CHUNK_BYTES));
  const chunks = Math.ceil(cfg.generatorBytes / PROBE_CHUNK_BYTES);
  for (let r = 0; r <= cfg.reps; r++) {
    const g = new ProbeStream(nonce, relayKey);
    const gen = timeMs(() => {
      for (let i = 0; i < chunks; i++) g.next(PROBE_CHUNK_BYTES);
    });
    // the witness's work per chunk: generate the expected bytes and compare the received ones
    const w = new ProbeStream(nonce, relayKey);
    let matches = 0;
    const chk = timeMs(() => {
      for (let i = 0; i < chunks; i++) if (first.equals(w.next(PROBE_CHUNK_BYTES))) matches++;
    });
    // `first` is the first chunk: it matches the first and no other (a check that cannot be skipped)
    if (matches !== 1) throw new Error(`check: ${matches} chunks matched, expected 1`);
    if (r === 0) continue;
    generator.push((chunks * PROBE_CHUNK_BYTES * 1000) / gen);
    check.push((chunks * PROBE_CHUNK_BYTES * 1000) / chk);
  }
  return { bytes: cfg.bytes, reps: cfg.reps, raw, rawLargeWindows, probe: probeRates, probeLatencyUs: latency, generator, check, ratio: median(ratios) };
}

// ---- 4. attestations on the chain side ----

const ATTEST_RELAYS = 1_000;
const ATTESTS_PER_RELAY = 3;
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface AttestationFigures {
  readonly relays: number;
  readonly attestations: number;
  readonly candidates: number;
  readonly blockBytes: number;
  /** attestations per second, per repetition */
  readonly checkRate: number[];
  readonly verifyRate: number[];
  readonly nativeRate: number[];
  /** medians of the per-repetition ratios against the native ceiling */
  readonly checkRatio: number;
  readonly verifyRatio: number;
  /** applyBlock ms per repetition, and the events of one application */
  readonly assignMs: number[];
  readonly assignEvents: number;
  readonly attestMs: number[];
  readonly attestEvents: number;
  /** native verify of the attestation block's 2 signatures per tx, ms, paired with attestMs */
  readonly attestSigsMs: number[];
  /** median of attestSigsMs / attestMs */
  readonly attestBlockRatio: number;
  readonly settleMs: number[];
  readonly settleEvents: number;
  readonly settleEventKinds: Record<string, number>;
}

function fail(message: string): never {
  throw new Error(message);
}

/**
 * applyBlock of `built` on `pre`, `reps` timed + 1 warm-up, nothing cached; the follower must
 * reach the builder's root. With `ceiling`, it is timed right after each application (paired).
 */
function timeApply(chain: TestChain, pre: TestChain["state"], built: BuiltBlock, reps: number, ceiling?: () => void): { ms: number[]; ceilingMs: number[] } {
  const ms: number[] = [];
  const ceilingMs: number[] = [];
  for (let r = 0; r <= reps; r++) {
    clearVerifiedTxCache();
    let root!: Uint8Array;
    const a = timeMs(() => void (root = applyBlock(pre, built.block, chain.genesis.params, chain.genesis.chainId).state.root()));
    if (!equalBytes(root, built.state.root())) fail("the follower reached another root");
    const c = ceiling ? timeMs(ceiling) : 0;
    if (r === 0) continue; // warm-up
    ms.push(a);
    ceilingMs.push(c);
  }
  return { ms, ceilingMs };
}

function mustLand(b: BuiltBlock, what: string): void {
  if (b.rejected.length > 0 || b.receipts.some((r) => !r.ok)) fail(`${what}: ${b.rejected.length} rejected, codes ${[...new Set(b.receipts.map((r) => r.code))].join(",")}`);
}

export function benchAttestations(reps: number): AttestationFigures {
  const validator = testKey(40_000);
  const relays = Array.from({ length: ATTEST_RELAYS }, (_, i) => testKey(40_001 + i));
  const keys = new Map<string, KeyPair>([validator, ...relays].map((k) => [toHex(k.publicKey), k]));
  const chain = newTestChain({
    validators: [{ key: validator, power: 1_000_000n }],
    params: { epochLength: 4, minValidatorStake: "100000", witnessesPerRelay: 5, attestQuorum: 3, minProbeBytes: 1000, collateralPerByte: "1", maxBlockTxs: 5_000, maxBlockBytes: 16 * 1024 * 1024 },
    balances: relays.map((key) => ({ key, amount: 10n ** 12n })),
  });
  const { params, chainId } = chain.genesis;
  // each relay on its own address: the chain judges at most maxRelaysPerIp relays per IP
  const relayAddr = (i: number): string => `/ip4/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/tcp/1`;
  mustLand(advance(chain, relays.map((k, i) => signTx({ chainId, nonce: 0n, fee: 1000n, op: { type: "provider.register", kind: ProviderKind.BANDWIDTH, collateral: 1_000_000n, capacity: 100_000n, multiaddr: relayAddr(i) } }, k))), "1,000 relays register");
  // the first block of the first epoch whose lookback snapshot holds the relays: every relay
  // assigned its witnesses (the snapshot is two epochs back, so not epoch 1)
  let epoch = 0n;
  let preAssign!: typeof chain.state;
  let assigned!: BuiltBlock;
  do {
    if (++epoch > 4n) fail("no epoch assigned the relays witnesses");
    while (chain.state.meta().height < firstHeightOfEpoch(epoch, params.epochLength) - 1n) advance(chain, []);
    preAssign = chain.state;
    assigned = advance(chain, []);
  } while (!assigned.events.some((e) => e.kind === "bandwidthAssign"));
  const assignEvents = assigned.events.filter((e) => e.kind === "bandwidthAssign").length;
  if (assignEvents !== ATTEST_RELAYS) fail(`${assignEvents} relays assigned`);
  const candidates = witnessCandidates(chain.state, params).length;

  // 3 witnesses of each relay attest it; each witness sends its own attestations
  const attestations: Attestation[] = [];
  for (const r of relays) {
    const rec = readRelayEpoch(chain.state, r.publicKey, epoch) ?? fail("a relay without witnesses");
    for (const wk of rec.witnesses.slice(0, ATTESTS_PER_RELAY)) {
      const witness = keys.get(toHex(wk)) ?? fail("an unknown witness");
      attestations.push(signAttestation(chainId, witness, { relay: r.publicKey, epoch, bytes: 1n << 24n, throughput: 50_000n + BigInt(attestations.length), latency: 2_000n }));
    }
  }
  const nonces = new Map<string, bigint>();
  const txs: SignedTx[] = attestations.map((a) => {
    const id = toHex(a.witness);
    const nonce = nonces.get(id) ?? chain.state.account(a.witness).nonce;
    nonces.set(id, nonce + 1n);
    return signTx({ chainId, nonce, fee: 1000n, op: { type: "bandwidth.attest", attestation: a } }, keys.get(id)!);
  });
  const preAttest = chain.state;
  const attestHeight = preAttest.meta().height + 1n;
  const attested = advance(chain, txs);
  mustLand(attested, "3,000 attestations");
  const attestEvents = attested.events.filter((e) => e.kind === "bandwidthAttest").length;
  if (attestEvents !== attestations.length) fail(`${attestEvents} attestations accepted`);

  // 4a: the same attestations checked on the block's pre-state, verified alone, and natively
  const msgs = attestations.map((a) => attestSignBytes(chainId, a));
  const kos = new Map<string, KeyObject>();
  const koOf = (pk: Uint8Array): KeyObject => {
    const id = toHex(pk);
    let ko = kos.get(id);
    if (!ko) kos.set(id, (ko = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pk]), format: "der", type: "spki" })));
    return ko;
  };
  const native = attestations.map((a) => koOf(a.witness));
  const checkRate: number[] = [];
  const verifyRate: number[] = [];
  const nativeRate: number[] = [];
  const checkRatios: number[] = [];
  const verifyRatios: number[] = [];
  const n = attestations.length;
  for (let r = 0; r <= reps; r++) {
    const c = timeMs(() => {
      for (const a of attestations) checkAttestation(preAttest, a, attestHeight, params, chainId);
    });
    const v = timeMs(() => {
      for (const a of attestations) if (!verifyAttestationSignature(chainId, a)) fail("an attestation does not verify");
    });
    const x = timeMs(() => {
      for (let i = 0; i < n; i++) if (!nodeVerify(null, msgs[i]!, native[i]!, attestations[i]!.signature)) fail("native: an attestation does not verify");
    });
    if (r === 0) continue; // warm-up
    checkRate.push((n * 1000) / c);
    verifyRate.push((n * 1000) / v);
    nativeRate.push((n * 1000) / x);
    checkRatios.push(x / c);
    verifyRatios.push(x / v);
  }

  // 4b: applyBlock of the assignment block and of the attestation block; the latter paired with
  // the native verify of its 6,000 signatures (each tx's and each attestation's)
  const assignMs = timeApply(chain, preAssign, assigned, reps).ms;
  const txKos = txs.map((tx) => koOf(tx.sender));
  const blockSigs = (): void => {
    for (let i = 0; i < n; i++) {
      if (!nodeVerify(null, txs[i]!.hash, txKos[i]!, txs[i]!.signature)) fail("native: a tx signature does not verify");
      if (!nodeVerify(null, msgs[i]!, native[i]!, attestations[i]!.signature)) fail("native: an attestation does not verify");
    }
  };
  const attestRun = timeApply(chain, preAttest, attested, reps, blockSigs);
  const attestMs = attestRun.ms;

  // the epoch's last block: 1,000 relays settled
  while (chain.state.meta().height < lastHeightOfEpoch(epoch, params.epochLength) - 1n) advance(chain, []);
  const preSettle = chain.state;
  const settled = advance(chain, []);
  const credited = settled.events.filter((e) => e.kind === "bandwidthCredit" && e.credited > 0n).length;
  if (credited !== ATTEST_RELAYS) fail(`${credited} relays credited`);
  const settleEventKinds: Record<string, number> = {};
  for (const e of settled.events) settleEventKinds[e.kind] = (settleEventKinds[e.kind] ?? 0) + 1;
  const settleMs = timeApply(chain, preSettle, settled, reps).ms;

  return {
    relays: ATTEST_RELAYS, attestations: n, candidates, blockBytes: attested.block.bytes.length,
    checkRate, verifyRate, nativeRate, checkRatio: median(checkRatios), verifyRatio: median(verifyRatios),
    assignMs, assignEvents: assigned.events.length, attestMs, attestEvents: attested.events.length, attestSigsMs: attestRun.ceilingMs,
    attestBlockRatio: median(attestRun.ceilingMs.map((c, i) => c / attestMs[i]!)), settleMs, settleEvents: settled.events.length, settleEventKinds,
  };
}

const mbps = (x: number): string => (x / MB).toFixed(0);

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values: args } = parseArgs({
    args: argv,
    options: {
      reps: { type: "string", default: "5" },
      mib: { type: "string", default: "32" },
      json: { type: "boolean", default: false },
      relay: { type: "string" },
      yamux: { type: "string", default: "default" },
    },
  });
  if (args.relay !== undefined) return runRelay(args.relay, args.yamux === "large" ? "large" : "default");
  const log = (s = ""): void => {
    if (!args.json) console.log(s);
  };
  const cfg: BandwidthConfig = { reps: Math.max(1, Number(args.reps)), bytes: Math.max(1, Number(args.mib)) * 1024 * 1024, generatorBytes: 256 * 1024 * 1024 };
  const cpu = cpus();
  const started = performance.now();
  log("Proof of bandwidth benchmark (test/perf/bandwidth.ts)");
  log(`  node ${process.version}, ${cpu[0]?.model ?? "unknown"}, ${cpu.length} cores; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  log(`  ${cfg.reps} timed repetitions + 1 warm-up, medians [min..max]; ${cfg.bytes / 1024 / 1024} MiB per transfer over loopback, relay in a child process`);
  log();
  const f = await benchBandwidth(cfg);
  const fmt = (xs: number[]): string => `${mbps(median(xs))} [${spread(xs, mbps)}]`;
  log("== 1-3. Probe throughput vs the raw libp2p stream (MB/s = 10^6 B/s) ==");
  log(table(["figure", "MB/s", "note"], [
    ["1. raw libp2p stream (createProbeHost)", fmt(f.raw), "preallocated buffer, read and discarded"],
    ["1b. raw, larger yamux windows", fmt(f.rawLargeWindows), "4 MiB initial / 64 MiB max stream window"],
    ["2. probe (generate + verify, both sides)", fmt(f.probe), `latency ${fmtInt(median(f.probeLatencyUs))} µs [${spread(f.probeLatencyUs, fmtInt)}]`],
    ["3. generator alone (ProbeStream, 1 core)", fmt(f.generator), "AES-256-CTR keystream, 64 KiB chunks"],
    ["3b. witness check alone (generate + compare)", fmt(f.check), "1 core"],
  ]));
  log();
  log(`  ratio probe / raw: ${fmtRatio(f.ratio)} (median of back-to-back pairs; ratio of the medians ${fmtRatio(median(f.probe) / median(f.raw))}) - ${verdict(f.ratio, TARGET)}`);
  log(`  generator headroom: ${fmtRatio(median(f.generator) / median(f.raw))}x the raw stream`);

  // attestation figures: added by the chain side
  const a = benchAttestations(cfg.reps);
  const rate = (xs: number[]): string => `${fmtInt(median(xs))} [${spread(xs, fmtInt)}]`;
  const ms = (xs: number[]): string => `${fmtMs(median(xs))} [${spread(xs, fmtMs)}]`;
  log();
  log(`== 4. Attestations on the chain (${fmtInt(a.relays)} relays, ${fmtInt(a.candidates)} witness candidates, ${fmtInt(a.attestations)} attestations) ==`);
  log(table(["4a. attestations checked", "per second", "vs native"], [
    ["checkAttestation (every rule, signature last)", rate(a.checkRate), fmtRatio(a.checkRatio)],
    ["verifyAttestationSignature (sign bytes + verify)", rate(a.verifyRate), fmtRatio(a.verifyRatio)],
    ["native ed25519 ceiling (KeyObject parsed once)", rate(a.nativeRate), "1.00"],
  ]));
  log();
  log(table(["4b. applyBlock (nothing cached)", "ms", "events", "per relay"], [
    ["epoch's first block: assign 5 witnesses each", ms(a.assignMs), fmtInt(a.assignEvents), `${fmtInt((median(a.assignMs) * 1000) / a.relays)} µs`],
    [`block of ${fmtInt(a.attestations)} bandwidth.attest (${(a.blockBytes / 1024).toFixed(0)} KiB)`, ms(a.attestMs), fmtInt(a.attestEvents), `${fmtInt((median(a.attestMs) * 1000) / a.relays)} µs`],
    ["epoch's last block: settle the relays", ms(a.settleMs), fmtInt(a.settleEvents), `${fmtInt((median(a.settleMs) * 1000) / a.relays)} µs`],
  ]));
  log(`  settlement events: ${Object.entries(a.settleEventKinds).map(([k, v]) => `${k} ${fmtInt(v)}`).join(", ")}`);
  log(`  the attestation block: ${fmtInt((a.attestations * 1000) / median(a.attestMs))} attestations/s applied; the native verify of its ${fmtInt(2 * a.attestations)} signatures (tx + attestation) takes ${ms(a.attestSigsMs)} ms: ratio ${fmtRatio(a.attestBlockRatio)} (paired per repetition)`);

  log();
  log(`Finished in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
  if (args.json) console.log(JSON.stringify({ ...f, attestations: a }));
}

if (process.argv[1] === SELF) {
  main().then(
    () => {
      if (process.send === undefined) process.exit(0); // the relay child stays up until its parent disconnects
    },
    (e: unknown) => {
      console.error(`\nBENCHMARK FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(1);
    },
  );
}
