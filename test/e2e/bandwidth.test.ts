/**
 * e2e: proof of bandwidth with real processes, checked through JSON-RPC. A one-validator chain
 * with 16-block epochs at 500 ms a block and 256 KiB probes (`cloudcoin init --params`); four relay
 * keys funded from the faucet; four relay plugins register and serve probes; three witness plugins
 * probe and attest: one with the keys of the validator and relays 0 and 1, one each for relays 2
 * and 3 (each relay witnesses the others; relay 3's operator runs both its relay and its witness,
 * so that (c) can stop them apart from the others). With 1 validator + 3 other relays as
 * candidates every relay gets 4 witnesses (witnessesPerRelay 5, quorum 3: the default 7 / 4 needs a
 * larger network), all four relays behind
 * 127.0.0.1 (maxRelaysPerIp 4). Witnesses are drawn with the lookback (issue #16): a relay
 * registered in epoch k is first assigned in epoch k + 3, from the seed of the epoch before and the
 * snapshot frozen two epochs before.
 *
 *   (a) the assignments: every relay has 4 distinct witnesses, never itself, the same from every
 *       angle (whole list, pages of one, by witness, bandwidth_getRelay) and as assignWitnesses
 *       recomputes them from the epoch seed;
 *   (b) the first epoch every relay is assigned in: >= 3 attestations each, credited = the lower
 *       median capped at capacity, the bandwidth pool minted to exactly the relays, each
 *       pool x credited x reputation / sum, exactly as chain/rewards.ts splits it; the witnesses
 *       are paid (rewards_getEpoch, pool witness) and the validator's witness plugin logs its pay;
 *   (c) relay 3's operator goes down (its relay and its witness, SIGTERM) and the witness of relay 2
 *       stops too, once every attestation of the epoch in progress is on chain. In the next full
 *       epoch: relay 3 gets failure attestations (throughput 0, bytes = the probe size) from its
 *       three live witnesses, a quorum: judged, credited 0, no relay pay, a failed service epoch
 *       (banned for one epoch, reputation down); relay 2 loses one witness (relay 3's) but keeps a
 *       quorum: credited and paid, not banned; relays 0 and 1 lose two witnesses (2 and 3): below
 *       the quorum, not judged: no credit, no ban, reputation untouched; the two stopped witnesses
 *       each miss a service epoch (bandwidth_getWitness: banned from the draw, reputation down);
 *       the live witnesses are paid, the stopped ones are not;
 *   (d) the witness of the validator and relays 0 and 1 killed (SIGKILL) right after attesting
 *       and started again: it takes up what its journal holds (sent again, or already on chain)
 *       and never signs a second, different attestation for the same relay and epoch; no evidence
 *       anywhere at the end.
 *
 * The plugins' log lines are printed to stderr when the test fails (always with CLOUDCOIN_E2E_LOGS=1).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { compareBytes, fromHex, toHex } from "../../primitives/bytes.ts";
import { fromAddress, generateKeyPair, toAddress } from "../../primitives/keys.ts";
import { signTx } from "../../chain/tx.ts";
import { readKeyFile, writeKeyFile } from "../../node/keyring.ts";
import { freePortRange } from "../../node/ports.ts";
import { assignWitnesses, lowerMedian } from "../../proofs/bandwidth.ts";
import { rpc, runCli, startNode, startProcess, waitFor, type ReadyProcess } from "../helpers/process.ts";

const RELAY = fileURLToPath(new URL("../../plugins/relay/relay.ts", import.meta.url));
const WITNESS = fileURLToPath(new URL("../../plugins/bandwidth-witness/witness.ts", import.meta.url));
/** 16 blocks (8 s): the lookback puts the first assignment 3 epochs after registration, and a killed witness must restart within an epoch */
const EPOCH = 16;
const BLOCK_MS = 500;
const PROBE_BYTES = 256 * 1024;
const QUORUM = 3;
const RELAYS = 4;
const CLC = 1_000_000_000n;
const FUNDING = 5n * CLC;
/** bytes per second; loopback through noise and yamux stays below it, so the median is what counts */
const CAPACITY = 2_000_000_000n;
const COLLATERAL = 2n * CLC;
const EPOCH_MS = EPOCH * BLOCK_MS;
/** a plugin's start (a relay's includes its registration) on a loaded machine */
const START_MS = 120_000;

