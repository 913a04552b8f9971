/**
 * The best voucher per channel a payee holds (docs/protocol.md section 8), node-local: not chain state,
 * kept in the block store's local keyspace 'X' (channelId -> voucher). Reads come from memory
 * (paych_checkVoucher must not touch the disk); writes are serialised, so concurrent submissions
 * leave exactly the best one. It checks no signature: callers check a voucher against the channel
 * (./paych.ts checkVoucher) before putting it.
 */
import { toHex } from "../../primitives/bytes.ts";
import { CodedError } from "../../primitives/errors.ts";
import { CHANNEL_ID_LENGTH, decodeVoucher, encodeVoucher, PaychError, PaychErrorCode, type Voucher } from "./paych.ts";

/** The store's keyspace for vouchers (registered by the module, chain/registry.ts LocalSpaceSpec). */
export const VOUCHER_SPACE = 0x58; // X

/** What the voucher store needs of the block store (chain/store.ts BlockStore.openLocalSpace). */
export interface LocalSpaceOpener {
  openLocalSpace(code: number): Promise<{ readonly entries: readonly [Uint8Array, Uint8Array][]; put(key: Uint8Array, value: Uint8Array): Promise<void> }>;
}

export class VoucherStoreError extends CodedError<"STORE_CORRUPT"> {}

/** Opens the voucher store on `store` (loads it whole). */
export async function openVoucherStore(store: LocalSpaceOpener): Promise<VoucherStore> {
  const space = await store.openLocalSpace(VOUCHER_SPACE);
  const best = new Map<string, Voucher>();
  for (const [k, v] of space.entries) {
    if (k.length !== CHANNEL_ID_LENGTH) throw new VoucherStoreError("STORE_CORRUPT", `malformed voucher key ${toHex(k)}`);
    best.set(toHex(k), decodeVoucher(v));
  }
  return new VoucherStore((k, v) => space.put(k, v), best);
}

export class VoucherStore {
  readonly #put: (key: Uint8Array, value: Uint8Array) => Promise<void>;
  readonly #best: Map<string, Voucher>;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(put: (key: Uint8Array, value: Uint8Array) => Promise<void>, best: Map<string, Voucher>) {
    this.#put = put;
    this.#best = best;
  }

  getBestVoucher(channel: Uint8Array): Voucher | undefined {
    return this.#best.get(toHex(channel));
  }

  /**
   * Keeps `v` if its nonce is above the stored voucher's (true), else leaves the store as it is
   * (false; so the same voucher twice is stored once). A higher nonce for a lower amount is a
   * payer going back on a promise: PaychError(NOT_MONOTONIC), nothing stored.
   */
  putBestVoucher(v: Voucher): Promise<boolean> {
    const run = this.#tail.then(async () => {
      const id = toHex(v.channel);
      const current = this.#best.get(id);
      if (current && v.nonce <= current.nonce) return false;
      if (current && v.amount < current.amount) {
        throw new PaychError(PaychErrorCode.NOT_MONOTONIC, `amount ${v.amount} below the stored voucher's ${current.amount} (nonce ${current.nonce})`);
      }
      await this.#put(v.channel, encodeVoucher(v));
      this.#best.set(id, v);
      return true;
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }
}
