/**
 * The operator's alerts about its own validator (node/standing.ts): each change of standing is
 * reported once, at the right level, and nothing is said while the standing holds still.
 */
import t from "tap";
import { defaultChainParams } from "../../../chain/params.ts";
import { newValidatorInfo, type ValidatorInfo } from "../../../modules/staking/records.ts";
import { standingAlert } from "../../../node/standing.ts";

const params = defaultChainParams;
const fresh = newValidatorInfo("v", params.downtimeWindow);
const missed = (n: number): ValidatorInfo => ({ ...fresh, missed: n });

t.test("a newly missed block warns with the count and the jail threshold; an unchanged count says nothing", async (t) => {
  const a = standingAlert(fresh, missed(1), params);
  t.equal(a?.level, "warn");
  t.match(a?.message, /missed signing a block/);
  t.same(a?.fields, { missed: 1, window: params.downtimeWindow, jailedAbove: params.downtimeWindow - params.downtimeMinSigned });
  t.equal(standingAlert(missed(3), missed(4), params)?.fields.missed, 4);
  t.equal(standingAlert(missed(3), missed(3), params), undefined, "no new miss, no line");
  t.equal(standingAlert(missed(3), missed(2), params), undefined, "a miss leaving the window is no news");
  t.equal(standingAlert(fresh, fresh, params), undefined);
});

t.test("jailing is an error naming the unjail height, said once", async (t) => {
  const jailed: ValidatorInfo = { ...missed(51), jailed: true, jailedUntil: 1234n };
  const a = standingAlert(missed(50), jailed, params);
  t.equal(a?.level, "error");
  t.match(a?.message, /JAILED.*cloudcoin tx unjail/);
  t.same(a?.fields, { until: 1234 });
  t.equal(standingAlert(jailed, jailed, params), undefined, "still jailed: not repeated every block");
  t.equal(standingAlert(jailed, { ...jailed, missed: 60 }, params), undefined, "misses while jailed are not warned");
  t.equal(standingAlert(jailed, { ...fresh }, params), undefined, "unjailed with a clean window: nothing to warn");
});

t.test("tombstoning is an error, said once, and outranks the jail it comes with", async (t) => {
  const tomb: ValidatorInfo = { ...fresh, jailed: true, jailedUntil: 99n, tombstoned: true };
  const a = standingAlert(fresh, tomb, params);
  t.equal(a?.level, "error");
  t.match(a?.message, /TOMBSTONED/);
  t.equal(standingAlert(tomb, tomb, params), undefined);
});

t.test("no record (not a candidate, or the node has no key in the set) says nothing", async (t) => {
  t.equal(standingAlert(undefined, undefined, params), undefined);
  t.equal(standingAlert(fresh, undefined, params), undefined);
  t.equal(standingAlert(undefined, missed(1), params)?.level, "warn", "a first record with misses is news");
});
