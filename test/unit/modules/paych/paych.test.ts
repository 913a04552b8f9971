/**
 * Payment channels (chain/paych.ts): the voucher rule as a pure function, the wire forms, and
 * every operation through the real transition (buildBlock, re-applied by a follower that must
 * reach the same root), with the supply invariant counting channel escrow.
 */
import fc from "fast-check";
import t, { type Test } from "tap";
import { toHex } from "../../../../primitives/bytes.ts";
import { encode } from "../../../../primitives/codec.ts";
import type { KeyPair } from "../../../../primitives/keys.ts";
import {
  channelId, checkVoucher, decodeVoucher, encodeVoucher, MAX_SETTLE_DELAY, PaychErrorCode, readChannel, signVoucher, voucherSignBytes,
  type Channel, type Voucher,
} from "../../../../modules/paych/paych.ts";
import { totalHeld } from "../../../../chain/state.ts";
import { checkTxFee, ExecErrorCode, type BuiltBlock, type ChainEvent } from "../../../../chain/transition.ts";
import { decodeTx, TxErrorCode, validateTxBasic, type Operation, type SignedTx } from "../../../../chain/tx.ts";
import { advanceChecked, newTestChain, supplyHolds, testKey, transfer, tx, txNext, type TestChain } from "../../../helpers/chain.ts";
import { OpCode } from "../../../../modules/index.ts";
import { PaychKey } from "../../../../modules/paych/records.ts";

const FEE = 1000n;
const PAYER = testKey(301);
const PAYEE = testKey(302);
const OTHER = testKey(303);
const FUNDS = 1_000_000_000n;
const CHAIN_ID = "cloudcoin-paych-test";

/** Short settle delays (minSettleDelay 1) so the tests need few blocks; the minimum itself has its own test. */
function newChain(params: { minSettleDelay?: number } = {}): TestChain {
  return newTestChain({ balances: [PAYER, PAYEE, OTHER].map((key) => ({ key, amount: FUNDS })), params: { minSettleDelay: 1, ...params } });
}

function step(t: Test, chain: TestChain, txs: SignedTx[]): BuiltBlock {
  const built = advanceChecked((m) => t.fail(m), chain, txs);
  t.equal(built.rejected.length, 0, "no transaction left out of the block");
  if (!supplyHolds(chain.state)) t.fail(`supply invariant broken at height ${chain.state.meta().height}`);
  return built;
}

/** Runs one transaction in its own block; its receipt code ("" when ok). */
function run(t: Test, chain: TestChain, key: KeyPair, op: Operation): { code: string; built: BuiltBlock } {
  const built = step(t, chain, [txNext(chain, key, op)]);
  return { code: built.receipts[0]!.code, built };
}

const balance = (chain: TestChain, key: KeyPair) => chain.state.account(key.publicKey).balance;
const height = (chain: TestChain) => chain.state.meta().height;

function open(t: Test, chain: TestChain, deposit: bigint, settleDelay = 3n): Uint8Array {
  const nonce = chain.state.account(PAYER.publicKey).nonce;
  const { code, built } = run(t, chain, PAYER, { type: "paych.open", payee: PAYEE.publicKey, deposit, settleDelay });
  t.equal(code, "", "paych.open succeeds");
  const ev = built.events.find((e): e is Extract<ChainEvent, { kind: "paychOpen" }> => e.kind === "paychOpen");
  const id = channelId(PAYER.publicKey, nonce);
  t.same(ev && toHex(ev.channel), toHex(id), "the paychOpen event carries the id derived from (payer, tx nonce)");
  return id;
}

const voucher = (chain: TestChain, id: Uint8Array, amount: bigint, nonce: bigint, key: KeyPair = PAYER): Voucher =>
  signVoucher(chain.genesis.chainId, key, { channel: id, amount, nonce });

// ---- the voucher rule, pure ----

const ID = channelId(PAYER.publicKey, 7n);
const CHANNEL: Channel = { id: ID, payer: PAYER.publicKey, payee: PAYEE.publicKey, deposit: 1000n, redeemed: 300n, nonce: 5n, settleDelay: 10n, closingAt: 0n, settled: false };
const sv = (amount: bigint, nonce: bigint, key: KeyPair = PAYER, chainId = CHAIN_ID, channel = ID) => signVoucher(chainId, key, { channel, amount, nonce });

