import t from "tap";
import { toAddress } from "../../../primitives/keys.ts";
import { defaultChainParams } from "../../../chain/params.ts";
import { rewardSchedule } from "../../../modules/rewards/rewards.ts";
import { StateKey, totalHeld } from "../../../chain/state.ts";
import { devnetFaucetKey, devnetGenesis, devnetGenesisFile, devnetValidatorKey, insecureDevKey } from "../../../genesis/devnet.ts";
import { GenesisErrorCode, genesisState, parseGenesisJson, validateAndComplete } from "../../../genesis/schema.ts";
import { readCandidates, readValidatorInfo } from "../../../modules/staking/records.ts";

t.test("the devnet genesis validates, completes deterministically and funds its supply", async (t) => {
  const a = devnetGenesis();
  const b = devnetGenesis();
  t.same(a.hash, b.hash, "genesis hash is deterministic");
  t.equal(a.chainId, "cloudcoin-devnet-1");
  t.same(a.params, defaultChainParams, "the devnet runs the default parameters, through the file form and back");
  t.equal(a.validators.length, 1);
  t.same(a.validators[0]!.publicKey, devnetValidatorKey().publicKey);
  t.match(a.validators[0]!.name, /INSECURE/, "the devnet validator is marked insecure");
  const state = genesisState(a);
  t.equal(totalHeld(state), a.supply, "every unit of the genesis supply is held by an account");
  t.equal(state.meta().genesisSupply, a.supply);
  t.equal(state.account(devnetValidatorKey().publicKey).staked, a.validators[0]!.power);
  // the hash commits to the contents
  const changed = validateAndComplete({ ...devnetGenesisFile(), chainId: "cloudcoin-devnet-2" });
  t.not(Buffer.compare(changed.hash, a.hash), 0);
  // every emission and storage parameter is covered by the hash
  const file = devnetGenesisFile();
  const tweaks: Record<string, string | number> = {
    emissionPerEpoch: "7", emissionDecayBps: 2, challengesPerDeal: 5, maxDealEpochs: 9, collateralPerByte: "2", missSlashBps: 7, maxMissedProofs: 9, reputationWindowEpochs: 9,
  };
  for (const [k, v] of Object.entries(tweaks)) {
    t.not(Buffer.compare(validateAndComplete({ ...file, params: { ...file.params, [k]: v } }).hash, a.hash), 0, `the hash covers ${k}`);
  }
  const split = validateAndComplete({ ...file, params: { ...file.params, storageShareBps: 4000, bandwidthShareBps: 4000, validatorShareBps: 2000 } });
  t.not(Buffer.compare(split.hash, a.hash), 0, "the hash covers the split");
  t.same(genesisState(a).get(StateKey.epoch) && rewardSchedule(state, a.params).reward, a.params.emissionPerEpoch, "the genesis state starts the emission schedule");
});

