/**
 * e2e: storage orders with real processes, checked through JSON-RPC. A one-validator chain with
 * 10-block epochs at 250 ms a block and a 4-epoch acceptance window (`cloudcoin init --params`);
 * four provider keys and a client key funded from the faucet; four storage-provider plugins
 * register (early: the placement snapshot is the minimum of two epoch boundaries, and an order
 * posted in epoch d is first placed at the first block of epoch d + 2).
 *
 *   (a) `client.ts order` posts an order of 3 replicas and serves the file: the chain places it on
 *       three providers, each fetches the file from the client, checks its root and accepts; the
 *       three network deals are proven, paid from the escrow and earn the storage pool.
 *   (b) a second order of 3 is sent by the test itself, with nobody serving it yet; once it is
 *       placed, one placed provider is killed, then the client serves it (`--order ID`): the two
 *       live ones accept, the killed one's placement expires (a missed service epoch) and the
 *       replica is drawn onto the fourth provider, which accepts: the order is filled.
 *
 * The plugins' log lines are printed to stderr when the test fails (always with CLOUDCOIN_E2E_LOGS=1).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { toHex } from "../../primitives/bytes.ts";
import { generateKeyPair, toAddress } from "../../primitives/keys.ts";
import { signTx } from "../../chain/tx.ts";
import { readKeyFile, writeKeyFile } from "../../node/keyring.ts";
import { fileRoot } from "../../plugins/storage-provider/client.ts";
import { logEntry, readyUrl, rpc, runCli, runScript, startNode, startProcess, waitFor, type ReadyProcess } from "../helpers/process.ts";

const PROVIDER = fileURLToPath(new URL("../../plugins/storage-provider/provider.ts", import.meta.url));
const CLIENT = fileURLToPath(new URL("../../plugins/storage-provider/client.ts", import.meta.url));
const EPOCH = 10;
const BLOCK_MS = 250;
const EPOCH_MS = EPOCH * BLOCK_MS;
/** epochs a placement may be accepted in: the client of the second order starts (a tsx process) after its placement, within this window */
const WINDOW = 4;
const CLC = 1_000_000_000n;
const FUNDING = 10n * CLC;
const PRICE = 1_000_000n; // per replica-epoch
const DURATION = 20n;
const CHUNK = 4096;
const PROVIDERS = 4;