const dir = mkdtempSync(join(tmpdir(), "cloudcoin-e2e-bandwidth-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const result = async (url: string, method: string, params: unknown = {}) => {
  const r = await rpc(url, method, params);
  if (r.error) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
  return r.result;
};
const jsonLine = (line: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};
/** ceil(h / L): the first epoch whose first block comes after height h */
const firstEpochAfter = (h: number): number => Math.ceil(h / EPOCH);

interface Assignment {
  relay: string;
  multiaddr: string;
  witnesses: string[];
}
interface Mint {
  to: string;
  amount: string;
  pool: string;
  basis: string;
  reputationBps: number;
}

// nine processes on a shared machine: under load a block takes up to twice its interval and a
// plugin takes over 10 s to start (a run took 155 s at load 14 on 2 cores, 300+ s at load 19)
t.setTimeout(420_000);

t.test("relays are witnessed, credited by the median and paid; a stopped relay is attested as failed, a stopped witness misses its epoch", async (t) => {
  const init = await runCli([
    "init", "--validators", "1", "--out", dir, "--chain-id", "e2e-bandwidth-1", "--json",
    "--params", JSON.stringify({ epochLength: EPOCH, blockIntervalMs: BLOCK_MS, minProbeBytes: PROBE_BYTES, witnessesPerRelay: 5, attestQuorum: QUORUM, maxRelaysPerIp: RELAYS }),
  ]);
  t.equal(init.code, 0, init.stderr);
  const node = await startNode(join(dir, "node0"));
  const procs: ReadyProcess[] = [node];
  t.teardown(async () => {
    // what the plugins said, when something failed
    const all = Boolean(process.env.CLOUDCOIN_E2E_LOGS);
    if (!t.passing() || all) {
      for (const p of procs.slice(1)) process.stderr.write(`---- ${[p.script, ...p.args].join(" ")}\n${(all ? p.logs : p.logs.slice(-80)).join("\n")}\n`);
    }
    await Promise.all(procs.map((p) => p.stop("SIGKILL")));
  });
  const url = node.url;
  const validatorKeyPath = join(dir, "node0", "validator.key.json");
  const validator = toAddress((await readKeyFile(validatorKeyPath)).publicKey);

  // four relay keys, funded from the faucet in one go
  const relayKeyPaths = Array.from({ length: RELAYS }, (_, i) => join(dir, "keys", `relay${i}.json`));
  const relayKeys = Array.from({ length: RELAYS }, () => generateKeyPair());
  await Promise.all(relayKeys.map((k, i) => writeKeyFile(relayKeyPaths[i]!, `relay${i}`, k)));
  const relays = relayKeys.map((k) => toAddress(k.publicKey));
  const faucet = await readKeyFile(join(dir, "keys", "faucet.json"));
  const chainId = (await result(url, "node_status")).chainId as string;
  const faucetNonce = BigInt((await result(url, "state_getAccount", { address: toAddress(faucet.publicKey) })).nonce);
  const hashes: string[] = [];
  for (const [i, k] of relayKeys.entries()) {
    const tx = signTx({ chainId, nonce: faucetNonce + BigInt(i), fee: 1000n, op: { type: "transfer", to: k.publicKey, amount: FUNDING } }, faucet);
    hashes.push((await result(url, "tx_send", { tx: toHex(tx.bytes) })).hash);
  }
  for (const hash of hashes) {
    const r = await waitFor(`funding ${hash}`, async () => {
      const x = await result(url, "tx_get", { hash });
      return x.status === "finalized" ? x : undefined;
    }, 20_000);
    t.equal(r.receipt.ok, true, "funded");
  }

  // the witnesses, started first so that a relay is probed from the first epoch it is assigned in
  // (a relay key witnesses once it is registered): the validator's key; relays 0 and 1; relay 2; relay 3
  const witnessReady = (line: string): string | undefined => (jsonLine(line)?.msg === "witness ready" ? "ready" : undefined);
  const witnessArgs = ["--rpc", url, "--probe-bytes", String(PROBE_BYTES), "--poll-ms", "250", "--retry-ms", "300", "--probe-timeout-ms", "3000", "--concurrency", "4"];
  const witnessKeys = [[validatorKeyPath, ...relayKeyPaths.slice(0, 2)], [relayKeyPaths[2]!], [relayKeyPaths[3]!]];
  const witnessKeyArgs = (i: number) => witnessKeys[i]!.flatMap((k) => ["--key", k]);
  const witnessProcs = await Promise.all(witnessKeys.map((_, i) => startProcess(WITNESS, [...witnessArgs, ...witnessKeyArgs(i)], witnessReady, { timeoutMs: START_MS })));
  procs.push(...witnessProcs);

  // four relays: each registers and serves probes
  const base = await freePortRange(RELAYS);
  const ready = (line: string): string | undefined => {
    const j = jsonLine(line);
    return j?.msg === "relay ready" ? (j.multiaddr as string) : undefined;
  };
  const relayProcs = await Promise.all(relays.map((_, i) => startProcess(RELAY, [
    "--rpc", url, "--key", relayKeyPaths[i]!, "--listen", `/ip4/127.0.0.1/tcp/${base + i}`, "--capacity", String(CAPACITY), "--collateral", String(COLLATERAL), "--poll-ms", "500",
  ], ready, { timeoutMs: START_MS })));
  procs.push(...relayProcs);
  const multiaddrs = relayProcs.map((p) => p.url);
  for (const [i, p] of relayProcs.entries()) {
    t.match(p.url, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/${base + i}/p2p/12D3KooW`), `relay ${i} announces its listen address with its peer id`);
    const line = p.logs.map(jsonLine).find((j) => j?.msg === "relay ready")!;
    t.equal(line.address, relays[i], "and its address");
    t.ok(p.logs.some((l) => jsonLine(l)?.msg === "registered"), `relay ${i} registered itself`);
  }
  const providers = await Promise.all(relays.map((address) => result(url, "provider_get", { address })));
  for (const [i, p] of providers.entries()) {
    t.match(p, { kind: "bandwidth", status: "active", multiaddr: multiaddrs[i], capacity: String(CAPACITY), collateral: String(COLLATERAL), banned: false }, `relay ${i} on chain`);
  }


  // ---- (a) the first epoch every relay is assigned in ----
  const e0 = firstEpochAfter(Math.max(...providers.map((p) => p.registeredAt as number))) + 2;
  const page = await waitFor(`the assignments of epoch ${e0}`, async () => {
    const r = await result(url, "bandwidth_getAssignments", { epoch: e0, limit: 100 });
    return r.known ? r : undefined;
  }, 6 * EPOCH_MS + 20_000);
  t.equal(page.epoch, e0);
  t.same([page.seedEpoch, page.snapshotEpoch], [e0 - 1, e0 - 2], "drawn with the previous epoch's seed over the snapshot frozen two epochs before");
  t.same(page.window, { from: e0 * EPOCH + 2, to: (e0 + 1) * EPOCH }, "attestations are taken from the epoch's second block to its last");
  const assignments = page.assignments as Assignment[];
  const byKey = [...relays].sort((a, b) => compareBytes(fromAddress(a), fromAddress(b)));
  t.same(assignments.map((a) => a.relay), byKey, "every relay, in key order");
  const seed = page.seed as string;
  t.ok(seed, "the lookback seed is known");
  t.not(seed, (await result(url, "storage_getChallenges", { provider: relays[0], epoch: e0 })).seed, "not the epoch's own seed");
  // the candidates: the relays by collateral, the validator by power (both bonded through the snapshot's epoch)
  const power = BigInt((await result(url, "chain_getValidators")).validators[0].power);
  const candidates = [...relays.map((a) => ({ key: fromAddress(a), weight: COLLATERAL })), { key: fromAddress(validator), weight: power }].sort((a, b) => compareBytes(a.key, b.key));
  const snapshot = await result(url, "bandwidth_getSnapshot", { epoch: e0 - 2 });
  t.same(snapshot.candidates, candidates.map((c) => ({ address: toAddress(c.key), weight: c.weight.toString() })), "bandwidth_getSnapshot: the same candidates");
  for (const a of assignments) {
    const i = relays.indexOf(a.relay);
    t.equal(a.multiaddr, multiaddrs[i], "with its registered multiaddr");
    t.equal(a.witnesses.length, RELAYS, "4 witnesses: the validator and the 3 other relays");
    t.equal(new Set(a.witnesses).size, a.witnesses.length, "no witness twice");
    t.notOk(a.witnesses.includes(a.relay), "never itself");
    t.same([...a.witnesses].sort(), [validator, ...relays.filter((r) => r !== a.relay)].sort());
    t.same(a.witnesses, assignWitnesses(fromHex(seed), fromAddress(a.relay), candidates, 5).map(toAddress), "as assignWitnesses recomputes them from the seed");
  }
  // pages of one, and the view of each witness, agree with the whole list
  const paged: Assignment[] = [];
  let cursor: string | null = null;
  do {
    const p = await result(url, "bandwidth_getAssignments", { epoch: e0, limit: 1, ...(cursor ? { cursor } : {}) });
    paged.push(...p.assignments);
    cursor = p.nextCursor;
  } while (cursor !== null && paged.length <= RELAYS);
  t.same(paged, assignments, "paging by one gives the same list");
  for (const w of [validator, ...relays]) {
    const mine = (await result(url, "bandwidth_getAssignments", { epoch: e0, witness: w, limit: 100 })).assignments as Assignment[];
    t.same(mine, assignments.filter((a) => a.witnesses.includes(w)), `witness ${w === validator ? "validator" : relays.indexOf(w)}: exactly the relays it witnesses`);
  }
  t.same((await result(url, "bandwidth_getAssignments", { epoch: e0, limit: 100 })).assignments, assignments, "asked again: the same");

  // ---- (b) the epoch ends: attestations, credit by the median, the bandwidth pool ----
  const ended = async (epoch: number) =>
    waitFor(`the end of epoch ${epoch}`, async () => {
      const r = await result(url, "rewards_getEpoch", { epoch });
      return r?.status === "ended" ? r : undefined;
    }, ((epoch + 1) * EPOCH - (await result(url, "node_status")).head.height) * BLOCK_MS * 3 + 20_000);
  const checkEpoch = async (epoch: number, earning: string[]): Promise<void> => {
    const rewards = await ended(epoch);
    const credited = new Map<string, bigint>();
    for (const relay of earning) {
      const a = await result(url, "bandwidth_getAttestations", { relay, epoch });
      t.equal(a.known, true);
      t.ok(a.attestations.length >= QUORUM, `epoch ${epoch}, relay ${relays.indexOf(relay)}: ${a.attestations.length} attestations (quorum ${QUORUM})`);
      t.ok(a.attestations.every((x: { witness: string }) => a.witnesses.includes(x.witness)), "each by an assigned witness");
      t.equal(new Set(a.attestations.map((x: { witness: string }) => x.witness)).size, a.attestations.length, "one per witness");
      t.ok(a.attestations.every((x: { bytes: string }) => BigInt(x.bytes) === BigInt(PROBE_BYTES)), "each over a whole probe");
      const median = lowerMedian(a.attestations.map((x: { throughput: string }) => BigInt(x.throughput)));
      const expected = median < CAPACITY ? median : CAPACITY;
      t.equal(a.credited, expected.toString(), "credited: the lower median of the attested throughputs");
      credited.set(relay, expected);
    }
    const mints = (rewards.mints as Mint[]).filter((m) => m.pool === "bandwidth");
    t.same(mints.map((m) => m.to).sort(), [...earning].sort(), `epoch ${epoch}: the bandwidth pool is minted to exactly the credited relays`);
    const reps = new Map(mints.map((m) => [m.to, BigInt(m.reputationBps)]));
    let total = 0n;
    for (const r of earning) total += (credited.get(r) ?? 0n) * (reps.get(r) ?? 0n);
    // the relays' part of the bandwidth pool; witnessShareBps of it goes to the witnesses
    const pool = BigInt(rewards.pools.bandwidth) - BigInt(rewards.pools.witness);
    let minted = 0n;
    for (const m of mints) {
      t.equal(m.basis, credited.get(m.to)!.toString(), "basis: the credited throughput");
      t.equal(BigInt(m.amount), (pool * credited.get(m.to)! * reps.get(m.to)!) / total, "pool x credited x reputation / sum, integer division");
      minted += BigInt(m.amount);
    }
    t.ok(minted <= pool && minted > pool - BigInt(mints.length), `minted ${minted} of the pool ${pool}: only the rounding is left`);
  };
  await checkEpoch(e0, relays);
  const rewards0 = await result(url, "rewards_getEpoch", { epoch: e0 });
  t.ok((rewards0.mints as Mint[]).filter((m) => m.pool === "bandwidth").every((m) => m.reputationBps === 10_000), "full reputation for all");
  const attested = witnessProcs.flatMap((p) => p.logs.map(jsonLine)).filter((j) => j?.msg === "attested");
  t.ok(attested.some((j) => j!.epoch === e0 && typeof j!.throughput === "string"), "the witnesses log their attestations");
  // witness pay: a share of the bandwidth pool for each attestation near its relay's median
  const witnessPay = (r: { mints: Mint[] }) => r.mints.filter((m) => m.pool === "witness");
  const pay0 = witnessPay(rewards0);
  t.ok(pay0.length > 0, `epoch ${e0}: ${pay0.length} witnesses paid`);
  t.ok(pay0.every((m) => [validator, ...relays].includes(m.to) && BigInt(m.amount) > 0n && BigInt(m.basis) > 0n), "assigned witnesses, for their paid attestations");
  t.ok(pay0.reduce((a, m) => a + BigInt(m.amount), 0n) <= BigInt(rewards0.pools.witness), "within the witness part of the pool");
  // and the validator's witness plugin reports what its key earned in e0
  const paidValidator = pay0.filter((m) => m.to === validator).reduce((a, m) => a + BigInt(m.amount), 0n);
  const earnedLine = await waitFor(`the validator's witness to report its pay of epoch ${e0}`, async () =>
    witnessProcs[0]!.logs.map(jsonLine).find((j) => j?.msg === "earned" && j.epoch === e0 && j.witness === validator), 2 * EPOCH_MS + 20_000, 50);
  t.equal(earnedLine.amount, paidValidator.toString(), `it logs "earned" with its witness pay of epoch ${e0} (${paidValidator})`);

  // ---- (c) relay 3's operator (relay and witness) and relay 2's witness stop ----
  // once every attestation of the epoch in progress is on chain, so that the next full epoch is the
  // first one without them and the one in progress judges everyone on full information; and once the
  // next epoch's witnesses are known to include all five candidates (its snapshot, frozen at the end
  // of the epoch before): a witness that missed an epoch (a slow start on a loaded machine) is banned
  // from the draw, and a ban of one epoch leaves it out of two snapshots
  const snapshotWithAll = async (epoch: number) => (await result(url, "bandwidth_getSnapshot", { epoch })).candidates.length === RELAYS + 1;
  const allIn = async () => {
    const views = await Promise.all(relays.map((address) => result(url, "bandwidth_getRelay", { address })));
    const cur = views.map((v) => v.current);
    const epoch = cur[0]?.epoch as number | undefined;
    if (epoch === undefined || epoch <= e0 || !cur.every((c) => c && c.epoch === epoch && c.attestations === c.witnesses.length)) return undefined;
    return (await snapshotWithAll(epoch - 1)) ? epoch : undefined;
  };
  const eC = await waitFor("an epoch with every attestation on chain and the validator among the next epoch's candidates", allIn, 8 * EPOCH_MS + 20_000, 50);
  const [down, quiet] = [relays[3]!, relays[2]!];
  const stoppedWitnesses = [witnessProcs[2]!, witnessProcs[1]!];
  const codes = await Promise.all([relayProcs[3]!.stop("SIGTERM"), ...stoppedWitnesses.map((p) => p.stop("SIGTERM"))]);
  t.same(codes, [0, 0, 0], "the relay and the two witnesses exit cleanly on SIGTERM");
  t.ok(relayProcs[3]!.logs.some((l) => jsonLine(l)?.msg === "stopped"), "the relay says so");
  t.ok(stoppedWitnesses.every((p) => p.logs.some((l) => jsonLine(l)?.msg === "witness totals")), "and the witnesses give their totals");
  const head = (await result(url, "node_status")).head.height as number;
  const eF = Math.floor(head / EPOCH) + 1; // the epoch after the one in progress (head + 1 is in epoch floor(head / L))
  t.ok(eF > eC, `stopped in epoch ${eC}; epoch ${eF} is the first without them`);
  t.ok(await snapshotWithAll(eF - 2), `epoch ${eF}'s witnesses are drawn from all five candidates`);
  await checkEpoch(eF, [relays[2]!]);

  // relay 3: a quorum of failure attestations, judged, credited 0, a failed service epoch
  const a3 = await result(url, "bandwidth_getAttestations", { relay: down, epoch: eF });
  t.equal(a3.known, true, "the stopped relay was still assigned witnesses");
  t.same([...a3.attestations.map((x: { witness: string }) => x.witness)].sort(), [validator, relays[0]!, relays[1]!].sort(), "attested by its three live witnesses (not by relay 2's, stopped)");
  t.ok(a3.attestations.every((x: { throughput: string; latency: string; bytes: string }) => x.throughput === "0" && x.latency === "0" && BigInt(x.bytes) === BigInt(PROBE_BYTES)), "each a failure: throughput 0 over the probe size");
  t.same([a3.judged, a3.credited, a3.reason], [true, "0", null], "a quorum: judged, credited 0");
  const rewardsF = await result(url, "rewards_getEpoch", { epoch: eF });
  t.notOk((rewardsF.mints as Mint[]).some((m) => m.to === down && m.pool === "bandwidth"), "no relay pay to the stopped relay");
  const p3 = await result(url, "provider_get", { address: down });
  t.match(p3, { banned: true, strikes: 1, bannedUntil: eF + 2 }, "a failed service epoch: banned for the next epoch");
  t.ok(p3.reputationBps < 10_000, `its reputation fell to ${p3.reputationBps} bps`);
  t.match(await result(url, "bandwidth_getRelay", { address: down }), { banned: true, reputationBps: p3.reputationBps }, "bandwidth_getRelay shows the same");
  const failedLines = witnessProcs.flatMap((p) => p.logs.map(jsonLine)).filter((j) => j?.msg === "attested" && j.relay === down && j.epoch === eF);
  t.ok(failedLines.length >= 3 && failedLines.every((j) => j!.failed === true && j!.throughput === "0"), "the witnesses log them as failures attested");
  t.ok(witnessProcs.flatMap((p) => p.logs.map(jsonLine)).some((j) => j?.msg === "probe failed" && j.relay === down), "after their failed probes");

  // relay 2: relay 3's witness gone, still a quorum (the validator, relays 0 and 1): credited, not banned
  t.match(await result(url, "provider_get", { address: quiet }), { banned: false, strikes: 0, reputationBps: 10_000 }, "relay 2 keeps its standing (checkEpoch: credited and paid)");
  // relays 0 and 1: two of their four witnesses gone: below the quorum, not judged
  for (const r of relays.slice(0, 2)) {
    const a = await result(url, "bandwidth_getAttestations", { relay: r, epoch: eF });
    t.equal(a.attestations.length, 2, `relay ${relays.indexOf(r)}: 2 attestations (the validator and the other relay)`);
    t.same([a.judged, a.credited, a.reason], [false, null, "fewAttestations"], "below the quorum: not judged, no credit");
    t.match(await result(url, "provider_get", { address: r }), { banned: false, strikes: 0, reputationBps: 10_000 }, "not banned, reputation untouched: the silence is its witnesses'");
    t.notOk((rewardsF.mints as Mint[]).some((m) => m.to === r && m.pool === "bandwidth"), "no relay pay");
  }

  // the stopped witnesses miss a service epoch; the live ones are paid
  for (const k of [down, quiet]) {
    const wr = await result(url, "bandwidth_getWitness", { address: k });
    const entry = wr.reputation.find((x: { epoch: number }) => x.epoch === eF);
    t.match(entry, { made: 0, due: 3 }, `witness of relay ${relays.indexOf(k)}: assigned 3 relays in epoch ${eF}, attested none`);
    t.match(wr, { banned: true, lastFailureEpoch: eF }, "banned from the witness draw");
    t.ok(wr.strikes >= 1 && wr.bannedUntil >= eF + 2, `strike ${wr.strikes}: banned until epoch ${wr.bannedUntil}`);
    t.ok(wr.reputationBps < 10_000, `its witness reputation fell to ${wr.reputationBps} bps`);
  }
  for (const k of [validator, relays[0]!, relays[1]!]) {
    const wr = await result(url, "bandwidth_getWitness", { address: k });
    const entry = wr.reputation.find((x: { epoch: number }) => x.epoch === eF);
    const n = k === validator ? RELAYS : RELAYS - 1; // the validator witnesses every relay, a relay the three others
    t.ok(entry && entry.due === n && entry.made === n, `${k === validator ? "the validator" : `relay ${relays.indexOf(k)}`} attested all ${n} relays it was assigned in epoch ${eF} (failures included)`);
    t.equal(wr.banned, false, "and is not banned");
  }
  const payF = witnessPay(rewardsF);
  t.notOk(payF.some((m) => m.to === down || m.to === quiet), "no witness pay to the stopped witnesses");
  t.same(payF.map((m) => m.to).sort(), [validator, relays[0]!, relays[1]!].sort(), "the live witnesses are paid (their failure attestations of relay 3 sit at its median, 0)");
  t.ok(payF.every((m) => BigInt(m.amount) > 0n), "each a positive amount");

  // ---- (d) a witness killed right after attesting, its transactions likely still in the mempool,
  // and started again: it sends what it signed (its journal) instead of probing and signing a second,
  // different attestation, which the node would turn into evidence against its key ----
  const killed = witnessProcs[0]!;
  const attestedBy = (p: ReadyProcess, minEpoch: number) =>
    p.logs.map(jsonLine).filter((j): j is Record<string, unknown> => j?.msg === "attested" && (j.epoch as number) > minEpoch);
  const before = await waitFor(`an attestation after epoch ${eF}`, async () => (attestedBy(killed, eF).length > 0 ? attestedBy(killed, eF) : undefined), 3 * EPOCH_MS + 20_000, 20);
  await killed.stop("SIGKILL");
  const signedBefore = attestedBy(killed, eF); // what it had sent when it died (a few more may have followed the first)
  const restarted = await startProcess(WITNESS, [...witnessArgs, ...witnessKeyArgs(0)], witnessReady, { timeoutMs: START_MS });
  procs.push(restarted);
  witnessProcs[0] = restarted;
  t.ok(before.length > 0 && signedBefore.length >= before.length, `killed after sending ${signedBefore.length} attestation(s) of epoch ${signedBefore[0]!.epoch as number}`);
  // a restart slower than the rest of the epoch (a loaded machine) finds that epoch closed: then the
  // chain holds the attestation it signed or none, never another one
  const restartEpoch = Math.floor(((await result(url, "node_status")).head.height as number) / EPOCH);
  const open = signedBefore.filter((j) => (j.epoch as number) >= restartEpoch);
  const handled = (j: Record<string, unknown>) => (l: Record<string, unknown> | undefined) =>
    l !== undefined && l.relay === j.relay && l.epoch === j.epoch && l.witness === j.witness && (l.msg === "sending the journaled attestation again" || l.msg === "already attested");
  await waitFor("the restarted witness to take up what it signed before", async () =>
    open.every((j) => restarted.logs.map(jsonLine).some(handled(j))) ? true : undefined, 3 * EPOCH_MS + 20_000, 50);
  for (const j of signedBefore.filter((x) => !open.includes(x))) {
    const onChain = (await result(url, "bandwidth_getAttestations", { relay: j.relay, epoch: j.epoch })).attestations.find((x: { witness: string }) => x.witness === j.witness);
    t.ok(onChain === undefined || (onChain.throughput === j.throughput && onChain.latency === j.latency && onChain.bytes === j.bytes), `epoch ${j.epoch as number} closed before the restart: on chain ${onChain ? "the very attestation it signed" : "none"}`);
  }
  t.comment(`${open.length} of ${signedBefore.length} signed attestation(s) still in an open epoch at the restart`);
  for (const j of signedBefore) {
    const again = attestedBy(restarted, eF).filter((l) => l.relay === j.relay && l.epoch === j.epoch && l.witness === j.witness);
    t.ok(again.every((l) => l.throughput === j.throughput && l.latency === j.latency && l.bytes === j.bytes), `relay ${relays.indexOf(j.relay as string)}, epoch ${j.epoch as number}: never a second, different attestation`);
  }

  // no evidence against any witness: the restart above did not double-sign
  const metricsText = await (await fetch(new URL("/metrics", url))).text();
  t.match(metricsText, /^cloudcoin_evidence_total 0$/m, "no evidence in any finalized block");
  t.same(await result(url, "chain_getEvidence"), { height: null, evidence: [] }, "and none pending");

  // the other witnesses stop cleanly too
  t.equal(await witnessProcs[0]!.stop("SIGTERM"), 0, "a witness exits cleanly on SIGTERM");
});
