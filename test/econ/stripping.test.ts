/**
 * Signature stripping (issue #17; commit signatures are paid for, docs/protocol.md section 7): a
 * proposer needs only +2/3 of the power in the commit it carries, so it may leave one validator's
 * precommit out of every commit it proposes. That must cost the stripper more than the victim
 * loses, and must never jail the victim for downtime.
 */
import t from "tap";
import { devnetGenesisFile, devnetParams } from "../../genesis/devnet.ts";
import { validateAndComplete } from "../../genesis/schema.ts";
import { readValidatorInfo } from "../../modules/staking/records.ts";
import { newTestChain, testKey } from "../helpers/chain.ts";
import { econSize, formatReport, play, staked, without, type Report, type Strategy } from "./harness.ts";

const L = 20;
const POWER = 10n ** 15n;

function world(powers: readonly bigint[], stripper: number | null, victim: number, blocks: number, after?: (chain: ReturnType<typeof newTestChain>) => void): Report {
  const keys = powers.map((_, i) => testKey(700 + i));
  const chain = newTestChain({ validators: keys.map((key, i) => ({ key, power: powers[i]! })), params: { epochLength: L } });
  const strategies: Strategy[] = keys.map((key, i) => ({
    name: i === stripper ? "stripper" : i === victim ? "victim" : `honest-${i}`,
    key,
    ...(i === stripper ? { include: (commit, w) => without(commit, w.chain, [keys[victim]!]) } : {}),
  }));
  const problems: string[] = [];
  const report = play((m) => problems.push(m), chain, strategies, { blocks, capital: staked, ...(after ? { after: () => after(chain) } : {}) });
  if (problems.length > 0) throw new Error(problems.slice(0, 5).join("\n"));
  return report;
}

t.test("stripping one validator's precommit from every commit costs the stripper more than the victim", async (t) => {
  const blocks = econSize(5) * L;
  const powers = [POWER, POWER, POWER, POWER];
  const honest = world(powers, null, 1, blocks);
  const stripped = world(powers, 0, 1, blocks);
  // in the honest world the would-be stripper and victim are plain honest validators
  const hStripper = honest.outcomes[0]!;
  const hVictim = honest.outcomes[1]!;
  const sStripper = stripped.byName("stripper");
  const sVictim = stripped.byName("victim");
  t.comment(formatReport(`honest, ${blocks} blocks, 4 equal validators`, honest));
  t.comment(formatReport(`validator 0 strips validator 1's precommit from every commit it carries`, stripped));
  const stripperCost = hStripper.gain - sStripper.gain;
  const victimLoss = hVictim.gain - sVictim.gain;
  t.comment(`stripper's cost ${stripperCost}, victim's loss ${victimLoss}`);
  t.ok(sStripper.returnPpm < hStripper.returnPpm, `the stripper earns less per unit of stake (${sStripper.returnPpm} < ${hStripper.returnPpm} ppm)`);
  t.ok(stripperCost > victimLoss, "stripping costs the stripper more than the victim loses");
  t.ok(victimLoss > 0n, "the victim does lose its share of the stripped blocks");
  // bounded: the victim loses only the blocks the stripper proposed (1/4 of them), its signing share of those
  t.ok(victimLoss * 4n <= hVictim.gain, "the victim loses at most the stripper's share of blocks");
  t.ok(sVictim.returnPpm > sStripper.returnPpm, "the victim still earns more per unit of stake than its stripper");
  for (const i of [2, 3]) t.equal(stripped.outcomes[i]!.gain, honest.outcomes[i]!.gain, `honest validator ${i} is unaffected`);
  t.notOk(stripped.log.some((e) => e.event.kind === "jail"), "nobody is jailed");
});

t.test("the downtime window outlasts the omissions of proposers under a third of the power", async (t) => {
  // the arithmetic, from the devnet defaults: a validator is jailed when it misses more than
  // window - minSigned blocks of its window; proposers with under 1/3 of the power propose at most
  // about a third of any window (weighted round robin: ceil(window / 3) + 1 at the most)
  const p = validateAndComplete(devnetGenesisFile()).params;
  const maxMissed = p.downtimeWindow - p.downtimeMinSigned;
  const third = Math.ceil(p.downtimeWindow / 3) + 1;
  t.comment(`devnet: window ${p.downtimeWindow}, jailed above ${maxMissed} misses; a proposer under 1/3 of the power proposes at most ${third} of them`);
  t.ok(third <= maxMissed, "the devnet window tolerates every omission of a proposer under 1/3 of the power");
  t.ok(p.downtimeWindow >= 4 * L, "the window is longer than a few epochs of the test");
  t.throws(
    () => validateAndComplete({ ...devnetGenesisFile(), params: { ...devnetParams(), downtimeWindow: 90, downtimeMinSigned: 60 } }),
    /must be above a third of downtimeWindow/,
    "genesis refuses a window that one third of the proposers could exhaust",
  );

  // on real blocks: a stripper with 32% of the power strips one victim in every block it proposes
  const powers = [32n * POWER, 23n * POWER, 23n * POWER, 22n * POWER];
  let worst = 0;
  const victim = testKey(701);
  const report = world(powers, 0, 1, econSize(6) * L, (chain) => {
    const info = readValidatorInfo(chain.state, victim.publicKey)!;
    worst = Math.max(worst, info.missed);
  });
  t.comment(`the victim's worst window held ${worst} misses (jailed above ${maxMissed})`);
  t.ok(worst > 0, "the stripping is counted as misses");
  t.ok(worst <= maxMissed, "never enough to jail");
  t.ok(worst * 100 <= 33 * Math.min(econSize(6) * L, p.downtimeWindow) + 100, "about a third of the window at the most");
  t.notOk(report.log.some((e) => e.event.kind === "jail"), "the victim is never jailed");
});