t.test("checkVoucher: a good voucher, and every rejection code", async (t) => {
  t.same(checkVoucher(CHAIN_ID, CHANNEL, sv(500n, 6n)), { payable: 200n, remaining: 500n }, "payable = amount - redeemed, remaining = deposit - amount");
  t.same(checkVoucher(CHAIN_ID, CHANNEL, sv(1000n, 9n)), { payable: 700n, remaining: 0n }, "the whole deposit");
  t.same(checkVoucher(CHAIN_ID, CHANNEL, sv(300n, 6n)), { payable: 0n, remaining: 700n }, "the same amount with a higher nonce pays nothing");
  t.same(checkVoucher(CHAIN_ID, CHANNEL, sv(500n, 8n), { bestNonce: 7n, bestAmount: 450n }), { payable: 50n, remaining: 500n }, "payable over the best held voucher");
  t.same(checkVoucher(CHAIN_ID, { ...CHANNEL, closingAt: 40n }, sv(500n, 6n)), { payable: 200n, remaining: 500n }, "still valid during the settle delay");
  const cases: [string, Channel | undefined, Voucher, Parameters<typeof checkVoucher>[3], string][] = [
    ["no channel", undefined, sv(500n, 6n), {}, PaychErrorCode.UNKNOWN_CHANNEL],
    ["a voucher for another channel", CHANNEL, sv(500n, 6n, PAYER, CHAIN_ID, channelId(PAYER.publicKey, 8n)), {}, PaychErrorCode.UNKNOWN_CHANNEL],
    ["a settled channel", { ...CHANNEL, closingAt: 40n, settled: true }, sv(500n, 6n), {}, PaychErrorCode.CLOSED],
    ["signed by someone else", CHANNEL, sv(500n, 6n, OTHER), {}, PaychErrorCode.BAD_SIGNATURE],
    ["signed by the payee", CHANNEL, sv(500n, 6n, PAYEE), {}, PaychErrorCode.BAD_SIGNATURE],
    ["signed for another chain", CHANNEL, sv(500n, 6n, PAYER, "other-chain"), {}, PaychErrorCode.BAD_SIGNATURE],
    ["amount changed after signing", CHANNEL, { ...sv(500n, 6n), amount: 600n }, {}, PaychErrorCode.BAD_SIGNATURE],
    ["more than the deposit", CHANNEL, sv(1001n, 6n), {}, PaychErrorCode.EXCEEDS_DEPOSIT],
    ["the redeemed nonce again", CHANNEL, sv(500n, 5n), {}, PaychErrorCode.STALE_NONCE],
    ["a nonce below the redeemed one", CHANNEL, sv(500n, 1n), {}, PaychErrorCode.STALE_NONCE],
    ["nonce 0", CHANNEL, sv(500n, 0n), {}, PaychErrorCode.STALE_NONCE],
    ["the best held nonce again", CHANNEL, sv(500n, 7n), { bestNonce: 7n, bestAmount: 400n }, PaychErrorCode.STALE_NONCE],
    ["below the redeemed amount", CHANNEL, sv(299n, 6n), {}, PaychErrorCode.NOT_MONOTONIC],
    ["below the best held amount", CHANNEL, sv(399n, 8n), { bestNonce: 7n, bestAmount: 400n }, PaychErrorCode.NOT_MONOTONIC],
  ];
  for (const [name, channel, v, opts, code] of cases) {
    t.throws(() => checkVoucher(CHAIN_ID, channel, v, opts), { name: "PaychError", code }, name);
  }
});

