import t from "tap";
import { z } from "zod";
import { toAddress } from "../../../primitives/keys.ts";
import { dispatch } from "../../../rpc/dispatch.ts";
import { defineMethod } from "../../../rpc/table.ts";
import { accountView, accountViewText } from "../../../rpc/views.ts";
import { advance, newTestChain, testKey, transfer } from "../../helpers/chain.ts";

t.test("account views are memoized per head state and follow a new head", async (t) => {
  const chain = newTestChain();
  const alice = testKey(1);
  const addr = toAddress(alice.publicKey);
  const before = accountView(chain.state, addr);
  t.equal(before.balance, "0");
  t.equal(accountView(chain.state, addr), before, "same state, same object");
  advance(chain, [transfer(chain, chain.faucet, 0n, alice, 77n)]);
  const after = accountView(chain.state, addr);
  t.equal(after.balance, "77");
  t.equal(after.height, 1);
  t.not(after.stateRoot, before.stateRoot);
  t.ok(Object.isFrozen(after), "shared views cannot be mutated by a caller");
  const text = accountViewText(chain.state, addr);
  t.strictSame(JSON.parse(text.text), after, "the text is the view's JSON");
  t.equal(accountViewText(chain.state, addr), text, "made once per head");
  advance(chain, [transfer(chain, chain.faucet, 1n, alice, 5n)]);
  t.equal((JSON.parse(accountViewText(chain.state, addr).text) as { balance: string }).balance, "82", "a new head answers from its own state");
});

t.test("result checking can be turned off, and catches a drifting handler when on", async (t) => {
  const table = {
    test_drift: defineMethod({ description: "returns the wrong shape", params: z.object({}), result: z.object({ n: z.number() }), permission: "read", handler: () => ({ n: "not a number" }) as never }),
  };
  const body = '{"jsonrpc":"2.0","id":1,"method":"test_drift"}';
  const on = JSON.parse((await dispatch(table, body, {}, { allowedPermissions: new Set(["read"]), maxBatch: 10 }))!);
  t.equal(on.error.code, -32603);
  const off = JSON.parse((await dispatch(table, body, {}, { allowedPermissions: new Set(["read"]), maxBatch: 10, checkResults: false }))!);
  t.same(off.result, { n: "not a number" });
});
