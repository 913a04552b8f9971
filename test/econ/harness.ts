/**
 * The economics harness (economic soundness is tested like consensus safety; docs/protocol.md
 * section 7): plays strategies against each other on real blocks and reports what each earned per
 * unit of capital.
 *
 * Every block is built with buildBlock and replayed by a follower with applyBlock
 * (test/helpers/chain.ts advanceChecked: same root, same events, every event fits its JSON
 * schema), and the supply invariant is checked after it. A strategy is a set of optional callbacks
 * (what it sends, which precommits it includes as a proposer, whether it signs, what evidence it
 * includes); the world asks each strategy before each block. Nothing here is consensus code, so
 * the report may use floats.
 *
 * Size: `econSize(n)` scales a test's length by ECON_SCALE (default 1, what `npm test` runs in
 * well under a minute); `npm run econ` runs the same tests with ECON_SCALE=5.
 */
import type { Commit } from "../../chain/block.ts";
import type { Evidence } from "../../chain/evidence.ts";
import type { ChainEvent } from "../../chain/exec.ts";
import type { ChainState } from "../../chain/state.ts";
import type { BuiltBlock } from "../../chain/transition.ts";
import type { SignedTx } from "../../chain/tx.ts";
import { equalBytes } from "../../primitives/bytes.ts";
import type { KeyPair } from "../../primitives/keys.ts";
import { advanceChecked, nextProposer, supplyHolds, type TestChain } from "../helpers/chain.ts";

/** How much longer than their default size the econ tests run (env ECON_SCALE, default 1). */
export const ECON_SCALE = (() => {
  const raw = process.env.ECON_SCALE;
  const n = raw === undefined ? 1 : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`ECON_SCALE must be a positive integer, got ${raw}`);
  return n;
})();

/** `n` scaled by ECON_SCALE. */
export const econSize = (n: number): number => n * ECON_SCALE;

/** What a strategy sees before each block. */
export interface World {
  readonly chain: TestChain;
  /** The height of the block about to be built. */
  readonly height: bigint;
  /** The round-0 proposer of that block. */
  readonly proposer: KeyPair;
  /** Every event of the blocks played so far, with its height. */
  readonly log: readonly { readonly height: bigint; readonly event: ChainEvent }[];
}

/** A participant and how it plays. Every callback is optional: the default is honest. */
export interface Strategy {
  readonly name: string;
  readonly key: KeyPair;
  /** Transactions it sends before the block (built in order; invalid ones are left out). */
  txs?(world: World): SignedTx[];
  /** As the block's proposer: the precommits of the parent it includes (the default: all it has). */
  include?(commit: Commit, world: World): Commit;
  /** As the block's proposer: evidence it includes. */
  evidence?(world: World): Evidence[];
  /** Whether it precommits the block (the default: yes). */
  signs?(world: World): boolean;
}

/** One strategy's result. */
export interface Outcome {
  readonly name: string;
  /** The capital it plays with (PlayOptions.capital; default its wealth at the start). */
  readonly capital: bigint;
  /** Its wealth at the end (balance + stake + unbonding, or PlayOptions.wealth). */
  readonly final: bigint;
  readonly gain: bigint;
  /** gain / capital, in parts per million. */
  readonly returnPpm: number;
}

export interface Report {
  readonly outcomes: Outcome[];
  readonly log: readonly { readonly height: bigint; readonly event: ChainEvent }[];
  byName(name: string): Outcome;
}

/** Stake: the capital of a validator. */
export const staked = (state: ChainState, key: KeyPair): bigint => state.account(key.publicKey).staked;

/** Everything an account holds: balance, stake and unbonding stake. */
export function wealth(state: ChainState, key: KeyPair): bigint {
  const a = state.account(key.publicKey);
  let w = a.balance + a.staked;
  for (const u of a.unbonding) w += u.amount;
  return w;
}

export interface PlayOptions {
  readonly blocks: number;
  /** Called after each block (e.g. to assert something about the state). */
  readonly after?: (built: BuiltBlock, world: World) => void;
  /** Measures results with this function instead of `wealth`. */
  readonly wealth?: (state: ChainState, key: KeyPair) => bigint;
  /** The capital a strategy plays with, at the start (default: its wealth; validators: `staked`). */
  readonly capital?: (state: ChainState, key: KeyPair) => bigint;
}

/**
 * Plays `blocks` blocks on `chain` with `strategies`; every problem (a follower that disagrees, an
 * event without its schema, a broken supply invariant) goes to `fail`.
 */
export function play(fail: (message: string) => void, chain: TestChain, strategies: readonly Strategy[], opts: PlayOptions): Report {
  const measure = opts.wealth ?? wealth;
  const start = strategies.map((s) => measure(chain.state, s.key));
  const capitals = strategies.map((s) => (opts.capital ?? measure)(chain.state, s.key));
  const log: { height: bigint; event: ChainEvent }[] = [];
  const find = (key: KeyPair) => strategies.find((s) => equalBytes(s.key.publicKey, key.publicKey));
  for (let i = 0; i < opts.blocks; i++) {
    const height = chain.state.meta().height + 1n;
    const proposer = nextProposer(chain);
    const world: World = { chain, height, proposer, log };
    const txs = strategies.flatMap((s) => s.txs?.(world) ?? []);
    const mine = find(proposer);
    if (mine?.include && chain.lastCommit !== null) chain.lastCommit = mine.include(chain.lastCommit, world);
    const evidence = mine?.evidence?.(world) ?? [];
    const absent = strategies.filter((s) => s.signs !== undefined && !s.signs(world)).map((s) => s.key);
    const built = advanceChecked(fail, chain, txs, { proposer, absent, ...(evidence.length > 0 ? { evidence } : {}) });
    if (!supplyHolds(chain.state)) fail(`height ${height}: the supply invariant is broken`);
    for (const event of built.events) log.push({ height, event });
    opts.after?.(built, world);
  }
  const outcomes = strategies.map((s, i) => {
    const capital = capitals[i]!;
    const final = measure(chain.state, s.key);
    const gain = final - start[i]!;
    return { name: s.name, capital, final, gain, returnPpm: capital === 0n ? 0 : Number((gain * 1_000_000_000n) / capital) / 1000 };
  });
  return {
    outcomes,
    log,
    byName(name: string): Outcome {
      const o = outcomes.find((x) => x.name === name);
      if (!o) throw new Error(`no strategy named ${name}`);
      return o;
    },
  };
}

/** A commit without the precommits of `victims` (what a stripping proposer includes). */
export function without(commit: Commit, chain: TestChain, victims: readonly KeyPair[]): Commit {
  const set = chain.state.lastValidators();
  return {
    ...commit,
    signatures: commit.signatures.filter((s) => !victims.some((v) => equalBytes(v.publicKey, set[s.validatorIndex]!.publicKey))),
  };
}

/** One line per outcome, for the test log. */
export function formatReport(title: string, r: Report): string {
  return [title, ...r.outcomes.map((o) => `  ${o.name.padEnd(24)} capital ${o.capital}  gain ${o.gain}  return ${o.returnPpm.toFixed(3)} ppm`)].join("\n");
}