t.test("vouchers: encoding round trip, strict decoding, sign bytes bound to every field", async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (channel, amount, nonce) => {
      const v = signVoucher(CHAIN_ID, PAYER, { channel, amount, nonce });
      const back = decodeVoucher(encodeVoucher(v));
      return toHex(encodeVoucher(back)) === toHex(encodeVoucher(v)) && back.amount === amount && back.nonce === nonce;
    }),
    { numRuns: 100 },
  );
  const good = encodeVoucher(sv(5n, 1n));
  const bad: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["garbage", new Uint8Array([0xff, 0x00, 0x13])],
    ["trailing byte", new Uint8Array([...good, 0])],
    ["three fields", encode([ID, 5, 1])],
    ["short channel", encode([ID.subarray(1), 5, 1, new Uint8Array(64)])],
    ["short signature", encode([ID, 5, 1, new Uint8Array(63)])],
    ["negative amount", encode([ID, -5, 1, new Uint8Array(64)])],
    ["amount as string", encode([ID, "5", 1, new Uint8Array(64)])],
    ["non-canonical integer", new Uint8Array([0x84, 0x58, 0x20, ...ID, 0x18, 0x05, 0x01, 0x58, 0x40, ...new Uint8Array(64)])],
    ["too large", new Uint8Array(300)],
  ];
  for (const [name, bytes] of bad) t.throws(() => decodeVoucher(bytes), { name: "PaychError", code: PaychErrorCode.MALFORMED }, name);
  t.doesNotThrow(() => decodeVoucher(good), "the good one decodes");
  const base = { channel: ID, amount: 5n, nonce: 1n };
  const bytes = toHex(voucherSignBytes(CHAIN_ID, base));
  for (const [name, v, chainId] of [
    ["channel", { ...base, channel: channelId(PAYER.publicKey, 8n) }, CHAIN_ID],
    ["amount", { ...base, amount: 6n }, CHAIN_ID],
    ["nonce", { ...base, nonce: 2n }, CHAIN_ID],
    ["chain id", base, "other"],
  ] as const) {
    t.not(toHex(voucherSignBytes(chainId, v)), bytes, `the sign bytes cover the ${name}`);
  }
});

// ---- wire forms and stateless validity ----

t.test("channel operations: wire round trip, static validity, malformed forms", async (t) => {
  const chain = newChain();
  const id = channelId(PAYER.publicKey, 0n);
  const ops: Operation[] = [
    { type: "paych.open", payee: PAYEE.publicKey, deposit: 10n, settleDelay: 1n },
    { type: "paych.open", payee: PAYEE.publicKey, deposit: 10n, settleDelay: MAX_SETTLE_DELAY },
    { type: "paych.fund", channel: id, amount: 1n },
    { type: "paych.redeem", voucher: voucher(chain, id, 5n, 1n) },
    { type: "paych.close", channel: id },
    { type: "paych.withdraw", channel: id },
  ];
  for (const op of ops) {
    const signed = tx(chain, PAYER, 0n, op);
    const back = decodeTx(signed.bytes);
    t.same(back.op, op, `${op.type} round-trips`);
    t.doesNotThrow(() => validateTxBasic(back, chain.genesis.chainId), `${op.type} is statically valid`);
  }
  const invalid: [string, Operation][] = [
    ["deposit 0", { type: "paych.open", payee: PAYEE.publicKey, deposit: 0n, settleDelay: 3n }],
    ["settleDelay 0", { type: "paych.open", payee: PAYEE.publicKey, deposit: 10n, settleDelay: 0n }],
    ["settleDelay above the maximum", { type: "paych.open", payee: PAYEE.publicKey, deposit: 10n, settleDelay: MAX_SETTLE_DELAY + 1n }],
    ["fund 0", { type: "paych.fund", channel: id, amount: 0n }],
  ];
  for (const [name, op] of invalid) {
    t.throws(() => validateTxBasic(tx(chain, PAYER, 0n, op), chain.genesis.chainId), { code: TxErrorCode.INVALID_OPERATION }, name);
  }
  const wire = (op: unknown[]) => encode([encode([chain.genesis.chainId, PAYER.publicKey, 0, 1000, op as never]), new Uint8Array(64)]);
  const malformed: [string, unknown[]][] = [
    ["open without settleDelay", [OpCode.PAYCH_OPEN, PAYEE.publicKey, 10]],
    ["open with a short payee", [OpCode.PAYCH_OPEN, PAYEE.publicKey.subarray(1), 10, 3]],
    ["fund with a short channel", [OpCode.PAYCH_FUND, id.subarray(1), 10]],
    ["redeem with a voucher of 3 fields", [OpCode.PAYCH_REDEEM, [id, 5, 1]]],
    ["redeem with the voucher as bytes", [OpCode.PAYCH_REDEEM, encodeVoucher(voucher(chain, id, 5n, 1n))]],
    ["close with an extra argument", [OpCode.PAYCH_CLOSE, id, 1]],
    ["withdraw without a channel", [OpCode.PAYCH_WITHDRAW]],
  ];
  for (const [name, op] of malformed) t.throws(() => decodeTx(wire(op)), { code: TxErrorCode.MALFORMED }, name);
});

