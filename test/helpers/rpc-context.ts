/**
 * The RpcContext the RPC tests serve: a test chain, its store and mempool, wired as the node wires
 * them (transactions decoded, checked and admitted to the mempool). Every part a test does not
 * exercise throws if touched, naming itself; `overrides` replaces any member.
 */
import type { Mempool } from "../../chain/mempool.ts";
import { decodeTx, validateTxBasic, type SignedTx } from "../../chain/tx.ts";
import type { ChainReader, RpcContext } from "../../rpc/context.ts";
import type { TestChain } from "./chain.ts";

const notUsed = (what: string) => (): never => {
  throw new Error(`${what} is not used by this test`);
};

export function testRpcContext(
  parts: { chain: TestChain; store: ChainReader; mempool: Mempool<SignedTx>; onSubmit?: (tx: SignedTx) => void },
  overrides: Partial<RpcContext> = {},
): RpcContext {
  const { chain, store, mempool, onSubmit } = parts;
  return {
    chainId: chain.genesis.chainId,
    genesisHash: chain.genesis.hash,
    nodeVersion: "test",
    params: chain.genesis.params,
    store,
    headState: () => chain.state,
    mempool,
    evidencePool: { list: () => [] },
    consensusState: notUsed("consensusState"),
    submitTx: (txBytes) => {
      const tx = decodeTx(txBytes);
      validateTxBasic(tx, chain.genesis.chainId);
      mempool.add(tx);
      onSubmit?.(tx);
      return tx;
    },
    status: notUsed("status"),
    vouchers: { getBestVoucher: () => undefined, putBestVoucher: notUsed("vouchers.putBestVoucher") },
    serviceAccount: null,
    submitServiceTx: notUsed("submitServiceTx"),
    ...overrides,
  };
}
