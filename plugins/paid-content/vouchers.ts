/**
 * The voucher logic a paid service needs, shared by the paid-content server and the ad slot:
 * accept a voucher only if the node says it is payable (paych_checkVoucher: signature, funds,
 * channel open, nonce), the channel pays THIS service, and it adds at least the price over the
 * last voucher accepted on that channel; then hand it to the node (paych_submitVoucher) so the
 * node keeps the best one, and redeem through the node's service key (paych_redeem) at settle.
 *
 * A payee stays safe against a payer that closes the channel under it (docs/protocol.md section 8): the
 * gate refuses channels whose settle delay is below its own minimum (minSettleDelay, time enough
 * to notice a close and get a redeem into a block), refuses vouchers on a channel already closing,
 * and `watchCloses` polls the channels it holds vouchers for and redeems one as soon as it sees it
 * closing. The redeem's fee comes from the payout on chain, so the payee needs no balance.
 *
 * Uses only the JSON-RPC client: a plugin needs no node internals.
 */
import { RpcClient, RpcClientError } from "../../rpc/client.ts";

/** Reasons this gate gives on its own (the node's PAYCH_* codes are passed through as they are). */
export const GateErrorCode = {
  /** No x-voucher header. */
  PAYMENT_REQUIRED: "PAYMENT_REQUIRED",
  /** Not hex. */
  VOUCHER_MALFORMED: "VOUCHER_MALFORMED",
  /** The channel pays someone else. */
  WRONG_PAYEE: "PAYCH_WRONG_PAYEE",
  /** Cumulative amount does not cover what is asked, or adds less than the price. */
  INSUFFICIENT: "PAYMENT_INSUFFICIENT",
  /** The node could not be asked. */
  NODE_UNAVAILABLE: "NODE_UNAVAILABLE",
  /** The channel's settle delay is below this gate's minimum: the payer could close and withdraw before a redeem lands. */
  SETTLE_DELAY_TOO_SHORT: "SETTLE_DELAY_TOO_SHORT",
  /** The payer already closed the channel: no more service on it. */
  CHANNEL_CLOSING: "PAYCH_CHANNEL_CLOSING",
} as const;

/** The gate's default minimum settle delay, blocks (20 s at the devnet's 1 s blocks). */
export const DEFAULT_MIN_SETTLE_DELAY = 20;

export type GateResult =
  | { readonly ok: true; readonly channel: string; readonly amount: bigint; readonly nonce: bigint; readonly paid: bigint }
  | { readonly ok: false; readonly code: string; readonly message: string };

export interface ChannelTally {
  /** Cumulative amount of the last accepted voucher. */
  amount: bigint;
  nonce: bigint;
  /** Vouchers accepted on this channel by this gate. */
  accepted: number;
  /** Amount already redeemed by settle() calls. */
  redeemedTo: bigint;
}

export interface VoucherGateOptions {
  /** The node's JSON-RPC endpoint and a bearer token with the `sign` permission (for paych_redeem). */
  rpcUrl: string;
  token?: string;
  /** This service's address (cc1...): the payee of the channels it accepts, the node's service key. */
  payee: string;
  /** Channels with a shorter settle delay (blocks) are refused (default DEFAULT_MIN_SETTLE_DELAY). */
  minSettleDelay?: number;
}