const dir = mkdtempSync(join(tmpdir(), "cloudcoin-e2e-orders-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const result = async (url: string, method: string, params: unknown = {}) => {
  const r = await rpc(url, method, params);
  if (r.error) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
  return r.result;
};
const epochOf = (height: number): number => (height <= 0 ? 0 : Math.floor((height - 1) / EPOCH));
/** The first of a provider plugin's log entries for `kind` (its `event`) that matches `pred`. */
const lineOf = (logs: string[], kind: string, pred: (d: Record<string, unknown>) => boolean = () => true) =>
  logs.map((l) => logEntry(l, kind)).find((d): d is Record<string, unknown> => d !== undefined && pred(d));

interface Placement { provider: string; status: string; epoch: number; deadline: number; deal: string | null }

t.test("orders are placed by the network, fetched, accepted, proven, paid and minted; a killed provider's replica is drawn again", async (t) => {
  const init = await runCli([
    "init", "--validators", "1", "--out", dir, "--chain-id", "e2e-orders-1", "--json",
    "--params", JSON.stringify({ epochLength: EPOCH, blockIntervalMs: BLOCK_MS, placementWindowEpochs: WINDOW, orderPlacementEpochs: WINDOW + 1 }),
  ]);
  t.equal(init.code, 0, init.stderr);
  const node = await startNode(join(dir, "node0"));
  const procs: ReadyProcess[] = [node];
  t.teardown(async () => {
    const all = Boolean(process.env.CLOUDCOIN_E2E_LOGS);
    if (!t.passing() || all) {
      for (const p of procs.slice(1)) process.stderr.write(`---- ${p.script}\n${(all ? p.logs : p.logs.slice(-60)).join("\n")}\n`);
    }
    await Promise.all(procs.map((p) => p.stop("SIGKILL")));
  });
  const url = node.url;

  // four provider keys and a client key, funded from the faucet in one go
  const names = [...Array.from({ length: PROVIDERS }, (_, i) => `provider${i}`), "client"];
  const keys = names.map(() => generateKeyPair());
  await Promise.all(keys.map((k, i) => writeKeyFile(join(dir, "keys", `${names[i]}.json`), names[i]!, k)));
  const addresses = keys.map((k) => toAddress(k.publicKey));
  const client = addresses[PROVIDERS]!;
  const faucet = await readKeyFile(join(dir, "keys", "faucet.json"));
  const chainId = (await result(url, "node_status")).chainId as string;
  const faucetNonce = BigInt((await result(url, "state_getAccount", { address: toAddress(faucet.publicKey) })).nonce);
  const hashes: string[] = [];
  for (const [i, k] of keys.entries()) {
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

  // four providers register themselves
  const providers = await Promise.all(Array.from({ length: PROVIDERS }, (_, i) => startProcess(PROVIDER, [
    "--rpc", url, "--key", join(dir, "keys", `provider${i}.json`), "--dir", join(dir, `provider${i}-data`), "--collateral", "1", "--capacity", "10000000",
    "--port", "0", "--poll-ms", "250", "--price-per-mib", "1000", "--decline-margin", "2",
  ], readyUrl, { timeoutMs: 60_000 })));
  procs.push(...providers);
  const registered = await Promise.all(addresses.slice(0, PROVIDERS).map((address) => result(url, "provider_get", { address })));
  for (const [i, p] of registered.entries()) {
    t.match(p, { kind: "storage", status: "active", pendingPlacements: 0 }, `provider ${i} registered`);
    t.equal(p.multiaddr, `/ip4/127.0.0.1/tcp/${new URL(providers[i]!.url).port}/http`, "its multiaddr is its HTTP address");
  }
  const byAddress = new Map(addresses.slice(0, PROVIDERS).map((a, i) => [a, providers[i]!]));
  // an order posted in epoch d uses the snapshot frozen at the end of d: the providers must be in two boundaries by then
  const lastRegistration = Math.max(...registered.map((p) => p.registeredAt as number));
  await waitFor("the epoch after the registrations", async () => {
    const h = (await result(url, "node_status")).head.height as number;
    return epochOf(h) > epochOf(lastRegistration) ? true : undefined;
  }, 3 * EPOCH_MS + 10_000);

  // ---- (a) an order of 3: placed, fetched, accepted, proven, paid, minted ----
  const file = join(dir, "data.bin");
  writeFileSync(file, randomBytes(50_000)); // 13 chunks
  const local = await fileRoot(file, CHUNK);
  const made = await runScript(CLIENT, [
    "order", "--rpc", url, "--key", join(dir, "keys", "client.json"), "--file", file, "--chunk-size", String(CHUNK), "--replicas", "3",
    "--price-per-epoch", String(PRICE), "--duration", String(DURATION), "--poll-ms", "250", "--timeout-ms", String(12 * EPOCH_MS),
  ], 12 * EPOCH_MS + 30_000);
  const outLines = made.stdout.trim().split("\n");
  t.equal(made.code, 0, made.stdout + made.stderr);
  const outcome = JSON.parse(outLines[outLines.length - 1]!) as { ok: boolean; order: string; status: string; deals: string[]; accepted: number; root: string; served: number; placements: Placement[] };
  t.match(outcome, { ok: true, status: "filled", accepted: 3, root: toHex(local.root), size: "50000" }, "filled: every replica accepted");
  t.ok(outLines.some((l) => logEntry(l, "ANNOUNCED")), "the client told the placed providers where to fetch (its log, like every plugin's)");
  t.ok(outcome.served >= 3, "and served the file to each");
  const order = await result(url, "storage_getOrder", { id: outcome.order });
  t.match(order, { client, replicas: 3, status: "filled", escrow: "0", accepted: 3, pending: 0 });
  const holders = (order.placements as Placement[]).map((p) => p.provider);
  t.equal(new Set(holders).size, 3, "three distinct providers");
  t.notOk(holders.includes(client), "never the client");
  const orderedAt = (await result(url, "tx_get", { hash: outcome.order })).height as number;
  t.equal(order.firstPlacementEpoch, epochOf(orderedAt) + 2, "first placed two epochs after the order (the lookback)");
  t.ok((order.placements as Placement[]).every((p) => p.epoch === order.firstPlacementEpoch && p.status === "accepted"), "all drawn at once and accepted");
  t.same((await result(url, "storage_listOrders", { client })).orders.map((o: { id: string }) => o.id), [outcome.order], "storage_listOrders by client");
  for (const holder of holders) {
    const logs = byAddress.get(holder)!.logs;
    t.ok(lineOf(logs, "FETCHED", (d) => d.order === outcome.order), `${holder.slice(0, 12)} fetched the data`);
    t.ok(lineOf(logs, "ACCEPT", (d) => d.order === outcome.order), "and accepted");
  }
  // proven, paid and minted: the first challenged epoch ends with a payment from each deal's escrow and storage mints to the three
  const deals = await Promise.all((order.deals as string[]).map((id) => result(url, "storage_getDeal", { id })));
  for (const d of deals) {
    t.match(d, { order: outcome.order, network: true, client, root: toHex(local.root), status: "active", escrow: String(PRICE * DURATION) });
    t.match(d.placement, { provider: d.provider, epoch: order.firstPlacementEpoch, status: "accepted", deal: d.id }, "storage_getDeal shows the placement the deal came from");
  }
  const start = Math.max(...deals.map((d) => d.startEpoch as number));
  const rewards = await waitFor(`the end of epoch ${start}`, async () => {
    const r = await result(url, "rewards_getEpoch", { epoch: start });
    return r?.status === "ended" ? r : undefined;
  }, 4 * EPOCH_MS + 10_000);
  for (const id of order.deals as string[]) {
    const d = await result(url, "storage_getDeal", { id });
    t.equal(d.misses, 0, "no missed epoch");
    t.ok(d.lastProvenEpoch !== null && d.lastProvenEpoch >= start, "proven");
    t.equal(BigInt(d.escrow), PRICE * (DURATION - BigInt(d.challenged)), "paid its price from the escrow for each epoch proven (storagePayment)");
  }
  t.same(rewards.storagePayments, { network: { deals: 3, amount: String(3n * PRICE) }, direct: { deals: 0, amount: "0" } }, "rewards_getEpoch: three network deals paid their price (storagePayment)");
  const storageMints = (rewards.mints as { to: string; pool: string; amount: string; basis: string }[]).filter((m) => m.pool === "storage");
  t.same(storageMints.map((m) => m.to).sort(), [...holders].sort(), "the storage pool minted to the three holders of the network deals");
  t.ok(storageMints.every((m) => BigInt(m.amount) > 0n && m.basis === "50000"), "each by its proven bytes");

  // ---- (b) an order of 3 placed on a provider that is then killed: its replica is drawn again ----
  const file2 = join(dir, "data2.bin");
  writeFileSync(file2, randomBytes(30_000));
  const local2 = await fileRoot(file2, CHUNK);
  const clientKey = keys[PROVIDERS]!;
  const nonce = BigInt((await result(url, "state_getAccount", { address: client })).nonce);
  const orderTx = signTx({
    chainId, nonce, fee: 1000n,
    op: { type: "storage.order", root: local2.root, size: local2.size, chunkSize: BigInt(CHUNK), pricePerEpoch: PRICE, durationEpochs: DURATION, replicas: 3 },
  }, clientKey);
  const order2 = (await result(url, "tx_send", { tx: toHex(orderTx.bytes) })).hash as string;
  const placed = await waitFor("the second order's placements", async () => {
    const o = await result(url, "storage_getOrder", { id: order2 });
    return o && o.placements.length === 3 ? (o.placements as Placement[]) : undefined;
  }, 4 * EPOCH_MS + 10_000);
  t.ok(placed.every((p) => p.status === "pending"), "nobody can accept yet: nobody serves the data");
  const victim = placed[0]!.provider;
  const spare = addresses.slice(0, PROVIDERS).find((a) => !placed.some((p) => p.provider === a))!;
  t.equal((await result(url, "provider_get", { address: victim })).pendingPlacements, 1, "provider_get shows the pending placement");
  t.same((await result(url, "storage_getPlacements", { provider: victim })).placements.map((p: { order: string }) => p.order), [order2], "storage_getPlacements lists it");
  await byAddress.get(victim)!.stop("SIGKILL");
  // the client now serves the order it did not post through the plugin
  const served = await runScript(CLIENT, [
    "order", "--rpc", url, "--key", join(dir, "keys", "client.json"), "--file", file2, "--chunk-size", String(CHUNK), "--order", order2,
    "--poll-ms", "250", "--timeout-ms", String(20 * EPOCH_MS),
  ], 20 * EPOCH_MS + 30_000);
  const servedLines = served.stdout.trim().split("\n");
  t.equal(served.code, 0, served.stdout + served.stderr);
  const outcome2 = JSON.parse(servedLines[servedLines.length - 1]!) as { ok: boolean; status: string; placements: Placement[] };
  t.match(outcome2, { ok: true, status: "filled" }, "filled after the replacement");
  const o2 = await result(url, "storage_getOrder", { id: order2 });
  const byProvider = new Map((o2.placements as Placement[]).map((p) => [p.provider, p]));
  t.equal(o2.placements.length, 4, "four draws: three, then one again");
  t.match(byProvider.get(victim), { status: "expired" }, "the killed provider's placement expired");
  t.match(byProvider.get(spare), { status: "accepted" }, "the replica was drawn onto the fourth provider, which accepted");
  t.ok(byProvider.get(spare)!.epoch > placed[0]!.deadline, "drawn after the expiry");
  t.ok(servedLines.some((l) => logEntry(l, "REPLACED")?.provider === victim), "the client saw the replacement");
  const v = await result(url, "provider_get", { address: victim });
  t.ok(v.reputation.some((r: { made: number; due: number }) => r.made < r.due), "the expiry is a missed service epoch in its reputation");
});
