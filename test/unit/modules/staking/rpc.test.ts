/** staking_getValidator: a candidate's standing as operators see it (cloudcoin balance). */
import t from "tap";
import { toAddress } from "../../../../primitives/keys.ts";
import type { RpcContext } from "../../../../rpc/context.ts";
import { methods } from "../../../../modules/rpc.ts";
import { advanceChecked, newTestChain, testKey, type TestChain } from "../../../helpers/chain.ts";

const V = [testKey(601), testKey(602), testKey(603), testKey(604)];

function ask(chain: TestChain, address: string) {
  const spec = methods.staking_getValidator;
  const ctx = { headState: () => chain.state, params: chain.genesis.params } as RpcContext;
  return spec.result.parse(spec.handler(spec.params.parse({ address }), ctx) as never);
}

t.test("a validator missing blocks is shown counting its misses, then jailed with the height it may unjail", async (t) => {
  const chain = newTestChain({
    validators: V.map((key) => ({ key, power: 1_000_000_000_000n })),
    params: { downtimeWindow: 4, downtimeMinSigned: 2, downtimeJailBlocks: 10 },
  });
  const who = toAddress(V[3]!.publicKey);
  t.match(ask(chain, who), { name: "test-validator-3", jailed: false, tombstoned: false, jailedUntil: null, eligible: true, inSet: true, missed: 0, downtimeWindow: 4, downtimeMaxMissed: 2 });
  advanceChecked((m) => t.fail(m), chain, [], { absent: [V[3]!] });
  advanceChecked((m) => t.fail(m), chain, [], { absent: [V[3]!] });
  t.match(ask(chain, who), { jailed: false, missed: 1 }, "the block after a missing signature counts the miss");
  for (let i = 0; i < 3 && !ask(chain, who)!.jailed; i++) advanceChecked((m) => t.fail(m), chain, [], { absent: [V[3]!] });
  const jailed = ask(chain, who)!;
  t.equal(jailed.jailed, true, "jailed past the window's limit");
  t.ok(jailed.jailedUntil !== null && jailed.jailedUntil > jailed.height, "with the first height unjail is accepted");
  t.equal(jailed.eligible, false, "and no longer eligible");
  t.equal(ask(chain, toAddress(testKey(699).publicKey)), null, "an account that never registered: null");
});
