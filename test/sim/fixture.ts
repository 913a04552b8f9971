/**
 * The simulated network's genesis: n validators of equal power with publicly derived (INSECURE)
 * keys, a few funded user accounts whose transfers fill the blocks. Cached per n: key derivation
 * and the genesis state are the same for every seed.
 */
import type { KeyPair } from "../../primitives/keys.ts";
import { toAddress } from "../../primitives/keys.ts";
import type { ChainState } from "../../chain/state.ts";
import { devnetParams, insecureDevKey } from "../../genesis/devnet.ts";
import { genesisState, validateAndComplete, type Genesis } from "../../genesis/schema.ts";

export const SIM_CHAIN_ID = "cloudcoin-sim-1";
export const SIM_USERS = 6;
/** timeout_commit in virtual ms (the genesis block interval). */
export const SIM_BLOCK_INTERVAL_MS = 500;

export interface SimFixture {
  readonly genesis: Genesis;
  readonly state: ChainState;
  readonly validatorKeys: readonly KeyPair[];
  readonly userKeys: readonly KeyPair[];
}

const cache = new Map<number, SimFixture>();
const keyCache = new Map<string, KeyPair>();

function key(label: string): KeyPair {
  let k = keyCache.get(label);
  if (!k) keyCache.set(label, (k = insecureDevKey(label)));
  return k;
}

export function simFixture(n: number): SimFixture {
  let f = cache.get(n);
  if (f) return f;
  const validatorKeys = Array.from({ length: n }, (_, i) => key(`sim-validator-${i}`));
  const userKeys = Array.from({ length: SIM_USERS }, (_, i) => key(`sim-user-${i}`));
  const params = devnetParams();
  const genesis = validateAndComplete({
    chainId: SIM_CHAIN_ID,
    genesisTime: "2026-01-01T00:00:00.000Z",
    validators: validatorKeys.map((k, i) => ({ name: `sim-${i}`, address: toAddress(k.publicKey), power: params.minValidatorStake })),
    balances: userKeys.map((k) => ({ address: toAddress(k.publicKey), amount: "1000000000000" })),
    params: { ...params, maxBlockTxs: 100, maxBlockBytes: 1048576, blockIntervalMs: SIM_BLOCK_INTERVAL_MS },
  });
  f = { genesis, state: genesisState(genesis), validatorKeys, userKeys };
  cache.set(n, f);
  return f;
}
