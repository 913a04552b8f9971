/**
 * Late precommits (docs/protocol.md section 3): a precommit heard after the decision joins the
 * commit the next block carries, so an honest validator whose votes arrive last is not counted
 * missing. A validator could exploit that only if being late paid: it signs after seeing the
 * others' +2/3, risking nothing on a block that may fail. This plays that validator against
 * honest ones. Its signature counts exactly as an on-time one when the next proposer heard it in
 * time, and not at all when it did not, so being late never earns more than signing on time.
 */
import t from "tap";
import { newTestChain, testKey } from "../helpers/chain.ts";
import { econSize, formatReport, play, staked, without, type Report, type Strategy } from "./harness.ts";

const L = 20;
const POWER = 10n ** 15n;

/**
 * `missedEvery`: the next proposer has not heard the late precommit at every n-th height (0:
 * always heard). `absent`: instead of late, validator 0 does not precommit the blocks whose
 * commit that proposer carries.
 */
function world(late: boolean, missedEvery: number, blocks: number, absent = false): Report {
  const keys = [0, 1, 2, 3].map((i) => testKey(740 + i));
  const chain = newTestChain({ validators: keys.map((key) => ({ key, power: POWER })), params: { epochLength: L } });
  const strategies: Strategy[] = keys.map((key, i) => ({
    name: i === 0 ? (late ? "late" : absent ? "absent" : "on-time") : `honest-${i}`,
    key,
    ...(absent && i === 0 ? { signs: (w) => (w.height + 1n) % BigInt(missedEvery) !== 0n } : {}),
    // an honest proposer carries every precommit it has heard; the late one, at times, not yet
    ...(late && i !== 0 && missedEvery > 0 ? { include: (commit, w) => (w.height % BigInt(missedEvery) === 0n ? without(commit, w.chain, [keys[0]!]) : commit) } : {}),
  }));
  const problems: string[] = [];
  const report = play((m) => problems.push(m), chain, strategies, { blocks, capital: staked });
  if (problems.length > 0) throw new Error(problems.slice(0, 5).join("\n"));
  return report;
}

t.test("signing after the others' +2/3 earns at most what signing on time earns", async (t) => {
  const blocks = econSize(5) * L;
  const honest = world(false, 0, blocks);
  const heard = world(true, 0, blocks);
  const sometimes = world(true, 4, blocks);
  t.comment(formatReport(`honest, ${blocks} blocks, 4 equal validators`, honest));
  t.comment(formatReport("validator 0 precommits late; the next proposer always hears it in time", heard));
  t.comment(formatReport("validator 0 precommits late; at every 4th height the next proposer has not heard it", sometimes));
  const onTime = honest.byName("on-time");
  t.equal(heard.byName("late").gain, onTime.gain, "heard in time, a late precommit earns exactly an on-time one");
  for (const i of [1, 2, 3]) t.equal(heard.outcomes[i]!.gain, honest.outcomes[i]!.gain, `and nobody else's pay changes (validator ${i})`);
  const missed = sometimes.byName("late");
  t.ok(missed.returnPpm < onTime.returnPpm, `not heard in time, it earns less per unit of stake (${missed.returnPpm} < ${onTime.returnPpm} ppm)`);
  // what the others lose is what a validator absent from the same commits costs them (a proposer's
  // bonus grows with the power its commit carries): being late adds no way to hurt them
  const absent = world(false, 4, blocks, true);
  t.comment(formatReport("validator 0 does not precommit the blocks whose commit that proposer carries", absent));
  t.equal(missed.gain, absent.byName("absent").gain, "a precommit not heard in time is worth what no precommit is");
  for (const i of [1, 2, 3]) t.equal(sometimes.outcomes[i]!.gain, absent.outcomes[i]!.gain, `validator ${i} is paid as if validator 0 had been absent`);
});
