/** JSON form of an attestation for the RPC: addresses, decimal strings for bytes (bytes), throughput (bytes/s) and latency (µs). */
import { toHex } from "../../primitives/bytes.ts";
import { toAddress } from "../../primitives/keys.ts";
import type { Attestation } from "../../proofs/bandwidth.ts";

export function attestationJson(a: Attestation) {
  return {
    relay: toAddress(a.relay), epoch: Number(a.epoch), bytes: a.bytes.toString(), throughput: a.throughput.toString(), latency: a.latency.toString(),
    witness: toAddress(a.witness), signature: toHex(a.signature),
  };
}
export type AttestationJson = ReturnType<typeof attestationJson>;
