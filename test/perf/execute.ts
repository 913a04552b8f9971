/**
 * The validator's per-transaction import work WITHOUT the state root, for figure 1:
 *
 *     decodeTx(bytes) -> executeBlock: validateTxBasic (includes the ed25519 `verify`) + execution
 *
 * It calls the chain's own `executeBlock` (what `applyBlock` runs before computing roots), so the
 * figure measures the real code path.
 */
import type { Block } from "../../chain/block.ts";
import type { ChainParams } from "../../chain/params.ts";
import type { ChainState } from "../../chain/state.ts";
import { executeBlock, type ExecutedBlock } from "../../chain/transition.ts";
import { decodeTx } from "../../chain/tx.ts";

export type { ExecutedBlock };

export function executeBlockTxs(state: ChainState, block: Block, txBytes: readonly Uint8Array[], params: ChainParams, chainId: string): ExecutedBlock {
  return executeBlock(state, { ...block, txs: txBytes.map((b) => decodeTx(b)) }, params, chainId);
}
