import t from "tap";
import { z } from "zod";
import { toAddress } from "../../../primitives/keys.ts";
import { dispatch } from "../../../rpc/dispatch.ts";
import { defineMethod } from "../../../rpc/table.ts";
import fc from "fast-check";
import { accountJson } from "../../../rpc/json.ts";
import { accountText, accountView, accountViewText } from "../../../rpc/views.ts";
import { advance, newTestChain, testKey, transfer } from "../../helpers/chain.ts";

t.test("account views are read from the state asked about and follow a new head", async (t) => {
  const chain = newTestChain();
  const alice = testKey(1);
  const addr = toAddress(alice.publicKey);
  const before = accountView(chain.state, addr);
  t.equal(before.balance, "0");
  t.strictSame(accountView(chain.state, addr), before, "same state, same view");
  advance(chain, [transfer(chain, chain.faucet, 0n, alice, 77n)]);
  const after = accountView(chain.state, addr);
  t.equal(after.balance, "77");
  t.equal(after.height, 1);
  t.not(after.stateRoot, before.stateRoot);
  const text = accountViewText(chain.state, addr);
  t.strictSame(JSON.parse(text.text), after, "the text is the view's JSON");
  (after as { balance: string }).balance = "1";
  t.equal(accountView(chain.state, addr).balance, "77", "a caller's change to its view is not seen by the next caller");
  const again = accountViewText(chain.state, addr);
  t.equal(again.text, text.text, "the same text again at the same head");
  t.not(again, text, "the first request at a head only notes the address");
  t.equal(accountViewText(chain.state, addr), again, "asked again at the same head: answered from the per-head cache");
  advance(chain, [transfer(chain, chain.faucet, 1n, alice, 5n)]);
  t.equal((JSON.parse(accountViewText(chain.state, addr).text) as { balance: string }).balance, "82", "a new head answers from its own state");
});

t.test("an account's answer text is JSON.stringify of its view, for any account", async (t) => {
  const u64 = fc.oneof(fc.constantFrom(0n, 1n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
  const account = fc.record({ balance: u64, nonce: u64, staked: u64, unbonding: fc.array(fc.record({ amount: u64, releaseHeight: u64 }), { maxLength: 5 }) });
  const address = fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((k) => toAddress(k)), fc.string());
  fc.assert(
    fc.property(address, account, fc.nat(), fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b).toString("hex")), (addr, a, height, stateRoot) => {
      const want = JSON.stringify({ ...accountJson(addr, a), height, stateRoot });
      const got = accountText(addr, a, { height, stateRoot });
      if (got !== want) t.fail(`${got} !== ${want}`);
      return got === want;
    }),
    { numRuns: 2000, seed: 5 },
  );
  const chain = newTestChain();
  const addr = toAddress(testKey(2).publicKey);
  advance(chain, [transfer(chain, chain.faucet, 0n, testKey(2), 1234n)]);
  t.equal(accountViewText(chain.state, addr).text, JSON.stringify(accountView(chain.state, addr)), "the same at a real head");
});

t.test("answers stay right over many different accounts at one head", async (t) => {
  const chain = newTestChain();
  const funded = testKey(3);
  advance(chain, [transfer(chain, chain.faucet, 0n, funded, 99n)]);
  const addr = toAddress(funded.publicKey);
  t.equal((JSON.parse(accountViewText(chain.state, addr).text) as { balance: string }).balance, "99");
  for (let i = 0; i < 5000; i++) {
    const other = toAddress(new Uint8Array(32).fill(i & 0xff).map((b, j) => (j === 0 ? i >> 8 : b)));
    accountViewText(chain.state, other); // asked twice: kept, so the per-head cache fills and starts over
    const view = JSON.parse(accountViewText(chain.state, other).text) as { address: string; balance: string };
    if (view.address !== other || view.balance !== "0") t.fail(`account ${i}: ${JSON.stringify(view)}`);
  }
  t.equal((JSON.parse(accountViewText(chain.state, addr).text) as { balance: string }).balance, "99", "after 5,000 other accounts");
  t.equal(accountView(chain.state, addr).balance, "99");
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