// ---- on chain ----

t.test("open, fund, redeem (twice pays once), close, redeem in the delay, withdraw", async (t) => {
  const chain = newChain();
  const payer0 = balance(chain, PAYER);
  const id = open(t, chain, 1000n, 3n);
  t.equal(balance(chain, PAYER), payer0 - 1000n - FEE, "the deposit left the payer's balance");
  t.same(readChannel(chain.state, id), { id, payer: PAYER.publicKey, payee: PAYEE.publicKey, deposit: 1000n, redeemed: 0n, nonce: 0n, settleDelay: 3n, closingAt: 0n, settled: false });
  const m = chain.state.meta();
  t.equal(totalHeld(chain.state), m.genesisSupply + m.minted - m.burned, "the escrow counts in the supply");

  t.equal(run(t, chain, PAYER, { type: "paych.fund", channel: id, amount: 500n }).code, "", "the payer funds");
  t.equal(readChannel(chain.state, id)?.deposit, 1500n, "deposit grows");

  const payee0 = balance(chain, PAYEE);
  const v1 = voucher(chain, id, 400n, 1n);
  const first = run(t, chain, PAYEE, { type: "paych.redeem", voucher: v1 });
  t.equal(first.code, "", "the payee redeems");
  t.ok(first.built.events.some((e) => e.kind === "paychRedeem" && e.amount === 400n), "the event carries the paid amount");
  t.equal(balance(chain, PAYEE), payee0 + 400n - FEE, "paid 400");
  t.equal(run(t, chain, PAYEE, { type: "paych.redeem", voucher: v1 }).code, PaychErrorCode.STALE_NONCE, "the same voucher again fails");
  t.equal(balance(chain, PAYEE), payee0 + 400n - 2n * FEE, "and pays nothing (only its fee is taken)");
  t.equal(run(t, chain, PAYEE, { type: "paych.redeem", voucher: voucher(chain, id, 650n, 3n) }).code, "", "a later voucher");
  t.equal(balance(chain, PAYEE), payee0 + 650n - 3n * FEE, "pays only the difference (250)");
  t.same(readChannel(chain.state, id) && [readChannel(chain.state, id)!.redeemed, readChannel(chain.state, id)!.nonce], [650n, 3n]);

  const closed = run(t, chain, PAYER, { type: "paych.close", channel: id });
  t.equal(closed.code, "", "the payer closes");
  const closingAt = height(chain) + 3n;
  t.equal(readChannel(chain.state, id)?.closingAt, closingAt, "closingAt = close height + settleDelay");
  t.equal(run(t, chain, PAYER, { type: "paych.withdraw", channel: id }).code, PaychErrorCode.SETTLE_DELAY, "withdraw before closingAt fails");
  t.equal(run(t, chain, PAYEE, { type: "paych.redeem", voucher: voucher(chain, id, 900n, 4n) }).code, "", "the payee redeems during the settle delay");
  t.equal(balance(chain, PAYEE), payee0 + 900n - 4n * FEE, "and is paid");
  t.equal(height(chain), closingAt - 1n, "one block before closingAt");
  t.equal(run(t, chain, PAYER, { type: "paych.withdraw", channel: id }).code, "", "withdraw at closingAt");
  const payerBefore = payer0 - 1500n - 5n * FEE;
  t.equal(balance(chain, PAYER), payerBefore + 600n, "the remainder (1500 - 900) is back with the payer");
  t.equal(readChannel(chain.state, id)?.settled, true, "the channel is settled");
  t.equal(run(t, chain, PAYEE, { type: "paych.redeem", voucher: voucher(chain, id, 1000n, 5n) }).code, PaychErrorCode.CLOSED, "a redeem after withdraw fails: closed");
  t.equal(run(t, chain, PAYER, { type: "paych.withdraw", channel: id }).code, PaychErrorCode.CLOSED, "withdraw twice fails");
  t.equal(run(t, chain, PAYER, { type: "paych.fund", channel: id, amount: 1n }).code, PaychErrorCode.CLOSED, "fund after withdraw fails");
  t.equal(run(t, chain, PAYER, { type: "paych.close", channel: id }).code, PaychErrorCode.CLOSED, "close after withdraw fails");
  t.equal(balance(chain, PAYEE), payee0 + 900n - 5n * FEE, "nothing more was paid (only the failed redeem's fee)");
});