export class VoucherGate {
  readonly rpc: RpcClient;
  readonly payee: string;
  readonly minSettleDelay: number;
  readonly channels = new Map<string, ChannelTally>();
  /** Payee per channel id, once looked up (a channel's payee never changes). */
  readonly #payeeOf = new Map<string, string>();
  /** One check at a time per channel, so two concurrent requests cannot spend the same increment. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(opts: VoucherGateOptions) {
    this.rpc = new RpcClient({ url: opts.rpcUrl, ...(opts.token ? { token: opts.token } : {}) });
    this.payee = opts.payee;
    this.minSettleDelay = opts.minSettleDelay ?? DEFAULT_MIN_SETTLE_DELAY;
  }

  /**
   * Accepts `voucherHex` as payment of `price` whose cumulative amount on its channel must reach at
   * least `minCumulative`; the voucher is submitted to the node before this resolves ok.
   */
  async accept(voucherHex: string | undefined, price: bigint, minCumulative = 0n): Promise<GateResult> {
    if (voucherHex === undefined || voucherHex === "") return { ok: false, code: GateErrorCode.PAYMENT_REQUIRED, message: "send a voucher in the x-voucher header" };
    if (!/^([0-9a-fA-F]{2}){1,4096}$/.test(voucherHex)) return { ok: false, code: GateErrorCode.VOUCHER_MALFORMED, message: "x-voucher must be hex" };
    let checked;
    try {
      checked = await this.rpc.call("paych_checkVoucher", { voucher: voucherHex });
    } catch (e) {
      return rejection(e);
    }
    if (!checked.ok) return { ok: false, code: "PAYCH_REJECTED", message: "the node did not accept the voucher" };
    const channel = checked.channel.toLowerCase();
    if (checked.settleDelay < this.minSettleDelay) {
      return { ok: false, code: GateErrorCode.SETTLE_DELAY_TOO_SHORT, message: `channel ${channel} settles ${checked.settleDelay} blocks after a close; this service needs at least ${this.minSettleDelay}` };
    }
    if (checked.state !== "open") return { ok: false, code: GateErrorCode.CHANNEL_CLOSING, message: `channel ${channel} is closing (the payer may withdraw from height ${checked.closingAt})` };
    return this.#serialized(channel, () => this.#acceptChecked(voucherHex, channel, BigInt(checked.amount), BigInt(checked.nonce), price, minCumulative));
  }

  async #acceptChecked(voucherHex: string, channel: string, amount: bigint, nonce: bigint, price: bigint, minCumulative: bigint): Promise<GateResult> {
    try {
      let payee = this.#payeeOf.get(channel);
      if (payee === undefined) {
        const info = await this.rpc.call("paych_get", { channel });
        if (!info) return { ok: false, code: "PAYCH_UNKNOWN_CHANNEL", message: `no channel ${channel}` };
        payee = info.payee;
        this.#payeeOf.set(channel, payee);
      }
      if (payee !== this.payee) return { ok: false, code: GateErrorCode.WRONG_PAYEE, message: `channel ${channel} pays ${payee}, not ${this.payee}` };
      const tally = this.channels.get(channel) ?? { amount: 0n, nonce: 0n, accepted: 0, redeemedTo: 0n };
      if (tally.accepted > 0 && nonce <= tally.nonce) {
        return { ok: false, code: "PAYCH_STALE_NONCE", message: `nonce ${nonce} is not above the last accepted ${tally.nonce}` };
      }
      if (amount - tally.amount < price) {
        return { ok: false, code: GateErrorCode.INSUFFICIENT, message: `the voucher adds ${amount - tally.amount} over the last accepted ${tally.amount}; the price is ${price}` };
      }
      if (amount < minCumulative) {
        return { ok: false, code: GateErrorCode.INSUFFICIENT, message: `cumulative amount ${amount} does not cover ${minCumulative}` };
      }
      // The node keeps the best voucher: what paych_redeem will redeem (idempotent on resubmission).
      await this.rpc.call("paych_submitVoucher", { voucher: voucherHex });
      const paid = amount - tally.amount;
      this.channels.set(channel, { amount, nonce, accepted: tally.accepted + 1, redeemedTo: tally.redeemedTo });
      return { ok: true, channel, amount, nonce, paid };
    } catch (e) {
      return rejection(e);
    }
  }

  #serialized<T>(channel: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(channel) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#queues.set(channel, tail);
    void tail.then(() => {
      if (this.#queues.get(channel) === tail) this.#queues.delete(channel);
    });
    return next;
  }

  /**
   * Redeems, through the node's service key, every channel with accepted vouchers not yet redeemed;
   * waits for the redeem transactions to be finalized unless `wait` is false.
   */
  async settle(wait = true, timeoutMs = 30_000, only?: ReadonlySet<string>): Promise<SettleEntry[]> {
    const done: SettleEntry[] = [];
    for (const [channel, tally] of this.channels) {
      if (tally.amount <= tally.redeemedTo) continue;
      if (only !== undefined && !only.has(channel)) continue;
      const settled = await this.#serialized(channel, async (): Promise<SettleEntry> => {
        try {
          const { hash } = await this.rpc.call("paych_redeem", { channel });
          const entry: SettleEntry = { channel, amount: tally.amount.toString(), hash, status: "pending" };
          if (!wait) return entry;
          const deadline = Date.now() + timeoutMs;
          while (Date.now() < deadline) {
            const r = await this.rpc.call("tx_get", { hash });
            if (r.status === "finalized") {
              const ok = r.receipt?.ok === true;
              return { ...entry, status: ok ? "redeemed" : "failed", height: r.height, fee: r.receipt?.fee, ...(ok ? {} : { code: r.receipt?.code ?? undefined }) };
            }
            await new Promise((res) => setTimeout(res, 200));
          }
          return entry;
        } catch (e) {
          const r = rejection(e);
          return { channel, amount: tally.amount.toString(), hash: null, status: "failed", code: r.ok ? undefined : r.code };
        }
      });
      if (settled.status === "redeemed") tally.redeemedTo = tally.amount;
      done.push(settled);
    }
    return done;
  }
}

