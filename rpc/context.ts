/**
 * What the RPC handlers may use: narrow interfaces over the chain, built by node/
 * (docs/architecture.md). Handlers hold no state; everything comes from here.
 */
import type { TendermintInspection } from "../chain/consensus/tendermint.ts";
import type { Evidence } from "../chain/evidence.ts";
import type { ChainParams } from "../chain/params.ts";
import type { ChainState } from "../chain/state.ts";
import type { BlockStore } from "../chain/store.ts";
import type { Operation, SignedTx } from "../chain/tx.ts";

export type ChainReader = Pick<
  BlockStore,
  "head" | "base" | "recentBlock" | "getBlock" | "getBlockByHash" | "getCommit" | "getReceipts" | "getTx" | "listAccountTxs" | "getValidators" | "listIndex" | "readIndex" | "getEndedEpoch" | "stateAt"
>;

/** Checks one signature with the chain's rule, possibly on another thread. */
export interface SignatureVerifier {
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** The node's peer-to-peer side, as RPC shows it (node/ adapts p2p/ to this). */
export interface NetworkView {
  info(): { peerId: string; listen: string[]; bootstrap: string[]; topics: string[] };
  peers(): { peerId: string; addresses: string[]; direction: "inbound" | "outbound"; penalty: number; bootstrap: boolean; height: bigint | null }[];
  banned(): { peerId: string; until: number; offences: number }[];
  sync(): { syncing: boolean; headHeight: bigint; highestPeerHeight: bigint; blocksSynced: number };
}

/** Each module adds what its own methods need (e.g. the payment-channel module's voucher store). */
export interface RpcContext {
  /** The p2p host and block sync; absent in a node without networking (unit tests). */
  readonly network?: NetworkView;
  /** Where per-request signature checks run (a worker pool in the node); inline when absent. */
  readonly verifier?: SignatureVerifier;
  readonly chainId: string;
  readonly genesisHash: Uint8Array;
  readonly nodeVersion: string;
  readonly params: ChainParams;
  readonly store: ChainReader;
  /** The state after the head block. */
  headState(): ChainState;
  readonly mempool: { readonly size: number; readonly bytes: number; get(hash: Uint8Array): SignedTx | undefined };
  /** Evidence waiting for a block. */
  readonly evidencePool: { list(): Evidence[] };
  /**
   * Pools and gossips evidence this node found (a double attestation seen by proof_submitBandwidth):
   * true if newly pooled; throws EvidenceError if it is invalid. Absent: not reported.
   */
  readonly reportEvidence?: (ev: Evidence) => boolean;
  /** The consensus engine's view of the height in progress. */
  consensusState(): TendermintInspection;
  /** Decodes, validates and admits a transaction to the mempool; throws a CodedError with the reason. */
  submitTx(bytes: Uint8Array): SignedTx;
  /**
   * tx_send's path: as submitTx, but the signature is checked off the event loop and admission is
   * bounded: past the bound it rejects with the BUSY RPC error. Absent: tx_send uses submitTx.
   */
  readonly sendTx?: (bytes: Uint8Array) => Promise<SignedTx>;
  /** The node's service account (the payee key paych_redeem signs with), or null without one. */
  readonly serviceAccount: Uint8Array | null;
  /**
   * Signs `op` with the service key at the account's next nonce (after its pending transactions),
   * with the minimum fee, and admits it to the mempool. CodedError NO_SERVICE_KEY without a key.
   */
  submitServiceTx(op: Operation): SignedTx;
  status(): {
    readonly validator: Uint8Array | null;
    readonly consensus: { readonly engine: string; readonly height: bigint; readonly round: number; readonly step: number | null };
    readonly failure: string | null;
    readonly startedAt: number;
  };
}