t.test("every failure code of the operations on chain, with fee and nonce consumed and nothing else", async (t) => {
  const chain = newChain();
  const id = open(t, chain, 1000n, 2n);
  const unknown = channelId(OTHER.publicKey, 99n);
  const cases: [string, KeyPair, Operation, string][] = [
    ["open beyond the balance", PAYER, { type: "paych.open", payee: PAYEE.publicKey, deposit: FUNDS, settleDelay: 2n }, ExecErrorCode.INSUFFICIENT_BALANCE],
    ["fund beyond the balance", PAYER, { type: "paych.fund", channel: id, amount: FUNDS }, ExecErrorCode.INSUFFICIENT_BALANCE],
    ["fund an unknown channel", PAYER, { type: "paych.fund", channel: unknown, amount: 1n }, PaychErrorCode.UNKNOWN_CHANNEL],
    ["fund by the payee", PAYEE, { type: "paych.fund", channel: id, amount: 1n }, PaychErrorCode.NOT_PAYER],
    ["redeem on an unknown channel", PAYEE, { type: "paych.redeem", voucher: voucher(chain, unknown, 1n, 1n) }, PaychErrorCode.UNKNOWN_CHANNEL],
    ["redeem by someone else", OTHER, { type: "paych.redeem", voucher: voucher(chain, id, 10n, 1n) }, PaychErrorCode.NOT_PAYEE],
    ["redeem by the payer", PAYER, { type: "paych.redeem", voucher: voucher(chain, id, 10n, 1n) }, PaychErrorCode.NOT_PAYEE],
    ["redeem a voucher signed by the payee", PAYEE, { type: "paych.redeem", voucher: voucher(chain, id, 10n, 1n, PAYEE) }, PaychErrorCode.BAD_SIGNATURE],
    ["redeem beyond the deposit", PAYEE, { type: "paych.redeem", voucher: voucher(chain, id, 1001n, 1n) }, PaychErrorCode.EXCEEDS_DEPOSIT],
    ["redeem nonce 0", PAYEE, { type: "paych.redeem", voucher: voucher(chain, id, 10n, 0n) }, PaychErrorCode.STALE_NONCE],
    ["close by the payee", PAYEE, { type: "paych.close", channel: id }, PaychErrorCode.NOT_PAYER],
    ["close an unknown channel", PAYER, { type: "paych.close", channel: unknown }, PaychErrorCode.UNKNOWN_CHANNEL],
    ["withdraw an open channel", PAYER, { type: "paych.withdraw", channel: id }, PaychErrorCode.NOT_CLOSED],
    ["withdraw by the payee", PAYEE, { type: "paych.withdraw", channel: id }, PaychErrorCode.NOT_PAYER],
    ["withdraw an unknown channel", PAYER, { type: "paych.withdraw", channel: unknown }, PaychErrorCode.UNKNOWN_CHANNEL],
  ];
  for (const [name, key, op, code] of cases) {
    const before = { state: chain.state, balance: balance(chain, key), nonce: chain.state.account(key.publicKey).nonce, channel: readChannel(chain.state, id) };
    const { code: got, built } = run(t, chain, key, op);
    t.equal(got, code, name);
    t.equal(balance(chain, key), before.balance - FEE, `${name}: only the fee is taken`);
    t.equal(chain.state.account(key.publicKey).nonce, before.nonce + 1n, `${name}: the nonce is consumed`);
    t.same(readChannel(chain.state, id), before.channel, `${name}: the channel is unchanged`);
    t.notOk(built.events.some((e) => e.kind.startsWith("paych")), `${name}: no channel event`);
  }
  // monotonicity on chain: redeem 500 at nonce 2, then 400 at nonce 3
  t.equal(run(t, chain, PAYEE, { type: "paych.redeem", voucher: voucher(chain, id, 500n, 2n) }).code, "");
  t.equal(run(t, chain, PAYEE, { type: "paych.redeem", voucher: voucher(chain, id, 400n, 3n) }).code, PaychErrorCode.NOT_MONOTONIC, "a lower amount with a higher nonce");
  t.equal(run(t, chain, PAYEE, { type: "paych.redeem", voucher: voucher(chain, id, 600n, 1n) }).code, PaychErrorCode.STALE_NONCE, "a higher amount with an older nonce");
  // closing
  t.equal(run(t, chain, PAYER, { type: "paych.close", channel: id }).code, "");
  t.equal(run(t, chain, PAYER, { type: "paych.close", channel: id }).code, PaychErrorCode.ALREADY_CLOSING, "closing twice");
  t.equal(run(t, chain, PAYER, { type: "paych.fund", channel: id, amount: 1n }).code, PaychErrorCode.ALREADY_CLOSING, "funding a closing channel");
  // two channels between the same parties get different ids; each is its own escrow
  const second = open(t, chain, 10n, 1n);
  t.not(toHex(second), toHex(id), "a second channel has another id");
  t.ok(chain.state.get(PaychKey.channel(second)), "and its own record");
});

