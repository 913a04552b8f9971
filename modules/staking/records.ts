/**
 * The staking module's state records: registered candidates, the eligible list, the unbonding
 * queue and the recent validator sets. Keys: 0x02 || key a ValidatorInfo, 0x03 || height the
 * accounts released at that height, 0x04 || height the members of the set that signed from that
 * height on (written when the membership changes), and the global records "candidates" and
 * "setChanges" (the heights with a 0x04 record that evidence can still refer to).
 */
import { equalBytes, u64be } from "../../primitives/bytes.ts";
import { asArray, asBool, asBytes, asString, asU64, asUint, decode, decodeTrusted, encode, u64 } from "../../primitives/codec.ts";
import { globalKey, MAX_VALIDATOR_NAME_LENGTH, prefixedKey, readKeyList, type StateReader } from "../../chain/state.ts";

export const PREFIX_VALIDATOR = 0x02;
export const PREFIX_UNBONDING_QUEUE = 0x03;
export const PREFIX_SET_HISTORY = 0x04;

export const StakingKey = {
  /** Public keys (sorted) of the registered candidates eligible for the set: unjailed, staked >= minValidatorStake. */
  candidates: globalKey("candidates"),
  /** A registered candidate's ValidatorInfo. */
  validator: (publicKey: Uint8Array): Uint8Array => prefixedKey(PREFIX_VALIDATOR, publicKey),
  /** Public keys (sorted) of the accounts with unbonding entries released at the end of block `height`. */
  unbondingQueue: (height: bigint): Uint8Array => prefixedKey(PREFIX_UNBONDING_QUEUE, u64be(height)),
  /**
   * Public keys (sorted) of the set that signs the blocks from `height` on (until the next record):
   * written at genesis (height 1) and whenever the membership of the set changes.
   */
  setAt: (height: bigint): Uint8Array => prefixedKey(PREFIX_SET_HISTORY, u64be(height)),
  /** The heights (ascending) that have a setAt record: the latest at or below the oldest height evidence may name, and every later one. */
  setChanges: globalKey("setChanges"),
} as const;

export function encodeHeights(hs: readonly bigint[]): Uint8Array {
  return encode(hs.map(u64));
}
export function readHeights(r: StateReader, key: Uint8Array): bigint[] {
  const b = r.get(key);
  return b ? asArray(decodeTrusted(b), "heights").map((x) => asU64(x, "height")) : [];
}

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
  /** Double-signed once: jailed forever (validator.unjail is refused), and no evidence against it is taken again. */
  readonly tombstoned: boolean;
}


export function encodeValidatorInfo(v: ValidatorInfo): Uint8Array {
  return encode([v.name, v.jailed, u64(v.jailedUntil), u64(v.windowIndex), v.missed, v.missedBits, v.tombstoned]);
}
export function decodeValidatorInfo(b: Uint8Array, trusted = false): ValidatorInfo {
  const v = asArray(trusted ? decodeTrusted(b) : decode(b), "validatorInfo", 7);
  return {
    name: asString(v[0], "name", MAX_VALIDATOR_NAME_LENGTH),
    jailed: asBool(v[1], "jailed"),
    jailedUntil: asU64(v[2], "jailedUntil"),
    windowIndex: asU64(v[3], "windowIndex"),
    missed: asUint(v[4], "missed"),
    missedBits: asBytes(v[5], "missedBits"),
    tombstoned: asBool(v[6], "tombstoned"),
  };
}

/** A fresh candidate record: unjailed, with an all-zero downtime window of `window` bits. */
export function newValidatorInfo(name: string, window: number): ValidatorInfo {
  return { name, jailed: false, jailedUntil: 0n, windowIndex: 0n, missed: 0, missedBits: new Uint8Array(Math.ceil(window / 8)), tombstoned: false };
}

export function readValidatorInfo(r: StateReader, publicKey: Uint8Array): ValidatorInfo | undefined {
  const b = r.get(StakingKey.validator(publicKey));
  return b ? decodeValidatorInfo(b, true) : undefined;
}

/** Public keys of the candidates eligible for the set (unjailed, staked >= minValidatorStake), sorted. */
export function readCandidates(r: StateReader): Uint8Array[] {
  return readKeyList(r, StakingKey.candidates);
}

/**
 * Whether `publicKey` was a member of the set that signed height `height`, from the set history;
 * undefined when the history no longer reaches back to `height` (older than the evidence window).
 */
export function wasInSetAt(r: StateReader, publicKey: Uint8Array, height: bigint): boolean | undefined {
  let from: bigint | undefined;
  for (const h of readHeights(r, StakingKey.setChanges)) if (h <= height) from = h;
  if (from === undefined) return undefined;
  return readKeyList(r, StakingKey.setAt(from)).some((k) => equalBytes(k, publicKey));
}
