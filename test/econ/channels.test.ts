/**
 * Payment channels closed under the payee (issue #17; docs/protocol.md section 8): a payer that closes
 * the channel right after it was served, and withdraws at the first height it may, must not keep
 * what it owes, even when the payee holds no balance to pay a redeem's fee with.
 */
import t from "tap";
import type { BuiltBlock } from "../../chain/transition.ts";
import { equalBytes } from "../../primitives/bytes.ts";
import { channelId, signVoucher } from "../../modules/paych/paych.ts";
import { newTestChain, testKey, txNext } from "../helpers/chain.ts";
import { econSize, formatReport, play, wealth, type Strategy, type World } from "./harness.ts";

const L = 20;
const PAYER = testKey(780);
const PAYEE = testKey(781);
const DEPOSIT = 1_000_000n;
const PRICE = 10_000n; // per block of service

t.test("a payer cannot close and withdraw before a zero-balance payee redeems its best voucher", async (t) => {
  const chain = newTestChain({ params: { epochLength: L, minSettleDelay: L }, balances: [{ key: PAYER, amount: 10n * DEPOSIT }] });
  const params = chain.genesis.params;
  const id = chainIdOf(chain);
  const served = econSize(10); // blocks of service paid by vouchers
  let best: { amount: bigint; nonce: bigint } | null = null;
  let closedAt: bigint | null = null;
  const codes: { height: bigint; who: string; code: string }[] = [];
  const record = (built: BuiltBlock, w: World) => {
    for (const r of built.receipts) {
      const x = built.block.txs.find((y) => y.hash === r.txHash)!;
      codes.push({ height: w.height, who: equalBytes(x.sender, PAYER.publicKey) ? "payer" : "payee", code: r.code });
    }
  };
  const payer: Strategy = {
    name: "closing payer",
    key: PAYER,
    txs: (w) => {
      // the old attack first: a settle delay of one block is refused now
      if (w.height === 1n) return [txNext(w.chain, PAYER, { type: "paych.open", payee: PAYEE.publicKey, deposit: DEPOSIT, settleDelay: 1n })];
      if (w.height === 2n) return [txNext(w.chain, PAYER, { type: "paych.open", payee: PAYEE.publicKey, deposit: DEPOSIT, settleDelay: BigInt(params.minSettleDelay) })];
      // served for `served` blocks: a voucher per block, which the payee keeps off chain
      if (w.height > 2n && w.height <= 2n + BigInt(served)) {
        const n = w.height - 2n;
        best = { amount: n * PRICE, nonce: n };
        return [];
      }
      // then it closes at once, and tries to withdraw every block after
      if (w.height === 3n + BigInt(served)) return [txNext(w.chain, PAYER, { type: "paych.close", channel: id })];
      if (closedAt !== null) return [txNext(w.chain, PAYER, { type: "paych.withdraw", channel: id })];
      return [];
    },
  };
  const payee: Strategy = {
    name: "payee (no balance)",
    key: PAYEE,
    // it watches for paychClose and redeems as late as it dares: the block before the payer may withdraw
    txs: (w) => {
      const close = w.log.find((e) => e.event.kind === "paychClose");
      if (close && closedAt === null && close.event.kind === "paychClose") closedAt = close.event.closingAt;
      if (closedAt !== null && w.height === closedAt - 1n && best) {
        return [txNext(w.chain, PAYEE, { type: "paych.redeem", voucher: signVoucher(w.chain.genesis.chainId, PAYER, { channel: id, ...best }) })];
      }
      return [];
    },
  };
  const problems: string[] = [];
  const blocks = 3 + served + params.minSettleDelay + 2;
  const report = play((m) => problems.push(m), chain, [payer, payee], {
    blocks,
    capital: (_s, k) => (k === PAYER ? DEPOSIT : 0n),
    wealth,
    after: record,
  });
  t.same(problems, [], "every block replays and keeps the supply invariant");
  t.comment(formatReport(`payer closes right after ${served} blocks of service; the payee (no balance) redeems the block before closingAt`, report));
  t.comment(codes.map((c) => `${c.height} ${c.who} ${c.code || "ok"}`).join(", "));
  t.same(codes[0], { height: 1n, who: "payer", code: "PAYCH_SETTLE_DELAY_TOO_SHORT" }, "a one-block settle delay is refused");
  const owed = BigInt(served) * PRICE;
  const fee = params.minTxFee;
  t.equal(report.byName("payee (no balance)").gain, owed - fee, "the payee is paid its best voucher, minus the fee it paid from the payout");
  const withdrawals = codes.filter((c) => c.who === "payer" && (c.code === "" || c.code === "PAYCH_SETTLE_DELAY") && c.height > 3n + BigInt(served));
  const early = withdrawals.filter((c) => c.code === "PAYCH_SETTLE_DELAY");
  // the payer learns of its own close one block late in this harness: it tries from close + 2 on
  t.ok(early.length >= params.minSettleDelay - 2, `${early.length} early withdrawals refused`);
  const redeemAt = codes.find((c) => c.who === "payee")!;
  t.same([redeemAt.code, redeemAt.height], ["", closedAt! - 1n], "the redeem lands the block before the payer may withdraw");
  t.ok(withdrawals.some((c) => c.code === "" && c.height === closedAt), "the payer gets the remainder from closingAt on");
  t.ok(report.byName("closing payer").gain <= -owed, "the payer pays for every unit of service it received");
});

function chainIdOf(chain: ReturnType<typeof newTestChain>): Uint8Array {
  // the payer's second transaction (nonce 1) opens the channel that stays (the first one fails)
  return channelId(PAYER.publicKey, chain.state.account(PAYER.publicKey).nonce + 1n);
}