t.test("paych.open below minSettleDelay fails with its own code", async (t) => {
  const chain = newChain({ minSettleDelay: 10 });
  const before = balance(chain, PAYER);
  const short = run(t, chain, PAYER, { type: "paych.open", payee: PAYEE.publicKey, deposit: 100n, settleDelay: 9n });
  t.equal(short.code, PaychErrorCode.SETTLE_DELAY_TOO_SHORT, "one block short of the minimum");
  t.equal(balance(chain, PAYER), before - FEE, "only the fee is taken");
  t.notOk(short.built.events.some((e) => e.kind === "paychOpen"), "no channel");
  t.equal(run(t, chain, PAYER, { type: "paych.open", payee: PAYEE.publicKey, deposit: 100n, settleDelay: 10n }).code, "", "exactly the minimum is accepted");
  t.equal(newTestChain().genesis.params.minSettleDelay, newTestChain().genesis.params.epochLength, "the devnet default is one epoch");
});

t.test("a payee with no balance redeems: the fee comes from the payout", async (t) => {
  const POOR = testKey(304);
  const chain = newChain();
  // a channel from PAYER to POOR, who holds nothing
  const nonce = chain.state.account(PAYER.publicKey).nonce;
  t.equal(run(t, chain, PAYER, { type: "paych.open", payee: POOR.publicKey, deposit: 10_000n, settleDelay: 3n }).code, "");
  const id = channelId(PAYER.publicKey, nonce);
  t.equal(balance(chain, POOR), 0n);
  // admission (the node's mempool calls the same rule) and execution
  const redeem = txNext(chain, POOR, { type: "paych.redeem", voucher: voucher(chain, id, 5000n, 1n) });
  t.equal(checkTxFee(chain.state, redeem, chain.genesis.params), FEE, "the whole fee is to come from the payout");
  const built = step(t, chain, [redeem]);
  t.same([built.receipts[0]!.ok, built.receipts[0]!.code], [true, ""]);
  t.equal(balance(chain, POOR), 5000n - FEE, "paid the voucher minus the fee");
  t.equal(chain.state.account(POOR.publicKey).nonce, 1n, "the nonce is consumed");
  t.same(built.events.map((e) => e.kind), ["fee", "paychRedeem"], "the fee event first, as for any transaction");
  t.equal(readChannel(chain.state, id)!.redeemed, 5000n);

  // with no balance left to speak of, a redeem whose payout cannot pay the fee, or that would fail, is invalid: never in a block
  const drain = step(t, chain, [txNext(chain, POOR, { type: "transfer", to: OTHER.publicKey, amount: 5000n - FEE - FEE })]);
  t.equal(drain.receipts[0]!.ok, true);
  t.equal(balance(chain, POOR), 0n);
  const cases: [string, Voucher][] = [
    ["a payout below the fee", voucher(chain, id, 5000n + FEE - 1n, 2n)],
    ["a stale voucher", voucher(chain, id, 6000n, 1n)],
    ["a voucher not signed by the payer", voucher(chain, id, 6000n, 2n, POOR)],
  ];
  for (const [name, v] of cases) {
    const bad = txNext(chain, POOR, { type: "paych.redeem", voucher: v });
    t.throws(() => checkTxFee(chain.state, bad, chain.genesis.params), { code: TxErrorCode.CANNOT_PAY_FEE }, `${name}: refused on admission`);
    const built = advanceChecked((m) => t.fail(m), chain, [bad]);
    t.same([built.block.txs.length, built.rejected[0]?.error.code], [0, TxErrorCode.CANNOT_PAY_FEE], `${name}: the builder leaves it out`);
  }
  // exactly the fee is enough
  const exact = step(t, chain, [txNext(chain, POOR, { type: "paych.redeem", voucher: voucher(chain, id, 5000n + FEE, 2n) })]);
  t.equal(exact.receipts[0]!.ok, true);
  t.equal(balance(chain, POOR), 0n, "the whole payout went to the fee");
  t.ok(supplyHolds(chain.state));
});

