/**
 * The bandwidth witness's attestation journal (plugins/bandwidth-witness/journal.ts): durable,
 * refuses what it cannot trust, and keeps a restarted witness from signing twice.
 *
 * The restart test needs an attestation that stays in the mempool while the witness restarts.
 * A real node includes it within a block interval, faster than a witness process restarts (the
 * e2e test in test/e2e/bandwidth.test.ts restarts one against a real node and sees it on chain),
 * so here the witness talks to a small stand-in for the node's JSON-RPC that never includes
 * anything, and probes a real relay (p2p/probe.ts serveProbes) over libp2p on 127.0.0.1.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import t from "tap";
import { fromHex, toHex } from "../../../../primitives/bytes.ts";
import { generateKeyPair, toAddress } from "../../../../primitives/keys.ts";
import { decodeTx } from "../../../../chain/tx.ts";
import { createProbeHost, MIN_PROBE_BYTES, serveProbes } from "../../../../p2p/probe.ts";
import { AttestationJournal, JournalErrorCode } from "../../../../plugins/bandwidth-witness/journal.ts";
import { startWitness } from "../../../../plugins/bandwidth-witness/witness.ts";
import { signAttestation, type Attestation } from "../../../../proofs/bandwidth.ts";

const CHAIN = "cloudcoin-journal-test-1";
const dir = mkdtempSync(join(tmpdir(), "cloudcoin-journal-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const witnessKey = generateKeyPair();
const relayKey = generateKeyPair();
const attest = (epoch: bigint, throughput: bigint, key = witnessKey): Attestation =>
  signAttestation(CHAIN, key, { relay: relayKey.publicKey, epoch, bytes: 65_536n, throughput, latency: 900n });
const same = (a: Attestation | undefined, b: Attestation): boolean => a !== undefined && toHex(a.signature) === toHex(b.signature) && a.throughput === b.throughput;

t.test("journal: what is recorded is read back after a reopen; old epochs are dropped on a write", async (t) => {
  const path = join(dir, "a.json");
  const j = await AttestationJournal.open(path, CHAIN);
  t.equal(j.size, 0, "no file yet: empty");
  const a5 = attest(5n, 1_000n);
  const a6 = attest(6n, 2_000n);
  await j.record(a5, 5n);
  await j.record(a6, 6n);
  await j.close();
  const again = await AttestationJournal.open(path, CHAIN);
  t.ok(same(again.get(toAddress(witnessKey.publicKey), toAddress(relayKey.publicKey), 5n), a5), "epoch 5 read back, byte for byte");
  t.ok(same(again.get(toAddress(witnessKey.publicKey), toAddress(relayKey.publicKey), 6n), a6), "epoch 6 too");
  t.equal(again.get(toAddress(witnessKey.publicKey), toAddress(relayKey.publicKey), 7n), undefined);
  await again.record(attest(8n, 3_000n), 8n);
  await again.close();
  const later = await AttestationJournal.open(path, CHAIN);
  t.teardown(() => later.close());
  t.equal(later.size, 1, "epochs before 7 dropped once epoch 8 is current");
  t.equal(readFileSync(path, "utf8").includes(toHex(a5.signature)), false, "and gone from the file");
});

t.test("journal: concurrent records all land (one write at a time)", async (t) => {
  const path = join(dir, "b.json");
  const j = await AttestationJournal.open(path, CHAIN);
  const keys = Array.from({ length: 8 }, () => generateKeyPair());
  const as = keys.map((k, i) => attest(3n, BigInt(1_000 + i), k));
  await Promise.all(as.map((a) => j.record(a, 3n)));
  await j.close();
  const again = await AttestationJournal.open(path, CHAIN);
  t.teardown(() => again.close());
  t.equal(again.size, 8);
  for (const [i, k] of keys.entries()) t.ok(same(again.get(toAddress(k.publicKey), toAddress(relayKey.publicKey), 3n), as[i]!), `entry ${i}`);
});

t.test("journal: a second, different attestation for a relay and epoch is refused and not written", async (t) => {
  const path = join(dir, "c.json");
  const j = await AttestationJournal.open(path, CHAIN);
  t.teardown(() => j.close());
  const first = attest(4n, 1_000n);
  await j.record(first, 4n);
  const before = readFileSync(path, "utf8");
  await t.rejects(j.record(attest(4n, 1_001n), 4n), { code: JournalErrorCode.CONFLICT });
  t.equal(readFileSync(path, "utf8"), before, "the file is unchanged");
  await j.record(first, 4n); // the same one again is fine
  t.ok(same(j.get(toAddress(witnessKey.publicKey), toAddress(relayKey.publicKey), 4n), first));
});

t.test("journal: a file of another chain, unreadable, or with a forged entry stops the witness", async (t) => {
  const path = join(dir, "d.json");
  const first = await AttestationJournal.open(path, CHAIN);
  await first.record(attest(2n, 5_000n), 2n);
  await first.close();
  await t.rejects(AttestationJournal.open(path, "cloudcoin-other-1"), { code: JournalErrorCode.WRONG_CHAIN });
  t.notOk(existsSync(`${path}.lock`), "a journal refused at open leaves no lock behind");

  const text = readFileSync(path, "utf8");
  const forged = join(dir, "forged.json");
  writeFileSync(forged, text.replace('"throughput":"5000"', '"throughput":"5001"'));
  await t.rejects(AttestationJournal.open(forged, CHAIN), { code: JournalErrorCode.UNREADABLE, message: /does not verify/ });

  for (const [name, body] of [["truncated", text.slice(0, text.length / 2)], ["not JSON", "\u0000\u0001garbage"], ["other version", text.replace('"version":1', '"version":2')], ["bad amount", text.replace('"bytes":"65536"', '"bytes":"-1"')]] as const) {
    const p = join(dir, `bad-${name.replace(/ /g, "-")}.json`);
    writeFileSync(p, body);
    await t.rejects(AttestationJournal.open(p, CHAIN), { code: JournalErrorCode.UNREADABLE }, name);
  }
});

t.test("journal: a write that fails leaves the old file and keeps nothing", async (t) => {
  const path = join(dir, "e.json");
  const j = await AttestationJournal.open(path, CHAIN);
  t.teardown(() => j.close());
  const kept = attest(1n, 1n);
  await j.record(kept, 1n);
  const before = readFileSync(path, "utf8");
  mkdirSync(`${path}.tmp`); // the next write's temporary file cannot be created
  await t.rejects(j.record(attest(1n, 2n, generateKeyPair()), 1n));
  t.equal(j.size, 1, "not kept: the caller must not send it");
  t.equal(readFileSync(path, "utf8"), before, "the file is the previous one");
});

t.test("journal: one process at a time; a lock whose process is gone is taken over", async (t) => {
  const path = join(dir, "f.json");
  const lockPath = `${path}.lock`;
  const j = await AttestationJournal.open(path, CHAIN);
  t.equal(readFileSync(lockPath, "utf8").trim(), String(process.pid), "the lock names this process");
  await t.rejects(AttestationJournal.open(path, CHAIN), { code: JournalErrorCode.LOCKED, message: /this process/ }, "opened twice in one process");
  await j.close();
  t.notOk(existsSync(lockPath), "closing releases the lock");
  await t.rejects(j.record(attest(1n, 1n), 1n), { code: JournalErrorCode.CLOSED }, "a closed journal records nothing");

  // a running process (this test's parent) holds it
  writeFileSync(lockPath, `${process.ppid}\n`);
  await t.rejects(AttestationJournal.open(path, CHAIN), { code: JournalErrorCode.LOCKED, data: { holder: process.ppid } });
  t.equal(readFileSync(lockPath, "utf8").trim(), String(process.ppid), "its lock is left alone");

  // a process that has exited held it: taken over
  const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  writeFileSync(lockPath, `${gone.stdout}\n`);
  const taken = await AttestationJournal.open(path, CHAIN);
  t.equal(readFileSync(lockPath, "utf8").trim(), String(process.pid), "a stale lock is taken over");
  await taken.close();
  t.same(readdirSync(dir).filter((f) => f.startsWith("f.json")), [], "no lock or temporary file left");

  // a lock file without a pid (cut short by a power loss) names no running process: taken over
  writeFileSync(lockPath, "not a pid");
  const again = await AttestationJournal.open(path, CHAIN);
  t.equal(readFileSync(lockPath, "utf8").trim(), String(process.pid), "a lock without a pid is taken over");
  await again.close();

  // a journal whose lock cannot be written is refused at start, not at the first attestation
  await t.rejects(AttestationJournal.open(join(dir, "missing-dir", "g.json"), CHAIN), { code: JournalErrorCode.UNREADABLE, message: /lock file/ });
});

t.test("a witness restarted while its attestation waits in the mempool sends the same one and does not probe again", async (t) => {
  // the relay: a real probe server on 127.0.0.1
  const relayHost = await createProbeHost({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const probes = await serveProbes(relayHost, CHAIN, relayKey.publicKey);
  t.teardown(async () => {
    await probes.stop();
    await relayHost.stop();
  });

  // the node's JSON-RPC as a witness uses it; nothing is ever included, so every submission stays pending
  const submitted: Attestation[] = [];
  const answer = (method: string, params: Record<string, unknown>): unknown => {
    switch (method) {
      case "node_status":
        return { chainId: CHAIN };
      case "chain_getParams":
        return { chainId: CHAIN, params: { blockIntervalMs: 1000 } };
      case "bandwidth_getAssignments":
        return {
          epoch: 5, known: true, headHeight: 41, window: { from: 42, to: 48 }, minProbeBytes: MIN_PROBE_BYTES, nextCursor: null,
          assignments: [{ relay: toAddress(relayKey.publicKey), multiaddr: relayHost.listenAddresses()[0], witnesses: [toAddress(witnessKey.publicKey)] }],
        };
      case "bandwidth_getAttestations":
        return { known: true, attestations: [], witnesses: [toAddress(witnessKey.publicKey)] };
      case "state_getAccount":
        return { address: params.address, nonce: "0", balance: "1000000000" };
      case "proof_submitBandwidth": {
        const tx = decodeTx(fromHex(params.tx as string));
        if (tx.op.type !== "bandwidth.attest") throw new Error("not an attestation");
        submitted.push(tx.op.attestation);
        return { hash: toHex(tx.hash) };
      }
      case "tx_get":
        return { status: "pending" };
      default:
        throw new Error(`unexpected ${method}`);
    }
  };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      const r = JSON.parse(body) as { id: number; method: string; params: Record<string, unknown> };
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ jsonrpc: "2.0", id: r.id, result: answer(r.method, r.params) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const rpcUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  const journalPath = join(dir, "witness.json");
  const run = async (journal: boolean, submissions: number): Promise<void> => {
    const w = await startWitness({ rpcUrl, keys: [witnessKey], log: pino({ level: "silent" }), pollMs: 50, probeBytes: MIN_PROBE_BYTES, ...(journal ? { journalPath } : {}) });
    try {
      const deadline = Date.now() + 20_000;
      while (submitted.length < submissions && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await w.close();
    }
    t.equal(submitted.length, submissions, `submission ${submissions} arrived`);
  };

  await run(true, 1);
  t.equal(probes.stats().served, 1, "the first run probed the relay once");
  const first = submitted[0]!;

  await run(true, 2); // a restart with the same journal, the first transaction still pending
  t.equal(probes.stats().served, 1, "the restarted witness did not probe again");
  t.equal(toHex(submitted[1]!.signature), toHex(first.signature), "it sent the very attestation it had signed");
  t.equal(submitted[1]!.throughput, first.throughput);

  // without a journal (memory only) the same restart probes and signs anew: what the journal prevents
  await run(false, 3);
  t.equal(probes.stats().served, 2, "a witness without its journal probes again");

  // two witness processes on one journal could sign twice: the second is refused at start
  const running = await startWitness({ rpcUrl, keys: [witnessKey], log: pino({ level: "silent" }), pollMs: 50, journalPath });
  await t.rejects(startWitness({ rpcUrl, keys: [witnessKey], log: pino({ level: "silent" }), pollMs: 50, journalPath }), { code: JournalErrorCode.LOCKED });
  await running.close();
  t.notOk(existsSync(`${journalPath}.lock`), "a closed witness releases its journal");
});
