/**
 * The genesis file (JSON) and its validate-and-complete step (STYLE.md point 6): the file is
 * checked once, completed into typed values (public keys, bigints, the genesis hash), and every
 * derived value is computed here and nowhere else.
 */
import { z } from "zod";
import { U64_MAX } from "../chain/amount.ts";
import { encode, u64 } from "../chain/codec.ts";
import { CodedError } from "../chain/errors.ts";
import { Tag, taggedHash } from "../chain/hash.ts";
import { fromAddress, isAddress, toAddress } from "../chain/keys.ts";
import type { ChainParams } from "../chain/params.ts";
import { ChainState, StateKey, encodeAccount, encodeMeta, encodeValidators, type Validator } from "../chain/state.ts";
import { SparseMerkleTree } from "../chain/smt.ts";
import { toHex } from "../chain/bytes.ts";

const DECIMAL_RE = /^(0|[1-9][0-9]*)$/;
// zod runs every check even after one fails, so the refinements guard their own BigInt().
const u64String = z
  .string()
  .regex(DECIMAL_RE, "must be a decimal string of base units")
  .refine((s) => !DECIMAL_RE.test(s) || BigInt(s) <= U64_MAX, "must fit in u64");
const address = z.string().refine(isAddress, "must be a bech32m address with prefix cc");

export const genesisFileSchema = z.strictObject({
  chainId: z.string().regex(/^[a-z0-9][a-z0-9-]{1,47}$/, "must be 2-48 chars of a-z, 0-9 and '-'"),
  genesisTime: z.iso.datetime({ offset: true }),
  validators: z
    .array(z.strictObject({ name: z.string().min(1).max(128), address, power: u64String.refine((s) => !DECIMAL_RE.test(s) || BigInt(s) > 0n, "must be positive") }))
    .min(1, "at least one validator is required")
    .max(1000),
  balances: z.array(z.strictObject({ address, amount: u64String })).max(1_000_000),
  params: z.strictObject({
    minTxFee: u64String,
    feeBurnBps: z.int().min(0).max(10_000),
    maxBlockTxs: z.int().min(1).max(100_000),
    maxBlockBytes: z.int().min(1024).max(64 * 1024 * 1024),
    blockIntervalMs: z.int().min(10).max(600_000),
    epochLength: z.int().min(1).max(1_000_000),
  }),
});
export type GenesisFile = z.input<typeof genesisFileSchema>;

export interface Genesis {
  readonly chainId: string;
  readonly genesisTime: bigint;
  readonly validators: readonly Validator[];
  readonly balances: readonly { readonly publicKey: Uint8Array; readonly amount: bigint }[];
  readonly params: ChainParams;
  readonly supply: bigint;
  /** H("cloudcoin/genesis/v1", canonical encoding of all of the above). */
  readonly hash: Uint8Array;
  readonly file: GenesisFile;
}

export const GenesisErrorCode = { INVALID: "GENESIS_INVALID" } as const;
export type GenesisErrorCode = (typeof GenesisErrorCode)[keyof typeof GenesisErrorCode];
export class GenesisError extends CodedError<GenesisErrorCode> {}

function fail(problems: string[]): never {
  throw new GenesisError(GenesisErrorCode.INVALID, `invalid genesis:\n  ${problems.join("\n  ")}`, { problems });
}

/** Validates a parsed genesis JSON value and completes it. Throws GenesisError listing every problem. */
export function validateAndComplete(input: unknown): Genesis {
  const parsed = genesisFileSchema.safeParse(input);
  if (!parsed.success) {
    fail(parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`));
  }
  const f = parsed.data;
  const problems: string[] = [];
  const seenValidators = new Set<string>();
  f.validators.forEach((v, i) => {
    if (seenValidators.has(v.address)) problems.push(`validators.${i}.address: duplicate validator ${v.address}`);
    seenValidators.add(v.address);
  });
  const seenBalances = new Set<string>();
  f.balances.forEach((b, i) => {
    if (seenBalances.has(b.address)) problems.push(`balances.${i}.address: duplicate balance entry for ${b.address}`);
    seenBalances.add(b.address);
  });
  let supply = 0n;
  for (const v of f.validators) supply += BigInt(v.power);
  for (const b of f.balances) supply += BigInt(b.amount);
  if (supply > U64_MAX) problems.push(`total supply ${supply} does not fit in u64`);
  if (problems.length) fail(problems);

  const validators: Validator[] = f.validators.map((v) => ({ publicKey: fromAddress(v.address), power: BigInt(v.power), name: v.name }));
  const balances = f.balances.map((b) => ({ publicKey: fromAddress(b.address), amount: BigInt(b.amount) }));
  const params: ChainParams = {
    minTxFee: BigInt(f.params.minTxFee),
    feeBurnBps: f.params.feeBurnBps,
    maxBlockTxs: f.params.maxBlockTxs,
    maxBlockBytes: f.params.maxBlockBytes,
    blockIntervalMs: f.params.blockIntervalMs,
    epochLength: f.params.epochLength,
  };
  const genesisTime = BigInt(Date.parse(f.genesisTime));
  const hash = taggedHash(
    Tag.GENESIS,
    encode([
      f.chainId,
      u64(genesisTime),
      encodeValidators(validators),
      balances.map((b) => [b.publicKey, u64(b.amount)]),
      [u64(params.minTxFee), params.feeBurnBps, params.maxBlockTxs, params.maxBlockBytes, params.blockIntervalMs, params.epochLength],
    ]),
  );
  return { chainId: f.chainId, genesisTime, validators, balances, params, supply, hash, file: input as GenesisFile };
}

/** Parses genesis JSON text; a syntax error is a GenesisError too. */
export function parseGenesisJson(text: string): Genesis {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    fail([`not valid JSON: ${(e as Error).message}`]);
  }
  return validateAndComplete(value);
}

/** The state at height 0: balances, validators' stakes, the validator set and the counters. */
export function genesisState(g: Genesis): ChainState {
  const accounts = new Map<string, { publicKey: Uint8Array; balance: bigint; staked: bigint }>();
  const entry = (pk: Uint8Array) => {
    const id = toHex(pk);
    let a = accounts.get(id);
    if (!a) accounts.set(id, (a = { publicKey: pk, balance: 0n, staked: 0n }));
    return a;
  };
  for (const b of g.balances) entry(b.publicKey).balance += b.amount;
  for (const v of g.validators) entry(v.publicKey).staked += v.power;
  const changes: [Uint8Array, Uint8Array][] = [];
  for (const a of accounts.values()) {
    if (a.balance === 0n && a.staked === 0n) continue;
    changes.push([StateKey.account(a.publicKey), encodeAccount({ balance: a.balance, nonce: 0n, staked: a.staked, unbonding: [] })]);
  }
  changes.push([StateKey.validators, encodeValidators(g.validators)]);
  changes.push([
    StateKey.meta,
    encodeMeta({ height: 0n, time: g.genesisTime, seed: g.hash, genesisSupply: g.supply, minted: 0n, burned: 0n }),
  ]);
  return new ChainState(SparseMerkleTree.empty().update(changes), g.hash);
}

export { toAddress };
