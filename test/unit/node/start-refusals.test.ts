/**
 * CloudcoinNode.start in process on the embedded devnet (one validator, no peers, loopback, an
 * ephemeral RPC port): damage found at start ends in a typed refusal, never in a node that runs on
 * it (issue #21). A truncated signer state: SIGNER_CORRUPT_STATE. A truncated block store log:
 * STORE_ROLLED_BACK; with resync the store is cut back, and the lone validator, with no peer to
 * fetch the lost blocks from, does not sign those heights again (the signer refuses: consensus
 * stops with the reason in driver.failure), so no conflicting block is ever made.
 */
import t from "tap";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { CloudcoinNode, type NodeOptions } from "../../../node/node.ts";
import { StoreErrorCode } from "../../../chain/store.ts";
import { SignerErrorCode } from "../../../node/signer.ts";

t.setTimeout(120_000);
const home = mkdtempSync(join(tmpdir(), "cloudcoin-refusals-"));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
const sink = new Writable({ write: (_c, _e, cb) => cb() });
const opts = (extra: Partial<NodeOptions> = {}): NodeOptions => ({ home, rpcHost: "127.0.0.1", rpcPort: 0, logLevel: "warn", logDestination: sink, p2pListen: ["/ip4/127.0.0.1/tcp/0"], rpcRateLimit: false, ...extra });

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const signerFile = join(home, "data", "signer-state.json");
const chainDir = join(home, "data", "chain");

t.test("a truncated signer state is refused with SIGNER_CORRUPT_STATE; restored, the node finalizes again", async (t) => {
  const node = await CloudcoinNode.start(opts());
  await until("height 3", () => node.store.head.height >= 3n);
  await node.stop();
  const good = readFileSync(signerFile);
  truncateSync(signerFile, Math.floor(good.length / 2));
  await t.rejects(CloudcoinNode.start(opts()), { code: SignerErrorCode.CORRUPT_STATE });
  writeFileSync(signerFile, good);
  const again = await CloudcoinNode.start(opts());
  const h = again.store.head.height;
  await until(`height ${h + 1n}`, () => again.store.head.height > h);
  t.equal(again.driver.failure, null);
  await again.stop();
});

t.test("a truncated block store log is refused with STORE_ROLLED_BACK; with resync the lost heights are not signed again", async (t) => {
  const node = await CloudcoinNode.start(opts());
  const start = node.store.head.height;
  await until(`height ${start + 6n}`, () => node.store.head.height >= start + 6n);
  await node.stop();
  const logs = readdirSync(chainDir).filter((f) => f.endsWith(".log")).map((f) => join(chainDir, f));
  logs.sort((a, b) => statSync(b).size - statSync(a).size);
  truncateSync(logs[0]!, Math.floor(statSync(logs[0]!).size / 2));
  await t.rejects(CloudcoinNode.start(opts()), { code: StoreErrorCode.ROLLED_BACK });
  const r = await CloudcoinNode.start(opts({ resync: true }));
  t.ok(r.store.repaired, "cut back");
  await until("consensus to stop", () => r.driver.failure !== null);
  t.equal((r.driver.failure as { code?: string }).code, SignerErrorCode.REGRESSION, "the signer refuses the heights it already signed");
  await r.stop();
});
