/**
 * The embedded devnet genesis that `npm start` runs.
 *
 * INSECURE BY DESIGN: the validator and faucet keys are derived from public strings, so anyone
 * can sign with them. They exist so that a fresh checkout runs a working chain with funds to
 * play with. Never use them on a network that matters.
 */
import { sha256 } from "../primitives/hash.ts";
import { keyPairFromSeed, toAddress, type KeyPair } from "../primitives/keys.ts";
import { utf8 } from "../primitives/bytes.ts";
import { defaultChainParams } from "../chain/params.ts";
import { paramsFile, validateAndComplete, type Genesis, type GenesisFile } from "./schema.ts";

export const DEVNET_CHAIN_ID = "cloudcoin-devnet-1";

/** Deterministic, publicly known key: INSECURE. */
export function insecureDevKey(label: string): KeyPair {
  return keyPairFromSeed(sha256(utf8.encode(`cloudcoin devnet INSECURE key: ${label}`)));
}

export const devnetValidatorKey = (): KeyPair => insecureDevKey("validator-0");
export const devnetFaucetKey = (): KeyPair => insecureDevKey("faucet");

/**
 * The devnet's chain parameters (1 block a second): unbonding in 10 minutes, evidence accepted
 * for 500 blocks, double-signers lose 5% and sit out 10 minutes, a validator that signs fewer than
 * 50 of its last 100 blocks sits out a minute. `cloudcoin init` writes these too.
 */
export function devnetParams(): GenesisFile["params"] {
  return paramsFile(defaultChainParams);
}

export function devnetGenesisFile(): GenesisFile {
  return {
    chainId: DEVNET_CHAIN_ID,
    genesisTime: "2026-01-01T00:00:00.000Z",
    validators: [{ name: "devnet-validator-0 (INSECURE key)", address: toAddress(devnetValidatorKey().publicKey), power: "1000000000000000" }],
    balances: [
      { address: toAddress(devnetFaucetKey().publicKey), amount: "1000000000000000000" },
      { address: toAddress(devnetValidatorKey().publicKey), amount: "1000000000000000" },
    ],
    params: devnetParams(),
  };
}

export function devnetGenesis(): Genesis {
  return validateAndComplete(devnetGenesisFile());
}