t.test("supply invariant over random mixes of channel operations and transfers", async (t) => {
  const keys = [PAYER, PAYEE, OTHER];
  const action = fc.record({
    kind: fc.constantFrom("transfer", "open", "fund", "redeem", "close", "withdraw", "empty"),
    from: fc.nat({ max: 2 }),
    to: fc.nat({ max: 2 }),
    channel: fc.nat({ max: 5 }),
    amount: fc.bigInt({ min: 1n, max: 2_000n }),
    nonce: fc.bigInt({ min: 0n, max: 6n }),
    delay: fc.bigInt({ min: 1n, max: 3n }),
  });
  let checkedEscrow = false;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(action, { minLength: 1, maxLength: 4 }), { minLength: 3, maxLength: 12 }), async (blocks) => {
      const chain = newChain();
      const channels: { id: Uint8Array; payer: KeyPair }[] = [];
      for (const actions of blocks) {
        const txs: SignedTx[] = [];
        const nonces = new Map<KeyPair, bigint>(keys.map((k) => [k, chain.state.account(k.publicKey).nonce]));
        const next = (k: KeyPair) => {
          const n = nonces.get(k)!;
          nonces.set(k, n + 1n);
          return n;
        };
        for (const a of actions) {
          const from = keys[a.from]!;
          const ch = channels.length > 0 ? channels[a.channel % channels.length]! : undefined;
          switch (a.kind) {
            case "transfer":
              txs.push(transfer(chain, from, next(from), keys[a.to]!, a.amount));
              break;
            case "open": {
              const n = next(from);
              channels.push({ id: channelId(from.publicKey, n), payer: from });
              txs.push(tx(chain, from, n, { type: "paych.open", payee: keys[a.to]!.publicKey, deposit: a.amount, settleDelay: a.delay }));
              break;
            }
            case "fund":
            case "close":
            case "withdraw":
              if (ch) txs.push(tx(chain, from, next(from), a.kind === "fund" ? { type: "paych.fund", channel: ch.id, amount: a.amount } : { type: `paych.${a.kind}`, channel: ch.id }));
              break;
            case "redeem":
              if (ch) txs.push(tx(chain, from, next(from), { type: "paych.redeem", voucher: signVoucher(chain.genesis.chainId, ch.payer, { channel: ch.id, amount: a.amount, nonce: a.nonce }) }));
              break;
            case "empty":
              break;
          }
        }
        const built = advanceChecked((m) => {
          throw new Error(m);
        }, chain, txs);
        if (built.rejected.length > 0) throw new Error(`rejected: ${built.rejected[0]!.error.code}`);
        if (!supplyHolds(chain.state)) return false;
        let escrow = 0n;
        for (const c of channels) {
          const rec = readChannel(chain.state, c.id);
          if (rec && !rec.settled) escrow += rec.deposit - rec.redeemed;
        }
        if (escrow > 0n) checkedEscrow = true;
      }
      return true;
    }),
    { numRuns: 40, seed: 20261121 },
  );
  t.ok(checkedEscrow, "some runs held funds in escrow");
});
