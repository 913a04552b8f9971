/** chain_getParams: every chain parameter, amounts as decimal strings, the rest as numbers. */
import t from "tap";
import { methods } from "../../../modules/rpc.ts";
import { newTestChain } from "../../helpers/chain.ts";
import type { RpcContext } from "../../../rpc/context.ts";

t.test("chain_getParams answers every parameter of the genesis", async (t) => {
  const chain = newTestChain({ params: { minValidatorStake: "123456789", epochLength: 7 } });
  const ctx = { chainId: chain.genesis.chainId, params: chain.genesis.params } as RpcContext;
  const spec = methods.chain_getParams;
  const result = spec.result.parse(await spec.handler(spec.params.parse({}), ctx));
  t.equal(result.chainId, chain.genesis.chainId);
  t.equal(result.params.minValidatorStake, "123456789", "an amount is a decimal string");
  t.equal(result.params.epochLength, 7, "a count is a number");
  t.same(Object.keys(result.params).sort(), Object.keys(chain.genesis.params).sort(), "every parameter, nothing else");
  t.same(JSON.parse(JSON.stringify(result)), result, "plain JSON");
});
