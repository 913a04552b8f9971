/** The block-store indexes of storage deals (chain/registry.ts IndexSpec), fed by storageDeal events. */
import { defineIndex } from "../../chain/registry.ts";
import type { ChainEvent } from "../../chain/exec.ts";

type Deal = Extract<ChainEvent, { kind: "storageDeal" }>;

/** 'D' client dealId -> empty */
export const DEALS_BY_CLIENT = 0x44;
/** 'E' provider dealId -> empty */
export const DEALS_BY_PROVIDER = 0x45;

export const storageIndexes = [
  defineIndex<Deal>({ code: DEALS_BY_CLIENT, name: "dealsByClient", kind: "storageDeal", entries: (e) => [{ key: [e.client, e.deal] }] }),
  defineIndex<Deal>({ code: DEALS_BY_PROVIDER, name: "dealsByProvider", kind: "storageDeal", entries: (e) => [{ key: [e.provider, e.deal] }] }),
];
