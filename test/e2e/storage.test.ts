/**
 * e2e: proof of storage with real processes, checked through JSON-RPC. A one-validator chain
 * with 10-block epochs at 200 ms a block (`cloudcoin init --params`); a provider and a client
 * funded from the faucet with the CLI; the storage-provider plugin registers, accepts a deal the
 * client script makes for a file, and proves it every epoch (escrow payments and minted rewards,
 * visible in rewards_getEpoch and in balances); then the plugin is stopped: missed proofs slash
 * its collateral to the client, the deal fails and the client gets the escrow left back. The
 * balances of both sides, and meta.minted against the per-epoch mints, are checked exactly.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { logEntry, readyUrl, rpc, runCli, runScript, startNode, startProcess, waitFor } from "../helpers/process.ts";

const PROVIDER = fileURLToPath(new URL("../../plugins/storage-provider/provider.ts", import.meta.url));
const CLIENT = fileURLToPath(new URL("../../plugins/storage-provider/client.ts", import.meta.url));
const EPOCH = 10;
const MAX_MISSED = 2;
const MISS_SLASH_BPS = 1000n;
const CLC = 1_000_000_000n;
const FUNDING = 10n * CLC;
const PROVIDER_COLLATERAL = 1n * CLC;
const PRICE = 1_000_000n; // per epoch
const DURATION = 30n;
const DEAL_COLLATERAL = 100_000_000n;
const CHUNK = 4096;

const dir = mkdtempSync(join(tmpdir(), "cloudcoin-e2e-storage-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const result = async (url: string, method: string, params: unknown = {}) => {
  const r = await rpc(url, method, params);
  if (r.error) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
  return r.result;
};
const balance = async (url: string, address: string) => BigInt((await result(url, "state_getAccount", { address })).balance);
/** Fees paid by `address` for the transactions it sent (at most 100: plenty here). */
async function feesPaid(url: string, address: string): Promise<bigint> {
  const page = await result(url, "tx_listByAddress", { address, limit: 100 });
  return page.txs.filter((x: { tx: { sender: string } }) => x.tx.sender === address).reduce((s: bigint, x: { receipt: { fee: string } }) => s + BigInt(x.receipt.fee), 0n);
}