export interface CloseWatch {
  /** Stops polling (an in-flight round finishes). */
  stop(): void;
  /** One polling round now: redeems every channel with unredeemed vouchers that the payer closed. */
  poll(): Promise<SettleEntry[]>;
}

/**
 * Polls, every `intervalMs`, the channels `gate` holds unredeemed vouchers for (paych_get) and
 * redeems those the payer closed (state "closing"), before their closingAt. `onSettled` gets what
 * each round redeemed.
 */
export function watchCloses(gate: VoucherGate, intervalMs = 2000, onSettled?: (entries: SettleEntry[]) => void): CloseWatch {
  let running: Promise<SettleEntry[]> | null = null;
  const poll = (): Promise<SettleEntry[]> =>
    (running ??= (async () => {
      const closing = new Set<string>();
      for (const [channel, tally] of gate.channels) {
        if (tally.amount <= tally.redeemedTo) continue;
        try {
          const info = await gate.rpc.call("paych_get", { channel });
          if (info?.state === "closing") closing.add(channel);
        } catch {
          // the node is unreachable this round: the next one asks again
        }
      }
      const settled = closing.size > 0 ? await gate.settle(true, 30_000, closing) : [];
      if (settled.length > 0) onSettled?.(settled);
      return settled;
    })().finally(() => {
      running = null;
    }));
  const timer = setInterval(() => void poll().catch(() => undefined), intervalMs);
  timer.unref?.();
  return { stop: () => clearInterval(timer), poll };
}

export interface SettleEntry {
  channel: string;
  /** The cumulative amount accepted when settling. */
  amount: string;
  hash: string | null;
  status: "pending" | "redeemed" | "failed";
  height?: number | undefined;
  fee?: string | undefined;
  code?: string | undefined;
}

function rejection(e: unknown): { ok: false; code: string; message: string } {
  if (e instanceof RpcClientError) return { ok: false, code: e.code, message: e.message };
  const code = (e as { code?: unknown }).code;
  if (code === "RPC_UNREACHABLE") return { ok: false, code: GateErrorCode.NODE_UNAVAILABLE, message: (e as Error).message };
  return { ok: false, code: typeof code === "string" ? code : "ERROR", message: (e as Error).message };
}
