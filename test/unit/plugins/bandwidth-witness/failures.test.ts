/**
 * The bandwidth witness (plugins/bandwidth-witness/witness.ts) attests what it could not measure:
 * real relays over libp2p on 127.0.0.1 (p2p/probe.ts serveProbes), one that serves the right
 * bytes, one whose port is closed, one that serves another key's bytes, one that answers only at
 * an address other than the one it registered (the witness already holds a connection to it
 * there), and the witness reports the witness pay of each epoch that ended.
 *
 * The node is a small stand-in for its JSON-RPC (as in journal.test.ts): what the witness sends is
 * what is checked here; the chain's handling of failure attestations is test/unit/modules/bandwidth
 * and test/e2e/bandwidth.test.ts.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import t, { type Test } from "tap";
import { fromHex, toHex } from "../../../../primitives/bytes.ts";
import { generateKeyPair, toAddress } from "../../../../primitives/keys.ts";
import { decodeTx } from "../../../../chain/tx.ts";
import { createProbeHost, MIN_PROBE_BYTES, serveProbes, type ProbeHost } from "../../../../p2p/probe.ts";
import { failedProbe, startWitness } from "../../../../plugins/bandwidth-witness/witness.ts";
import { verifyAttestationSignature, type Attestation } from "../../../../proofs/bandwidth.ts";

const CHAIN = "cloudcoin-witness-failures-1";
const SIZE = MIN_PROBE_BYTES;
const dir = mkdtempSync(join(tmpdir(), "cloudcoin-witness-failures-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** the JSON lines a pino logger writes, parsed */
function capturingLogger(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

const waitUntil = async (what: string, ok: () => boolean, ms = 20_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** A stand-in for the node's JSON-RPC answering with `answer` (a thrown error: a JSON-RPC error). */
async function standIn(t: Test, answer: (method: string, params: Record<string, unknown>) => unknown): Promise<string> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      const r = JSON.parse(body) as { id: number; method: string; params: Record<string, unknown> };
      res.setHeader("content-type", "application/json");
      try {
        res.end(JSON.stringify({ jsonrpc: "2.0", id: r.id, result: answer(r.method, r.params) }));
      } catch (e) {
        res.end(JSON.stringify({ jsonrpc: "2.0", id: r.id, error: { code: -32000, message: (e as Error).message } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

t.test("failed probes are attested with throughput 0 over the size asked for; the witness reports its pay", async (t) => {
  const witnessKey = generateKeyPair();
  const witness = toAddress(witnessKey.publicKey);
  const keys = { good: generateKeyPair(), closed: generateKeyPair(), wrongBytes: generateKeyPair(), elsewhere: generateKeyPair() };
  const hosts: ProbeHost[] = [];
  const host = async (): Promise<ProbeHost> => {
    const h = await createProbeHost({ listen: ["/ip4/127.0.0.1/tcp/0"] });
    hosts.push(h);
    return h;
  };
  t.teardown(async () => {
    for (const h of hosts) await h.stop().catch(() => undefined);
  });

  // good: serves its own key's bytes at its registered address
  const good = await host();
  await serveProbes(good, CHAIN, keys.good.publicKey);
  // closed: it listened once; its port is closed now
  const gone = await host();
  const closedAddr = gone.listenAddresses()[0]!;
  await gone.stop();
  // wrongBytes: a live relay that serves another key's bytes
  const wrong = await host();
  await serveProbes(wrong, CHAIN, generateKeyPair().publicKey);
  // elsewhere: serves the right bytes, but at another port than the registered one (the closed one)
  const other = await host();
  await serveProbes(other, CHAIN, keys.elsewhere.publicKey);
  const closedPort = closedAddr.split("/")[4]!;
  const elsewhereRegistered = `/ip4/127.0.0.1/tcp/${closedPort}/p2p/${other.peerId}`;

  const registered: Record<keyof typeof keys, string> = {
    good: good.listenAddresses()[0]!,
    closed: closedAddr,
    wrongBytes: wrong.listenAddresses()[0]!,
    elsewhere: elsewhereRegistered,
  };
  const byAddress = new Map(Object.entries(keys).map(([name, k]) => [toAddress(k.publicKey), name as keyof typeof keys]));

  let epoch = 5;
  let assignRelays = false; // the assignments appear once the witness holds a connection to `other`
  const submitted: Attestation[] = [];
  const answer = (method: string, params: Record<string, unknown>): unknown => {
    switch (method) {
      case "node_status":
        return { chainId: CHAIN };
      case "bandwidth_getAssignments":
        return {
          epoch, known: true, headHeight: epoch * 10 + 1, window: { from: epoch * 10 + 2, to: epoch * 10 + 10 }, minProbeBytes: SIZE, nextCursor: null,
          assignments: !assignRelays || epoch !== 5 ? [] : Object.entries(keys).map(([name, k]) => ({ relay: toAddress(k.publicKey), multiaddr: registered[name as keyof typeof keys], witnesses: [witness] })),
        };
      case "bandwidth_getAttestations":
        return { known: true, attestations: [], witnesses: [witness] };
      case "state_getAccount":
        return { address: params.address, nonce: "0", balance: "1000000000" };
      case "proof_submitBandwidth": {
        const tx = decodeTx(fromHex(params.tx as string));
        if (tx.op.type !== "bandwidth.attest") throw new Error("not an attestation");
        submitted.push(tx.op.attestation);
        return { hash: toHex(tx.hash) };
      }
      case "tx_get":
        return { status: "finalized", height: epoch * 10 + 3, receipt: { ok: true, code: null } };
      case "rewards_getEpoch":
        return params.epoch === 5
          ? { epoch: 5, status: "ended", mints: [
              { to: witness, amount: "700", pool: "witness", basis: "2", reputationBps: 10_000 },
              { to: witness, amount: "9000", pool: "bandwidth", basis: "1", reputationBps: 10_000 }, // relay pay, not witness pay
              { to: toAddress(keys.good.publicKey), amount: "300", pool: "witness", basis: "1", reputationBps: 10_000 },
            ] }
          : { epoch: params.epoch, status: "ended", mints: [] };
      default:
        throw new Error(`unexpected ${method}`);
    }
  };
  const rpcUrl = await standIn(t, answer);

  const { log, lines } = capturingLogger();
  const w = await startWitness({
    rpcUrl, keys: [witnessKey], log, pollMs: 50, probeBytes: SIZE, probeTimeoutMs: 3_000, journalPath: join(dir, "journal.json"),
    schedule: { maxProbeAttempts: 2, retryBaseMs: 50, retryMaxMs: 100 },
  });
  t.teardown(() => w.close());
  // the witness reached the `elsewhere` relay before, at its real address (as it would probing
  // another registration with the same peer id): libp2p would reuse that connection
  await w.host.libp2p.dial(other.libp2p.getMultiaddrs()[0]!);
  t.equal(w.host.libp2p.getConnections(other.libp2p.peerId).length, 1, "connected to `elsewhere` at its real address");
  assignRelays = true;

  // the stand-in sees a submission before the witness has its answer and counts it: wait for both
  await waitUntil("four attestations", () => submitted.length >= 4 && w.stats().attested >= 4);
  const got = new Map(submitted.map((a) => [byAddress.get(toAddress(a.relay))!, a]));
  t.same([...got.keys()].sort(), ["closed", "elsewhere", "good", "wrongBytes"], "one attestation for each relay");
  for (const a of submitted) {
    t.ok(verifyAttestationSignature(CHAIN, a), "signed by the witness key");
    t.equal(toAddress(a.witness), witness);
    t.equal(a.epoch, 5n);
    t.equal(a.bytes, BigInt(SIZE), "bytes: the size the probe asked for, failed or not");
  }
  t.ok(got.get("good")!.throughput > 0n && got.get("good")!.latency > 0n, "the relay that answered: its measured throughput");
  for (const name of ["closed", "wrongBytes", "elsewhere"] as const) {
    t.match(got.get(name), { throughput: 0n, latency: 0n }, `${name}: a failure attested as throughput 0`);
  }
  t.same(failedProbe(SIZE), { bytes: BigInt(SIZE), throughput: 0n, latency: 0n });

  const failures = lines.filter((l) => l.msg === "probe failed");
  const reasons = (name: keyof typeof keys) => failures.filter((l) => l.relay === toAddress(keys[name].publicKey)).map((l) => l.reason);
  t.same(reasons("closed"), ["dial", "dial"], "the closed port: two dial failures (--probe-attempts 2), then the failure attested");
  t.same(reasons("wrongBytes"), ["mismatch", "mismatch"], "another key's bytes: mismatch");
  t.same(reasons("elsewhere"), ["dial", "dial"], "the relay answering only elsewhere: the registered address was dialed, not the open connection reused");
  t.same(reasons("good"), [], "the good relay never failed");
  const attestedLines = lines.filter((l) => l.msg === "attested");
  t.same(attestedLines.filter((l) => l.failed === true).length, 3, "logged as failed attestations");
  t.match(w.stats(), { attested: 4, failuresAttested: 3, probeFailures: 6 });

  // the epoch ends: the witness reports what it earned as a witness in it (not its relay pay, not another key's)
  epoch = 6;
  await waitUntil("the pay of epoch 5", () => lines.some((l) => l.msg === "earned" && l.epoch === 5));
  const earned = lines.filter((l) => l.msg === "earned");
  t.match(earned[0], { epoch: 5, witness, amount: "700", paidAttestations: "2", total: "700", known: true }, "its witness pay of epoch 5");
  epoch = 7;
  await waitUntil("the pay of epoch 6", () => lines.some((l) => l.msg === "earned" && l.epoch === 6));
  t.match(lines.filter((l) => l.msg === "earned").at(-1), { epoch: 6, amount: "0", total: "700" }, "nothing in epoch 6");
  t.equal(lines.filter((l) => l.msg === "earned" && l.epoch === 5).length, 1, "each epoch reported once");
  t.equal(w.stats().earned, "700");
});

t.test("a failure is attested before --probe-attempts when the epoch's window closes too soon for another attempt", async (t) => {
  const witnessKey = generateKeyPair();
  const witness = toAddress(witnessKey.publicKey);
  const relayKey = generateKeyPair();
  const gone = await createProbeHost({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const closedAddr = gone.listenAddresses()[0]!;
  await gone.stop();

  const window = { from: 52, to: 60 };
  let headHeight = 51; // the window's start: time for many attempts
  const submitted: Attestation[] = [];
  const rpcUrl = await standIn(t, (method, params) => {
    switch (method) {
      case "node_status":
        return { chainId: CHAIN };
      case "chain_getParams":
        return { chainId: CHAIN, params: { blockIntervalMs: 1000 } };
      case "bandwidth_getAssignments":
        return { epoch: 5, known: true, headHeight, window, minProbeBytes: SIZE, nextCursor: null, assignments: [{ relay: toAddress(relayKey.publicKey), multiaddr: closedAddr, witnesses: [witness] }] };
      case "bandwidth_getAttestations":
        return { known: true, attestations: [], witnesses: [witness] };
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
  });
  const { log, lines } = capturingLogger();
  // five attempts a minute apart: without the closing window, the failure would wait for minutes
  const w = await startWitness({ rpcUrl, keys: [witnessKey], log, pollMs: 50, probeBytes: SIZE, probeTimeoutMs: 3_000, schedule: { maxProbeAttempts: 5, retryBaseMs: 60_000, retryMaxMs: 60_000 } });
  t.teardown(() => w.close());

  await waitUntil("the first failed probe", () => lines.some((l) => l.msg === "probe failed"));
  // 9 blocks of 1 s left: more than a probe timeout (3 s) and 3 blocks: it waits for its next attempt
  const polls = (n: number) => new Promise((r) => setTimeout(r, n * 50)); // pollMs 50
  await polls(10);
  t.same(submitted, [], "with time left in the window, nothing attested after one failure");
  t.equal(w.stats().probeFailures, 1);

  headHeight = 58; // 2 blocks left: another attempt could not finish in time
  await waitUntil("the failure attested", () => submitted.length === 1);
  t.match(submitted[0], { throughput: 0n, latency: 0n, bytes: BigInt(SIZE), epoch: 5n }, "the failure attested at once");
  t.ok(verifyAttestationSignature(CHAIN, submitted[0]!));
  t.equal(w.stats().probeFailures, 1, "after its one failed probe");
  t.ok(lines.some((l) => l.msg === "the epoch's window is closing: attesting the failed probes now" && l.probeFailures === 1), "and says why");
});
