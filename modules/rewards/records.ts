/** The rewards module's state record: what each validator earned so far in the current epoch's validator pool. */
import { asArray, asBytes, asU64, asUint, decode, decodeTrusted, encode, u64, type CborValue } from "../../primitives/codec.ts";

/**
 * What one validator earned so far in the current epoch's validator pool (docs/protocol.md section 7:
 * commit signatures are paid for): as a signer of the lastCommits of the epoch's blocks, and as
 * the proposer that included them. Amounts in base units, minted at the end of the epoch.
 */
export interface SignerEntry {
  readonly publicKey: Uint8Array;
  /** Blocks whose lastCommit carries this validator's precommit. */
  readonly blocks: number;
  /** Its signers' share of those blocks' pools. */
  readonly signing: bigint;
  /** Blocks it proposed that carry a lastCommit. */
  readonly proposed: number;
  /** Its proposer's share (base + bonus by the power it included) of those blocks' pools. */
  readonly proposing: bigint;
}

export interface SignerTally {
  readonly epoch: bigint;
  /** Sorted by public key. */
  readonly entries: readonly SignerEntry[];
}

const readBytes = (b: Uint8Array, trusted: boolean): CborValue => (trusted ? decodeTrusted(b) : decode(b));

export function encodeSignerTally(t: SignerTally): Uint8Array {
  return encode([u64(t.epoch), t.entries.map((e) => [e.publicKey, e.blocks, u64(e.signing), e.proposed, u64(e.proposing)])]);
}
export function decodeSignerTally(b: Uint8Array, trusted = false): SignerTally {
  const v = asArray(readBytes(b, trusted), "signers", 2);
  return {
    epoch: asU64(v[0], "epoch"),
    entries: asArray(v[1], "entries").map((x) => {
      const e = asArray(x, "signer", 5);
      return {
        publicKey: asBytes(e[0], "publicKey", 32), blocks: asUint(e[1], "blocks"), signing: asU64(e[2], "signing"), proposed: asUint(e[3], "proposed"),
        proposing: asU64(e[4], "proposing"),
      };
    }),
  };
}
