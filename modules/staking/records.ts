/**
 * The staking module's state records: registered candidates, the eligible list, the unbonding
 * queue and the punished-validator marks. Keys: 0x02 || key a ValidatorInfo, 0x03 || height the
 * accounts released at that height, 0x04 || height the validators punished for double-signing at
 * that height, and the global record "candidates".
 */
import { u64be } from "../../primitives/bytes.ts";
import { asArray, asBool, asBytes, asString, asU64, asUint, decode, decodeTrusted, encode, u64 } from "../../primitives/codec.ts";
import { globalKey, MAX_VALIDATOR_NAME_LENGTH, prefixedKey, readKeyList, type StateReader } from "../../chain/state.ts";

export const PREFIX_VALIDATOR = 0x02;
export const PREFIX_UNBONDING_QUEUE = 0x03;
export const PREFIX_PUNISHED = 0x04;

export const StakingKey = {
  /** Public keys (sorted) of the registered candidates eligible for the set: unjailed, staked >= minValidatorStake. */
  candidates: globalKey("candidates"),
  /** A registered candidate's ValidatorInfo. */
  validator: (publicKey: Uint8Array): Uint8Array => prefixedKey(PREFIX_VALIDATOR, publicKey),
  /** Public keys (sorted) of the accounts with unbonding entries released at the end of block `height`. */
  unbondingQueue: (height: bigint): Uint8Array => prefixedKey(PREFIX_UNBONDING_QUEUE, u64be(height)),
  /** Public keys (sorted) of the validators already punished for double-signing at `height`. */
  punished: (height: bigint): Uint8Array => prefixedKey(PREFIX_PUNISHED, u64be(height)),
} as const;

/**
 * A registered validator candidate: written by `validator.register` (or genesis) and never
 * deleted, so evidence against it stays punishable after it leaves the set.
 */
export interface ValidatorInfo {
  readonly name: string;
  /** A jailed candidate is not eligible for the set until it sends `validator.unjail`. */
  readonly jailed: boolean;
  /** While jailed: the first height at which `validator.unjail` is accepted. */
  readonly jailedUntil: bigint;
  /**
   * Downtime window (params.downtimeWindow bits): bit (windowIndex mod window) is the slot of the
   * next block tracked; a set bit is a missed block. `missed` is the number of set bits.
   * `windowIndex` counts the blocks tracked since registration or the last reset.
   */
  readonly windowIndex: bigint;
  readonly missed: number;
  readonly missedBits: Uint8Array;
}


export function encodeValidatorInfo(v: ValidatorInfo): Uint8Array {
  return encode([v.name, v.jailed, u64(v.jailedUntil), u64(v.windowIndex), v.missed, v.missedBits]);
}
export function decodeValidatorInfo(b: Uint8Array, trusted = false): ValidatorInfo {
  const v = asArray(trusted ? decodeTrusted(b) : decode(b), "validatorInfo", 6);
  return {
    name: asString(v[0], "name", MAX_VALIDATOR_NAME_LENGTH),
    jailed: asBool(v[1], "jailed"),
    jailedUntil: asU64(v[2], "jailedUntil"),
    windowIndex: asU64(v[3], "windowIndex"),
    missed: asUint(v[4], "missed"),
    missedBits: asBytes(v[5], "missedBits"),
  };
}

/** A fresh candidate record: unjailed, with an all-zero downtime window of `window` bits. */
export function newValidatorInfo(name: string, window: number): ValidatorInfo {
  return { name, jailed: false, jailedUntil: 0n, windowIndex: 0n, missed: 0, missedBits: new Uint8Array(Math.ceil(window / 8)) };
}

export function readValidatorInfo(r: StateReader, publicKey: Uint8Array): ValidatorInfo | undefined {
  const b = r.get(StakingKey.validator(publicKey));
  return b ? decodeValidatorInfo(b, true) : undefined;
}

/** Public keys of the candidates eligible for the set (unjailed, staked >= minValidatorStake), sorted. */
export function readCandidates(r: StateReader): Uint8Array[] {
  return readKeyList(r, StakingKey.candidates);
}
