/**
 * e2e (issue #20, state sync): a devnet of real node processes on 127.0.0.1 (two validators) runs
 * blocks with transfers; a full node started late with --state-sync on a fresh home installs a
 * snapshot from them instead of replaying from genesis, reports a base above 1, then follows the
 * chain: every later block (hash, hence state root) equals the validators', and an account's state
 * agrees; restarted, it keeps following; stopped, `cloudcoin verify-store` passes from its base.
 * Checked through JSON-RPC, the CLI and the node's log lines only.
 */
import t from "tap";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toHex } from "../../primitives/bytes.ts";
import { toAddress, type KeyPair } from "../../primitives/keys.ts";
import { signTx } from "../../chain/tx.ts";
import { readKeyFile } from "../../node/keyring.ts";
import { headHeight, initNetwork, waitForHeight } from "../helpers/network.ts";
import { rpc, runCli, startNode, waitFor } from "../helpers/process.ts";

t.setTimeout(120_000);
const dir = mkdtempSync(join(tmpdir(), "cloudcoin-statesync-"));
// short epochs: epochs end (rewards, seeds, the lookback snapshot) both before and after the snapshot
const net = await initNetwork(join(dir, "net"), 2, 1, { blockIntervalMs: 300, epochLength: 4 });
t.teardown(async () => {
  await net.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends `amount` from the faucet to `to` through node `i`; resolves once node `i` has it in a block. */
async function transfer(i: number, faucet: KeyPair, to: Uint8Array, amount: bigint): Promise<void> {
  const status = (await rpc(net.url(i), "node_status")).result;
  const account = (await rpc(net.url(i), "state_getAccount", { address: toAddress(faucet.publicKey) })).result;
  const tx = signTx({ chainId: status.chainId, nonce: BigInt(account.nonce), fee: 1000n, op: { type: "transfer", to, amount } }, faucet);
  const sent = await rpc(net.url(i), "tx_send", { tx: toHex(tx.bytes) });
  if (sent.error) throw new Error(`tx_send: ${JSON.stringify(sent.error)}`);
  await waitFor("the transfer in a block", async () => ((await rpc(net.url(i), "tx_get", { hash: toHex(tx.hash) })).result?.status === "finalized" ? true : undefined), 20_000);
}

t.test("a late node joins by snapshot and agrees on every later block", async (t) => {
  const faucet = await readKeyFile(net.faucetKeyPath);
  await Promise.all([net.start(0), net.start(1)]);
  const to = [new Uint8Array(32).fill(0x31), new Uint8Array(32).fill(0x32), new Uint8Array(32).fill(0x33)];
  await transfer(0, faucet, to[0]!, 1_000n);
  await transfer(1, faucet, to[1]!, 2_000n);
  // past a snapshot height (a multiple of 10) so that the validators offer one above 1
  await waitForHeight(net.url(0), 12, 40_000);

  const late = net.members[2]!;
  // a checkpoint half-way (block 5's hash, as an operator would take it from a source it trusts)
  const cpHash = (await rpc(net.url(0), "chain_getBlock", { height: 5 })).result.header.hash as string;
  const trust = ["--trust-height", "5", "--trust-hash", cpHash];
  const half = await runCli(["start", "--home", late.home, "--trust-height", "5"]);
  t.not(half.code, 0, "a checkpoint height without its hash is refused");
  t.match(half.stderr, /CONFIG_INVALID.*needs both its height and its block hash/, "naming what is missing");
  const p = await startNode(late.home, ["--p2p-listen", late.listen, "--state-sync", ...trust], 60_000).catch((e: Error) => {
    t.comment(e.message.slice(-4000));
    throw e;
  });
  late.proc = p;
  const installed = p.logs.map((l) => (l.startsWith("{") ? (JSON.parse(l) as Record<string, unknown>) : {})).find((l) => l.msg === "state sync: snapshot installed");
  t.ok(installed, "the late node logged the install");
  t.ok(p.logs.some((l) => l.includes("state sync: the checkpoint's block and set verified")), "the snapshot was traced from the checkpoint");
  const status = (await rpc(p.url, "node_status")).result;
  t.ok(status.base > 1, `base ${status.base} > 1: it did not replay from genesis`);
  t.equal(status.base % 10, 0, "the snapshot height is a multiple of the offer interval");
  const below = await rpc(p.url, "chain_getBlock", { height: 1 });
  t.equal(below.error?.data?.code, "STORE_BLOCK_PRUNED", "a block below the base is pruned, not unknown");

  // the chain moves on, with a transfer after the snapshot; the late node follows
  await transfer(0, faucet, to[2]!, 3_000n);
  await transfer(1, faucet, to[0]!, 4_000n);
  const target = (await headHeight(net.url(0))) + 3;
  await waitForHeight(p.url, target, 40_000);
  let compared = 0;
  for (let h = status.base as number; h <= target; h++) {
    const [a, b] = await Promise.all([rpc(net.url(0), "chain_getBlock", { height: h }), rpc(p.url, "chain_getBlock", { height: h })]);
    if (!a.result || !b.result || a.result.header.hash !== b.result.header.hash || a.result.header.stateRoot !== b.result.header.stateRoot) t.fail(`height ${h}: the late node's block differs`);
    compared++;
  }
  t.ok(compared >= 4, `heights ${status.base}..${target}: ${compared} blocks and state roots equal`);
  // account state at one height, on both
  for (const who of [faucet.publicKey, ...to]) {
    const [a, b] = await Promise.all([
      rpc(net.url(0), "state_getAccount", { address: toAddress(who), height: target }),
      rpc(p.url, "state_getAccount", { address: toAddress(who), height: target }),
    ]);
    t.same(b.result, a.result, `account ${toAddress(who).slice(0, 12)}… at ${target} agrees`);
  }
  t.equal((await rpc(p.url, "state_getAccount", { address: toAddress(to[0]!) })).result.balance !== "0", true, "a funded account is funded on the late node");

  // restarted, the state-synced node opens its store (rolling check from the base) and keeps following
  await net.kill(2);
  const again = await startNode(late.home, ["--p2p-listen", late.listen, "--state-sync", ...trust], 60_000);
  late.proc = again;
  t.ok(again.logs.some((l) => l.includes("state sync skipped")), "a store with blocks skips state sync");
  const h2 = (await headHeight(net.url(0))) + 2;
  await waitForHeight(again.url, h2, 30_000);
  const [a, b] = await Promise.all([rpc(net.url(0), "chain_getBlock", { height: h2 }), rpc(again.url, "chain_getBlock", { height: h2 })]);
  t.equal(b.result.header.hash, a.result.header.hash, `after the restart, block ${h2} agrees`);

  // stopped, its whole store checks from the base (the state cannot be replayed from genesis there)
  await net.kill(2);
  const v = await runCli(["verify-store", "--home", late.home, "--json"]);
  t.equal(v.code, 0, `verify-store passes: ${v.stderr.trim().slice(-300)}`);
  const out = JSON.parse(v.stdout) as { ok: boolean; base?: string; replayed?: boolean };
  t.same([out.ok, out.base, out.replayed], [true, String(status.base), false], "and says it checked from the base without a replay");
});
