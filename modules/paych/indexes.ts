/** The block-store indexes of payment channels (chain/registry.ts IndexSpec), fed by paychOpen events. */
import { defineIndex } from "../../chain/registry.ts";
import type { ChainEvent } from "../../chain/exec.ts";

type Open = Extract<ChainEvent, { kind: "paychOpen" }>;

/** 'P' payer channelId -> empty */
export const CHANNELS_BY_PAYER = 0x50;
/** 'Q' payee channelId -> empty */
export const CHANNELS_BY_PAYEE = 0x51;

export const paychIndexes = [
  defineIndex<Open>({ code: CHANNELS_BY_PAYER, name: "channelsByPayer", kind: "paychOpen", entries: (e) => [{ key: [e.payer, e.channel] }] }),
  defineIndex<Open>({ code: CHANNELS_BY_PAYEE, name: "channelsByPayee", kind: "paychOpen", entries: (e) => [{ key: [e.payee, e.channel] }] }),
];
