/**
 * Double-signing (issue #17; docs/protocol.md section 3): one double-sign fault is slashed once, however
 * many heights it spans, and tombstones the validator: it never unjails. Unstaking right after
 * the fault does not escape the slash.
 */
import t, { type Test } from "tap";
import type { Evidence } from "../../chain/evidence.ts";
import { signVote, VoteType } from "../../chain/vote.ts";
import { sha256 } from "../../primitives/hash.ts";
import { duplicateVoteEvidence } from "../../modules/staking/evidence.ts";
import { readValidatorInfo } from "../../modules/staking/records.ts";
import { newTestChain, testKey, txNext } from "../helpers/chain.ts";
import { econSize, formatReport, play, wealth, type Strategy, type World } from "./harness.ts";

const POWER = 10n ** 15n;
const PARAMS = { epochLength: 20, unbondingBlocks: 80, evidenceMaxAgeBlocks: 50, jailBlocks: 30, slashDoubleSignBps: 500 };
const KEYS = [0, 1, 2, 3].map((i) => testKey(750 + i));
const D = KEYS[3]!;
const bytes = (s: string) => sha256(new TextEncoder().encode(s));

function run(t: Test, faults: number, unstakeAfter: boolean) {
  const chain = newTestChain({ validators: KEYS.map((key) => ({ key, power: POWER })), params: PARAMS });
  const id = chain.genesis.chainId;
  // D equivocates at heights 2, 4, 6, ...: the evidence reaches the pool of every honest proposer
  const faultHeights = Array.from({ length: faults }, (_, i) => BigInt(2 + 2 * i));
  const evidenceUpTo = (h: bigint): Evidence[] =>
    faultHeights
      .filter((f) => f < h)
      .map((f) =>
        duplicateVoteEvidence(
          signVote(id, D, { type: VoteType.PRECOMMIT, height: f, round: 0, blockHash: bytes(`A${f}`) }),
          signVote(id, D, { type: VoteType.PRECOMMIT, height: f, round: 0, blockHash: bytes(`B${f}`) }),
        ),
      );
  const unjailCodes: string[] = [];
  const strategies: Strategy[] = KEYS.map((key, i) => ({
    name: i === 3 ? "double-signer" : `honest-${i}`,
    key,
    ...(i === 3
      ? {
          txs: (w: World) => {
            const txs = [];
            if (unstakeAfter && w.height === faultHeights.at(-1)! + 1n) txs.push(txNext(w.chain, D, { type: "unstake", amount: POWER }));
            // after the jail time, every block: try to come back
            if (w.height > BigInt(PARAMS.jailBlocks + 12) && w.height % 10n === 0n) txs.push(txNext(w.chain, D, { type: "validator.unjail" }));
            return txs;
          },
        }
      : { evidence: (w: World) => evidenceUpTo(w.height) }),
  }));
  const problems: string[] = [];
  const report = play((m) => problems.push(m), chain, strategies, {
    blocks: econSize(5) * PARAMS.epochLength,
    capital: (s, k) => wealth(s, k),
    after: (built) => {
      for (const r of built.receipts) if (r.code === "TOMBSTONED" || r.code === "STILL_JAILED" || (r.ok && built.block.txs.find((x) => x.hash === r.txHash)?.op.type === "validator.unjail")) unjailCodes.push(r.code || "ok");
    },
  });
  t.same(problems, [], "every block replays and keeps the supply invariant");
  return { report, unjailCodes, chain };
}

t.test(`double-signing at many heights is slashed once and tombstones the validator`, async (t) => {
  const { report, unjailCodes, chain } = run(t, 4, false);
  const once = run(t, 1, false).report;
  t.comment(formatReport("D double-signs at 4 heights", report));
  t.comment(formatReport("D double-signs at 1 height", once));
  const slashes = report.log.filter((e) => e.event.kind === "slash");
  t.equal(slashes.length, 1, "one slash for four heights");
  t.equal(report.byName("double-signer").gain, once.byName("double-signer").gain, "four heights cost what one does");
  const slashed = slashes[0]!.event.kind === "slash" ? slashes[0]!.event.amount : 0n;
  t.equal(slashed, (POWER * 500n) / 10_000n, "slashDoubleSignBps of the stake, once");
  t.ok(unjailCodes.length > 0 && unjailCodes.every((c) => c === "TOMBSTONED"), `every unjail after the jail time is refused (${unjailCodes.length} tries)`);
  t.equal(readValidatorInfo(chain.state, D.publicKey)?.tombstoned, true);
  t.ok(report.byName("double-signer").returnPpm < 0, "the double-signer loses");
  for (const i of [0, 1, 2]) t.ok(report.outcomes[i]!.returnPpm > report.byName("double-signer").returnPpm, `honest ${i} earns more per unit of capital`);
});

t.test("unstaking right after the fault does not escape the slash", async (t) => {
  const { report } = run(t, 2, true);
  t.comment(formatReport("D double-signs at 2 heights, then unstakes everything", report));
  const slashes = report.log.filter((e) => e.event.kind === "slash");
  t.equal(slashes.length, 1, "one slash");
  t.equal(slashes[0]!.event.kind === "slash" ? slashes[0]!.event.amount : 0n, (POWER * 500n) / 10_000n, "the unbonding stake is slashed as if bonded");
});