t.test("a bad genesis is refused with every problem named by its path", async (t) => {
  const good = devnetGenesisFile();
  const addr = toAddress(devnetValidatorKey().publicKey);
  const cases: [string, unknown, RegExp][] = [
    ["not an object", 42, /\(root\)/],
    ["missing chain id", { ...good, chainId: undefined }, /chainId/],
    ["bad chain id", { ...good, chainId: "Has Spaces" }, /chainId/],
    ["bad time", { ...good, genesisTime: "yesterday" }, /genesisTime/],
    ["no validators", { ...good, validators: [] }, /validators: at least one validator/],
    ["bad address", { ...good, balances: [{ address: "cc1notanaddress", amount: "1" }] }, /balances\.0\.address/],
    ["amount not decimal", { ...good, balances: [{ address: addr, amount: "1e9" }] }, /balances\.0\.amount/],
    ["amount over u64", { ...good, balances: [{ address: addr, amount: "18446744073709551616" }] }, /balances\.0\.amount: must fit in u64/],
    ["negative amount", { ...good, balances: [{ address: addr, amount: "-1" }] }, /balances\.0\.amount/],
    ["duplicate validator", { ...good, validators: [good.validators[0], good.validators[0]] }, /duplicate validator/],
    ["duplicate balance", { ...good, balances: [{ address: addr, amount: "1" }, { address: addr, amount: "2" }] }, /duplicate balance/],
    ["supply over u64", { ...good, balances: [{ address: addr, amount: "18446744073709551615" }] }, /total supply .* does not fit in u64/],
    ["unknown field", { ...good, extra: true }, /extra|Unrecognized/i],
    ["burn share over 100%", { ...good, params: { ...good.params, feeBurnBps: 10001 } }, /params\.feeBurnBps/],
    ["zero power", { ...good, validators: [{ ...good.validators[0], power: "0" }] }, /validators\.0\.power: must be positive/],
    ["validator below the minimum stake", { ...good, validators: [{ ...good.validators[0], power: "999999999999" }] }, /validators\.0\.power: below params\.minValidatorStake/],
    ["maxValidators 0", { ...good, params: { ...good.params, maxValidators: 0 } }, /params\.maxValidators/],
    ["more validators than maxValidators", { ...good, validators: [good.validators[0], { ...good.validators[0], address: toAddress(devnetFaucetKey().publicKey) }], params: { ...good.params, maxValidators: 1 } }, /validators: 2 validators exceed params\.maxValidators 1/],
    ["evidence outliving the unbonding period", { ...good, params: { ...good.params, evidenceMaxAgeBlocks: 601 } }, /params\.evidenceMaxAgeBlocks: 601 exceeds unbondingBlocks 600/],
    ["an unbonding shorter than the 4 epochs of double-attestation evidence", { ...good, params: { ...good.params, unbondingBlocks: 399, evidenceMaxAgeBlocks: 300 } }, /params\.unbondingBlocks: 399 is shorter than the 4 epochs \(400 blocks\)/],
    ["longer epochs outgrowing the unbonding", { ...good, params: { ...good.params, epochLength: 151 } }, /params\.unbondingBlocks: 600 is shorter than the 4 epochs \(604 blocks\)/],
    ["downtimeMinSigned over the window", { ...good, params: { ...good.params, downtimeMinSigned: 101 } }, /params\.downtimeMinSigned: 101 exceeds downtimeWindow 100/],
    ["a downtime window one third of the proposers could exhaust", { ...good, params: { ...good.params, downtimeMinSigned: 67 } }, /params\.downtimeMinSigned: 67 leaves 33 misses of 100, must be above a third of downtimeWindow/],
    ["proposer shares over 100%", { ...good, params: { ...good.params, proposerBaseBps: 5001, proposerBonusBps: 5000 } }, /proposerBaseBps \+ proposerBonusBps is 10001, must be at most 10000/],
    ["a proposer bonus a stripper would not miss (Cosmos' 1% + 4%)", { ...good, params: { ...good.params, proposerBaseBps: 100, proposerBonusBps: 400 } }, /params\.proposerBonusBps: 400 must be above the signers' share 9500/],
    ["settle delay 0", { ...good, params: { ...good.params, minSettleDelay: 0 } }, /params\.minSettleDelay/],
    ["missing proposer bonus", { ...good, params: { ...good.params, proposerBonusBps: undefined } }, /params\.proposerBonusBps/],
    ["slash over 100%", { ...good, params: { ...good.params, slashDoubleSignBps: 10001 } }, /params\.slashDoubleSignBps/],
    ["zero unbonding period", { ...good, params: { ...good.params, unbondingBlocks: 0 } }, /params\.unbondingBlocks/],
    ["zero jail time", { ...good, params: { ...good.params, jailBlocks: 0 } }, /params\.jailBlocks/],
    ["zero downtime window", { ...good, params: { ...good.params, downtimeWindow: 0 } }, /params\.downtimeWindow/],
    ["zero minimum stake", { ...good, params: { ...good.params, minValidatorStake: "0" } }, /params\.minValidatorStake: must be positive/],
    ["missing staking param", { ...good, params: { ...good.params, downtimeJailBlocks: undefined } }, /params\.downtimeJailBlocks/],
    ["control character in a validator name", { ...good, validators: [{ ...good.validators[0], name: "a\u0007b" }] }, /validators\.0\.name/],
    ["supply over 2^62", { ...good, balances: [{ address: addr, amount: "4611686018427387904" }] }, /exceeds 4611686018427387904 \(2\^62\)/],
    ["epochs of one block", { ...good, params: { ...good.params, epochLength: 1 } }, /params\.epochLength/],
    ["reward shares summing to 9999", { ...good, params: { ...good.params, validatorShareBps: 1999 } }, /storageShareBps \+ bandwidthShareBps \+ validatorShareBps is 9999, must be 10000/],
    ["reward shares summing to 10001", { ...good, params: { ...good.params, storageShareBps: 5001 } }, /is 10001, must be 10000/],
    ["decay over 100%", { ...good, params: { ...good.params, emissionDecayBps: 10001 } }, /params\.emissionDecayBps/],
    ["emission not decimal", { ...good, params: { ...good.params, emissionPerEpoch: "1e9" } }, /params\.emissionPerEpoch/],
    ["no challenge per deal", { ...good, params: { ...good.params, challengesPerDeal: 0 } }, /params\.challengesPerDeal/],
    ["more challenges than a transaction holds", { ...good, params: { ...good.params, challengesPerDeal: 13 } }, /params\.challengesPerDeal/],
    ["deals of 0 epochs", { ...good, params: { ...good.params, maxDealEpochs: 0 } }, /params\.maxDealEpochs/],
    ["slash over 100% per miss", { ...good, params: { ...good.params, missSlashBps: 10001 } }, /params\.missSlashBps/],
    ["no miss allowed", { ...good, params: { ...good.params, maxMissedProofs: 0 } }, /params\.maxMissedProofs/],
    ["empty reputation window", { ...good, params: { ...good.params, reputationWindowEpochs: 0 } }, /params\.reputationWindowEpochs/],
    ["missing storage param", { ...good, params: { ...good.params, collateralPerByte: undefined } }, /params\.collateralPerByte/],
    ["no collateral per byte", { ...good, params: { ...good.params, collateralPerByte: "0" } }, /params\.collateralPerByte: must be positive/],
    ["storage for free (price 0 deals and orders)", { ...good, params: { ...good.params, minStoragePrice: "0" } }, /params\.minStoragePrice: must be positive/],
  ];
  for (const [name, input, message] of cases) {
    t.throws(() => validateAndComplete(input), { code: GenesisErrorCode.INVALID, message }, name);
  }
  t.throws(() => parseGenesisJson("{ not json"), { code: GenesisErrorCode.INVALID, message: /not valid JSON/ });
  // several problems are all reported at once
  try {
    validateAndComplete({ ...good, chainId: "X", genesisTime: "nope" });
    t.fail("should throw");
  } catch (e) {
    t.equal((e as { data: { problems: string[] } }).data.problems.length, 2);
  }
});

t.test("genesis registers its validators and starts all three sets from them, in set order", async (t) => {
  const keys = [1, 2, 3].map((i) => insecureDevKey(`genesis-test-${i}`));
  const file = devnetGenesisFile();
  const g = validateAndComplete({
    ...file,
    validators: keys.map((k, i) => ({ name: `v${i}`, address: toAddress(k.publicKey), power: ["2000000000000", "3000000000000", "2000000000000"][i]! })),
  });
  const state = genesisState(g);
  const expected = [keys[1]!, ...[keys[0]!, keys[2]!].sort((a, b) => Buffer.compare(a.publicKey, b.publicKey))].map((k) => Buffer.from(k.publicKey).toString("hex"));
  for (const set of [state.validators(), state.lastValidators(), state.nextValidators()]) {
    t.same(set.map((v) => Buffer.from(v.publicKey).toString("hex")), expected, "power descending, then public key");
    t.same(set.map((v) => v.priority), [0n, 0n, 0n]);
  }
  const nameOf = new Map(keys.map((k, i) => [Buffer.from(k.publicKey).toString("hex"), `v${i}`]));
  t.same(state.validators().map((v) => v.name), expected.map((h) => nameOf.get(h)), "names follow their validators");
  for (const k of keys) {
    t.match(readValidatorInfo(state, k.publicKey), { jailed: false, missed: 0 }, "registered");
    t.equal(state.account(k.publicKey).staked > 0n, true);
  }
  t.equal(readCandidates(state).length, 3, "and eligible");
  t.equal(g.params.minValidatorStake, 1_000_000_000_000n, "params are completed to typed values");
  t.equal(g.params.unbondingBlocks, 600);
});
