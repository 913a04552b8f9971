/**
 * chain_getHead answers from the head block's header text, made once per head: synchronously when
 * the block is in the store's recent cache, after one read when it is not, and never a stale head
 * once the store's head moves.
 */
import t from "tap";
import { dispatch, isThenable } from "../../../rpc/dispatch.ts";
import type { RpcContext } from "../../../rpc/context.ts";
import { headerJson } from "../../../rpc/json.ts";
import { methods } from "../../../modules/rpc.ts";
import type { Block } from "../../../chain/block.ts";
import { advance, newTestChain } from "../../helpers/chain.ts";

t.test("chain_getHead follows the head, answering synchronously from text", async (t) => {
  const chain = newTestChain();
  const blocks: Block[] = [advance(chain, []).block, advance(chain, []).block];
  let reads = 0;
  let recent = true;
  const store = {
    head: { height: 0n, hash: new Uint8Array(32) } as { height: bigint; hash: Uint8Array },
    recentBlock: (h: bigint) => (recent ? blocks.find((b) => b.header.height === h) : undefined),
    getBlock: async (h: bigint) => {
      reads++;
      return blocks.find((b) => b.header.height === h);
    },
  };
  const ctx = { store } as unknown as RpcContext;
  const opts = { allowedPermissions: new Set(["read" as const]), maxBatch: 10, checkResults: true };
  const call = async (): Promise<unknown> => {
    const out = dispatch(methods, '{"jsonrpc":"2.0","id":1,"method":"chain_getHead"}', ctx, opts);
    return JSON.parse((isThenable(out) ? await out : out)!).result;
  };
  const sync = (): boolean => !isThenable(dispatch(methods, '{"jsonrpc":"2.0","id":1,"method":"chain_getHead"}', ctx, opts));

  t.equal(await call(), null, "no block yet");
  store.head = { height: 1n, hash: blocks[0]!.hash };
  t.same(await call(), headerJson(blocks[0]!.header, blocks[0]!.hash));
  t.ok(sync(), "answered without a promise");
  store.head = { height: 2n, hash: blocks[1]!.hash };
  t.same(await call(), headerJson(blocks[1]!.header, blocks[1]!.hash), "the new head, not the cached one");
  t.equal(reads, 0, "both heads came from the recent cache");

  // a head block the recent cache no longer holds: one read, then text
  recent = false;
  const other = newTestChain();
  const b1 = advance(other, []).block;
  blocks.push(b1);
  store.head = { height: 1n, hash: b1.hash }; // the head moved to another height: the cached text is not it

  blocks.splice(0, 1);
  t.same(await call(), headerJson(b1.header, b1.hash), "not the cached text of height 2");
  t.equal(reads, 1);
  t.ok(sync(), "then synchronous again");
  t.equal(reads, 1, "no second read");
});
