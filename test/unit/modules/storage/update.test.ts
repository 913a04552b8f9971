/**
 * provider.update [15, multiaddr]: a registered provider (active or exiting) announces a new
 * address; any other sender fails with PROVIDER_NOT_REGISTERED; a bad multiaddr never enters a block.
 */
import { epochOfHeight, lastHeightOfEpoch } from "../../../../chain/epoch.ts";
import { EXIT_UNBONDING_EPOCHS, ProviderStatus } from "../../../../modules/storage/storage.ts";
import t, { type Test } from "tap";
import { encode, u64 } from "../../../../primitives/codec.ts";
import { decodeTx, TxErrorCode, validateTxBasic } from "../../../../chain/tx.ts";
import { eventJson, txJson } from "../../../../rpc/json.ts";
import { OpCode } from "../../../../modules/index.ts";
import { ProviderKind, readProvider, StorageErrorCode } from "../../../../modules/storage/storage.ts";
import { advanceChecked, newTestChain, supplyHolds, testKey, txNext, type TestChain } from "../../../helpers/chain.ts";

const RELAY = testKey(501);
const STRANGER = testKey(502);
const FUNDS = 1_000_000_000_000n;

function chainWithRelay(t: Test): TestChain {
  const chain = newTestChain({ balances: [{ key: RELAY, amount: FUNDS }, { key: STRANGER, amount: FUNDS }] });
  const built = advanceChecked((m) => t.fail(m), chain, [
    txNext(chain, RELAY, { type: "provider.register", kind: ProviderKind.BANDWIDTH, collateral: 1_000_000n, capacity: 1_000n, multiaddr: "/ip4/127.0.0.1/tcp/4001" }),
  ]);
  t.equal(built.receipts[0]!.code, "", "the relay registers");
  return chain;
}

t.test("a registered provider's multiaddr changes, with an event, and nothing else does", async (t) => {
  const chain = chainWithRelay(t);
  const before = readProvider(chain.state, RELAY.publicKey)!;
  const update = txNext(chain, RELAY, { type: "provider.update", multiaddr: "/ip4/127.0.0.2/tcp/4002" });
  const built = advanceChecked((m) => t.fail(m), chain, [update]);
  t.same(built.receipts.map((r) => r.code), [""], "the update succeeds");
  const after = readProvider(chain.state, RELAY.publicKey)!;
  t.equal(after.multiaddr, "/ip4/127.0.0.2/tcp/4002", "the new address is registered");
  t.same({ ...after, multiaddr: before.multiaddr }, before, "collateral, capacity, status and reputation are unchanged");
  const ev = built.events.find((e) => e.kind === "providerUpdate");
  t.match(ev && eventJson(ev), { kind: "providerUpdate", multiaddr: "/ip4/127.0.0.2/tcp/4002" }, "the event names the new address");
  t.match(txJson(update).op, { type: "provider.update", multiaddr: "/ip4/127.0.0.2/tcp/4002" }, "the op's JSON");
  t.ok(supplyHolds(chain.state), "the supply invariant holds");
});

t.test("a sender that is not a registered provider fails, and its fee is still taken", async (t) => {
  const chain = chainWithRelay(t);
  const built = advanceChecked((m) => t.fail(m), chain, [txNext(chain, STRANGER, { type: "provider.update", multiaddr: "/dns/x" })]);
  t.same(built.receipts.map((r) => r.code), [StorageErrorCode.PROVIDER_NOT_REGISTERED]);
  t.equal(readProvider(chain.state, STRANGER.publicKey), undefined, "no provider record appears");
  t.equal(chain.state.account(STRANGER.publicKey).balance, FUNDS - 1000n, "the fee is consumed");
  t.notOk(built.events.some((e) => e.kind === "providerUpdate"), "no update event");
});

t.test("an exited provider cannot update (once its unbonding ended)", async (t) => {
  const chain = chainWithRelay(t);
  advanceChecked((m) => t.fail(m), chain, [txNext(chain, RELAY, { type: "provider.exit" })]);
  // the collateral stays locked through the end of epoch exit + EXIT_UNBONDING_EPOCHS - 1
  const release = lastHeightOfEpoch(epochOfHeight(chain.state.meta().height, chain.genesis.params.epochLength) + EXIT_UNBONDING_EPOCHS - 1n, chain.genesis.params.epochLength);
  while (chain.state.meta().height < release) advanceChecked((m) => t.fail(m), chain, []);
  t.equal(readProvider(chain.state, RELAY.publicKey)!.status, ProviderStatus.EXITED);
  const built = advanceChecked((m) => t.fail(m), chain, [txNext(chain, RELAY, { type: "provider.update", multiaddr: "/dns/y" })]);
  t.same(built.receipts.map((r) => r.code), [StorageErrorCode.PROVIDER_NOT_REGISTERED]);
  t.equal(readProvider(chain.state, RELAY.publicKey)!.multiaddr, "/ip4/127.0.0.1/tcp/4001", "the old address stays on the record");
});

t.test("a bad multiaddr is refused before any block, and the wire form is checked", async (t) => {
  const chain = chainWithRelay(t);
  for (const [why, multiaddr] of [["empty", ""], ["a control character", "/dns/a\nb"], ["257 characters", "x".repeat(257)]] as const) {
    const tx = txNext(chain, RELAY, { type: "provider.update", multiaddr });
    t.throws(() => validateTxBasic(tx, chain.genesis.chainId), { code: TxErrorCode.INVALID_OPERATION }, `${why}: TX_INVALID_OPERATION`);
  }
  const good = txNext(chain, RELAY, { type: "provider.update", multiaddr: "/dns/ok" });
  t.same(decodeTx(good.bytes).op, { type: "provider.update", multiaddr: "/dns/ok" }, "the op round-trips through its wire form");
  const wire = (op: unknown[]) => encode([encode([chain.genesis.chainId, RELAY.publicKey, u64(0n), u64(1000n), op as never]), new Uint8Array(64)]);
  t.equal(OpCode.PROVIDER_UPDATE, 15, "its code is 15");
  t.throws(() => decodeTx(wire([OpCode.PROVIDER_UPDATE])), { code: TxErrorCode.MALFORMED }, "without its multiaddr");
  t.throws(() => decodeTx(wire([OpCode.PROVIDER_UPDATE, "/dns/a", 1])), { code: TxErrorCode.MALFORMED }, "with an extra argument");
  t.throws(() => decodeTx(wire([OpCode.PROVIDER_UPDATE, 7])), { code: TxErrorCode.MALFORMED }, "with a number for the multiaddr");
});
