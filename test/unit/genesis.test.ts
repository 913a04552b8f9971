import t from "tap";
import { toAddress } from "../../chain/keys.ts";
import { totalHeld } from "../../chain/state.ts";
import { devnetGenesis, devnetGenesisFile, devnetValidatorKey } from "../../genesis/devnet.ts";
import { GenesisErrorCode, genesisState, parseGenesisJson, validateAndComplete } from "../../genesis/schema.ts";

t.test("the devnet genesis validates, completes deterministically and funds its supply", async (t) => {
  const a = devnetGenesis();
  const b = devnetGenesis();
  t.same(a.hash, b.hash, "genesis hash is deterministic");
  t.equal(a.chainId, "cloudcoin-devnet-1");
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
