/**
 * The JSON form of every chain event (rpc/json.ts eventJson) as a zod schema: what WebSocket
 * `events` subscribers receive (with the block `height` added) and what test/helpers/chain.ts
 * advanceChecked holds every event of every test block to. Hex for bytes, decimal strings for
 * amounts, cc1 addresses for account keys, numbers for heights, epochs and counts.
 */
import { z } from "zod";

const hash = z.string().regex(/^[0-9a-f]{64}$/);
const address = z.string().startsWith("cc1");
const decimal = z.string().regex(/^(0|[1-9][0-9]*)$/);
const count = z.int().min(0);

const txEvent = { txHash: hash };

export const eventSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("transfer"), ...txEvent, from: address, to: address, amount: decimal }),
  z.object({ kind: z.literal("fee"), ...txEvent, payer: address, burned: decimal, toProposer: decimal }),
  z.object({ kind: z.literal("stake"), ...txEvent, account: address, amount: decimal }),
  z.object({ kind: z.literal("unstake"), ...txEvent, account: address, amount: decimal, releaseHeight: count }),
  z.object({ kind: z.literal("validatorRegister"), ...txEvent, validator: address, name: z.string() }),
  z.object({ kind: z.literal("unjail"), ...txEvent, validator: address }),
  z.object({ kind: z.literal("unbonded"), account: address, amount: decimal }),
  z.object({ kind: z.literal("slash"), validator: address, amount: decimal, evidenceHeight: count }),
  z.object({ kind: z.literal("jail"), validator: address, until: count, reason: z.enum(["doubleSign", "downtime"]) }),
  z.object({ kind: z.literal("paychOpen"), ...txEvent, channel: hash, payer: address, payee: address, deposit: decimal, settleDelay: count }),
  z.object({ kind: z.literal("paychFund"), ...txEvent, channel: hash, payer: address, amount: decimal, deposit: decimal }),
  z.object({ kind: z.literal("paychRedeem"), ...txEvent, channel: hash, payee: address, amount: decimal, redeemed: decimal, nonce: decimal }),
  z.object({ kind: z.literal("paychClose"), ...txEvent, channel: hash, closingAt: count }),
  z.object({ kind: z.literal("paychWithdraw"), ...txEvent, channel: hash, payer: address, amount: decimal }),
  z.object({
    kind: z.literal("providerRegister"), ...txEvent, provider: address, providerKind: z.enum(["storage", "bandwidth"]), collateral: decimal, capacity: decimal,
    multiaddr: z.string(),
  }),
  z.object({ kind: z.literal("providerExit"), ...txEvent, provider: address, returned: decimal, activeDeals: count }),
  z.object({ kind: z.literal("providerCollateralReturned"), provider: address, epoch: count, amount: decimal }),
  z.object({ kind: z.literal("providerBan"), provider: address, epoch: count, until: count, strikes: count }),
  z.object({
    kind: z.literal("storageDeal"), ...txEvent, deal: hash, client: address, provider: address, size: decimal, escrow: decimal, collateral: decimal, startEpoch: count,
  }),
  z.object({ kind: z.literal("storageProof"), ...txEvent, deal: hash, provider: address, epoch: count }),
  z.object({ kind: z.literal("storagePayment"), deal: hash, provider: address, epoch: count, amount: decimal }),
  z.object({ kind: z.literal("storageSlash"), deal: hash, provider: address, client: address, epoch: count, amount: decimal, misses: count }),
  z.object({
    kind: z.literal("storageDealEnd"), deal: hash, provider: address, client: address, epoch: count, reason: z.enum(["completed", "failed"]),
    refunded: decimal, unlocked: decimal,
  }),
  z.object({
    kind: z.literal("reward"), epoch: count, to: address, amount: decimal, pool: z.enum(["storage", "bandwidth", "validator"]), basis: decimal,
    reputationBps: z.int().min(0).max(10_000),
  }),
  z.object({ kind: z.literal("bandwidthAssign"), relay: address, epoch: count, witnesses: z.array(address) }),
  z.object({ kind: z.literal("bandwidthAttest"), ...txEvent, relay: address, epoch: count, witness: address, throughput: decimal }),
  z.object({ kind: z.literal("bandwidthCredit"), relay: address, epoch: count, attestations: count, credited: decimal }),
  z.object({ kind: z.literal("attestSlash"), witness: address, relay: address, epoch: count, amount: decimal }),
]);
export type EventJson = z.infer<typeof eventSchema>;