t.test("a provider proves a direct deal every epoch and is paid its price (no storage pool: the client chose it); stopped, it is slashed and the client refunded", async (t) => {
  const init = await runCli(["init", "--validators", "1", "--out", dir, "--params", JSON.stringify({ epochLength: EPOCH, blockIntervalMs: 200, maxMissedProofs: MAX_MISSED, missSlashBps: Number(MISS_SLASH_BPS) }), "--json"]);
  t.equal(init.code, 0, init.stderr);
  const node = await startNode(join(dir, "node0"));
  t.teardown(() => node.stop("SIGKILL"));
  const url = node.url;
  const cli = (args: string[]) => runCli([...args, "--home", dir, "--rpc", url, "--json"]);

  // keys and funds, with the CLI (the faucet key is DIR/keys/faucet.json)
  const [pk, ck] = await Promise.all(["provider", "client"].map((name) => runCli(["keys", "new", name, "--home", dir, "--json"])));
  t.equal(pk!.code, 0, pk!.stderr);
  const provider = JSON.parse(pk!.stdout).address as string;
  const client = JSON.parse(ck!.stdout).address as string;
  for (const who of ["provider", "client"]) {
    const sent = await cli(["tx", "transfer", "--from", "faucet", "--to", who, "--amount", String(FUNDING / CLC)]);
    t.equal(JSON.parse(sent.stdout).receipt.ok, true, sent.stderr);
  }

  // the plugin registers the provider
  const plugin = await startProcess(
    PROVIDER,
    ["--rpc", url, "--key", join(dir, "keys", "provider.json"), "--dir", join(dir, "provider-data"), "--collateral", "1", "--capacity", "10000000", "--port", "0", "--poll-ms", "250", "--price-per-mib", "1000"],
    readyUrl,
  );
  t.teardown(() => plugin.stop("SIGKILL"));
  t.ok(plugin.logs.some((l) => logEntry(l, "REGISTERED")), "the plugin registered the provider");
  const registered = await result(url, "provider_get", { address: provider });
  t.match(registered, { kind: "storage", status: "active", collateral: String(PROVIDER_COLLATERAL), capacity: "10000000", activeDeals: 0, banned: false });
  const shown = await cli(["provider", "show", provider]);
  t.equal(JSON.parse(shown.stdout).address, provider, "cloudcoin provider show");

  // the client makes a deal for a file; its root is the one `cloudcoin storage root` prints
  const file = join(dir, "data.bin");
  writeFileSync(file, randomBytes(50_000)); // 13 chunks, the last one short
  const rootOut = await runCli(["storage", "root", file, "--chunk-size", String(CHUNK), "--json"]);
  const root = JSON.parse(rootOut.stdout);
  t.same([root.size, root.chunkSize, root.chunkCount], ["50000", CHUNK, "13"], "storage root: size, chunk size, chunk count");
  const made = await runScript(CLIENT, [
    "--rpc", url, "--key", join(dir, "keys", "client.json"), "--provider", plugin.url, "--file", file, "--chunk-size", String(CHUNK),
    "--price-per-epoch", String(PRICE), "--duration", String(DURATION), "--collateral", String(DEAL_COLLATERAL),
  ]);
  t.equal(made.code, 0, made.stdout + made.stderr);
  const deal = JSON.parse(made.stdout) as { ok: boolean; dealId: string; root: string; escrow: string; height: number };
  t.equal(deal.root, root.root, "the deal's root is the file's root");
  t.equal(deal.escrow, String(PRICE * DURATION));
  const onChain = await result(url, "storage_getDeal", { id: deal.dealId });
  t.match(onChain, { client, provider, root: root.root, size: "50000", chunkSize: CHUNK, chunkCount: "13", status: "active", escrow: String(PRICE * DURATION) });
  t.same((await result(url, "storage_listDeals", { client })).deals.map((d: { id: string }) => d.id), [deal.dealId], "storage_listDeals by client");
  t.same((await result(url, "storage_listDeals", { provider, activeOnly: true })).deals.map((d: { id: string }) => d.id), [deal.dealId], "and by provider");

  // the plugin proves it every epoch: payments from escrow, the storage pool minted to it
  const start = onChain.startEpoch as number;
  const proven = await waitFor("two proven epochs", async () => {
    const d = await result(url, "storage_getDeal", { id: deal.dealId });
    return d.challenged >= 2 ? d : undefined;
  }, 30_000);
  t.equal(proven.misses, 0, "no epoch missed while the plugin runs");
  const proofLine = plugin.logs.map((l) => logEntry(l, "PROOF")).find((e) => e !== undefined);
  t.ok(proofLine, "the plugin reports its proofs");
  t.equal(proofLine?.plugin, "storage-provider", "in the plugins' one log style");
  const proofTx = await result(url, "tx_get", { hash: proofLine!.hash });
  t.match(proofTx, { status: "finalized", receipt: { ok: true }, tx: { sender: provider, op: { type: "storage.proof", deal: deal.dealId, epoch: start } } });
  t.equal(proofTx.tx.op.chunks.length, 4, "k = 4 challenged chunks");
  const rewards = await result(url, "rewards_getEpoch", { epoch: start });
  t.equal(rewards.status, "ended");
  t.notOk(rewards.mints.some((m: { pool: string }) => m.pool === "storage"), "a direct deal earns nothing of the storage pool (only network-placed deals do)");
  t.same(rewards.storagePayments, { network: { deals: 0, amount: "0" }, direct: { deals: 1, amount: String(PRICE) } }, "rewards_getEpoch: the price paid, as a direct deal");
  t.ok(rewards.mints.some((m: { pool: string }) => m.pool === "validator"), "the validator pool to the validator");
  await waitFor("the plugin's epoch report", async () => (plugin.logs.some((l) => BigInt(logEntry(l, "EPOCH")?.balanceChange ?? 0) > 0n) ? true : undefined), 10_000);

  // stop the plugin: the next epochs are missed, collateral is slashed to the client, the deal fails
  await plugin.stop("SIGTERM");
  const failed = await waitFor("the deal to fail", async () => {
    const d = await result(url, "storage_getDeal", { id: deal.dealId });
    return d.status === "failed" ? d : undefined;
  }, 30_000);
  t.equal(failed.misses, MAX_MISSED);
  t.same([failed.escrow, failed.collateralLeft], ["0", "0"], "escrow refunded and collateral unlocked");
  const provenEpochs = BigInt(failed.challenged - failed.misses);
  t.ok(provenEpochs >= 2n, `${provenEpochs} epochs proven`);
  // each proven epoch is one storage.proof finalized with an ok receipt, counted on /metrics
  const metrics = await (await fetch(new URL("/metrics", url))).text();
  const okProofs = /^cloudcoin_proofs_total\{kind="storage",outcome="ok"\} (\d+)$/m.exec(metrics);
  t.equal(okProofs?.[1], String(provenEpochs), "cloudcoin_proofs_total counts the ok storage proofs");
  const slash = (DEAL_COLLATERAL * MISS_SLASH_BPS) / 10_000n;
  const p = await result(url, "provider_get", { address: provider });
  t.match(p, { collateral: String(PROVIDER_COLLATERAL - slash * BigInt(MAX_MISSED)), locked: "0", used: "0", activeDeals: 0, banned: true });
  t.ok(p.strikes >= 1, "a strike for the failed epochs");

  // exact balances: the client paid the proven epochs and got the slashes; the provider got payments and rewards
  // mints happen only at epoch ends: the supply at height H holds exactly the epochs ended by H
  const supply = await result(url, "chain_getSupply");
  const head = supply.height as number;
  let providerRewards = 0n;
  let minted = 0n;
  const lastEnded = Math.floor(head / EPOCH) - 1;
  for (let e = 0; e <= lastEnded; e++) {
    const r = await result(url, "rewards_getEpoch", { epoch: e });
    t.equal(r.status, "ended", `epoch ${e} ended`);
    minted += BigInt(r.minted);
    for (const m of r.mints) if (m.to === provider && m.pool === "storage") providerRewards += BigInt(m.amount);
  }
  const clientBalance = await balance(url, client);
  t.equal(clientBalance, FUNDING - (await feesPaid(url, client)) - PRICE * provenEpochs + slash * BigInt(MAX_MISSED), "client: funding - fee - paid epochs + slashes");
  const providerBalance = await balance(url, provider);
  t.equal(providerRewards, 0n, "the provider of a direct deal earned no minted reward");
  t.equal(providerBalance, FUNDING - PROVIDER_COLLATERAL - (await feesPaid(url, provider)) + PRICE * provenEpochs, "provider: funding - collateral - fees + payments");

  t.equal(BigInt(supply.minted), minted, "supply: meta.minted = the sum of rewards_getEpoch mints over every ended epoch");
  t.equal(BigInt(supply.total), BigInt(supply.genesisSupply) + minted - BigInt(supply.burned), "total = genesis + minted - burned");
});
