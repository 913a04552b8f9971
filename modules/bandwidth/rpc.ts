/**
 * The proof-of-bandwidth part of the method table (docs/protocol.md section 6; docs/rpc-guide.md), spread into
 * `methods` (rpc/methods.ts): witness assignments, relays, attestations, and submitting an
 * attestation. Everything is read from the head state, which keeps the records of the last
 * BANDWIDTH_RECORD_EPOCHS epochs (chain/bandwidth.ts); lists page by an exclusive cursor (a relay
 * address) with the same hard cap as the storage lists.
 *
 * "The current epoch" is the epoch of the block being built (head + 1): its witnesses are known
 * from its first block on, and attestations for it are taken until its last block.
 */
import { z } from "zod";
import { compareBytes, fromHex, toHex } from "../../primitives/bytes.ts";
import {
  assignmentSource, BANDWIDTH_RECORD_EPOCHS, BandwidthError, BandwidthErrorCode, checkAttestation, conflictingAttestation, listAssignments, readLookbackSeed, readRelayEpoch,
  readSnapshot, readWitnessRecord, RelayLimit, relayIpGroup, unjudgedReason, attestationOf, type RelayEpoch,
} from "./bandwidth.ts";
import type { ChainParams } from "../../chain/params.ts";
import { CodedError } from "../../primitives/errors.ts";
import { firstHeightOfEpoch, proofWindow } from "../../chain/epoch.ts";
import { duplicateAttestationEvidence } from "./evidence.ts";
import { fromAddress, toAddress } from "../../primitives/keys.ts";
import { isBanned, ProviderKind, readProvider, reputationBps } from "../storage/storage.ts";
import { decodeTx, validateTxBasic } from "../../chain/tx.ts";
import type { RpcContext } from "../../rpc/context.ts";
import { currentEpoch } from "../../rpc/json.ts";
import { attestationJson } from "./json.ts";
import { providerJson } from "../storage/json.ts";
import { MAX_STORAGE_PAGE, providerSchema } from "../storage/rpc.ts";
import { defineMethod, type MethodTable } from "../../rpc/table.ts";
import { TxErrorCode } from "../../chain/tx.ts";
import { address, decimal, u64Param } from "../../rpc/methods.ts";

export const BandwidthRpcErrorCode = {
  /** proof_submitBandwidth with a transaction whose operation is not bandwidth.attest. */
  NOT_AN_ATTESTATION: "NOT_AN_ATTESTATION",
} as const;

const epochParam = u64Param;
const limit = z.int().min(1).max(MAX_STORAGE_PAGE).default(20);

const attestationSchema = z.object({
  relay: z.string(), epoch: z.number(), bytes: decimal, throughput: decimal, latency: decimal, witness: z.string(), signature: z.string(),
});
/**
 * `judged`: null before the settlement, then whether the relay was judged; `reason` why it is not
 * (or will not be, when already certain): ipLimit, noIp, fewWitnesses, fewAttestations.
 */
const currentSchema = z.object({
  epoch: z.number(), witnesses: z.array(z.string()), attestations: z.number(), credited: decimal.nullable(), judged: z.boolean().nullable(),
  reason: z.enum(["ipLimit", "noIp", "fewWitnesses", "fewAttestations"]).nullable(),
});
const LIMIT_NAMES = { [RelayLimit.NONE]: null, [RelayLimit.IP_LIMIT]: "ipLimit", [RelayLimit.NO_IP]: "noIp" } as const;

/** Whether the head state still holds `epoch`'s records (and has made them): the current one from its first block, and the few before it. */
function recordsKept(ctx: RpcContext, epoch: bigint): boolean {
  const current = currentEpoch(ctx.store.head.height, ctx.params);
  const assigned = ctx.store.head.height >= firstHeightOfEpoch(epoch, ctx.params.epochLength);
  return assigned && epoch <= current && epoch + BigInt(BANDWIDTH_RECORD_EPOCHS) > current;
}

function currentJson(r: RelayEpoch | undefined, params: ChainParams, settled: boolean) {
  if (!r) return null;
  const reason = unjudgedReason(r, params) ?? null;
  // before the settlement only the reasons fixed at assignment are certain
  const certain = reason === "ipLimit" || reason === "noIp" || reason === "fewWitnesses" ? reason : null;
  return {
    epoch: Number(r.epoch), witnesses: r.witnesses.map(toAddress), attestations: r.attestations.length, credited: r.credited === null ? null : r.credited.toString(),
    judged: settled ? r.credited !== null : certain !== null ? false : null, reason: settled ? (r.credited !== null ? null : reason) : certain,
  };
}

export const bandwidthMethods = {
  bandwidth_getAssignments: defineMethod({
    description:
      "The witnesses the chain assigned to each relay in an epoch (default: the current one, the epoch of the next block), drawn with the lookback: from " +
      "the seed of epoch seedEpoch (= epoch - 1, `seed`: the chain seed after its last block, null once pruned) over the candidate snapshot frozen at the end of epoch snapshotEpoch (= epoch - 2, " +
      "bandwidth_getSnapshot), weighted by stake and collateral (assignWitnesses: anyone can recompute them), with each relay's registered multiaddr and " +
      "`limited` (ipLimit: over maxRelaysPerIp at its IP, noIp: no /ip4 or /ip6 address; such relays get no witnesses); with `witness`, only " +
      `the relays that witness must probe; minProbeBytes is the smallest probe an attestation may report. Relays in key order, at most ${MAX_STORAGE_PAGE} a page; pass nextCursor back as cursor. ` +
      `\`known\` is false before the epoch's first block and for epochs older than the last ${BANDWIDTH_RECORD_EPOCHS}.`,
    params: z.object({ epoch: epochParam.optional(), witness: address.optional(), cursor: address.optional(), limit }),
    result: z.object({
      epoch: z.number(), known: z.boolean(), headHeight: z.number(), window: z.object({ from: z.number(), to: z.number() }),
      witnessesPerRelay: z.number(), quorum: z.number(), minProbeBytes: z.number(),
      seedEpoch: z.number(), seed: z.string().nullable(), snapshotEpoch: z.number(),
      assignments: z.array(z.object({ relay: z.string(), multiaddr: z.string(), witnesses: z.array(z.string()), limited: z.enum(["ipLimit", "noIp"]).nullable() })),
      nextCursor: z.string().nullable(),
    }),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const head = ctx.store.head.height;
      const epoch = p.epoch ?? currentEpoch(head, ctx.params);
      const window = proofWindow(epoch, ctx.params.epochLength);
      const known = recordsKept(ctx, epoch);
      const witness = p.witness !== undefined ? fromAddress(p.witness) : undefined;
      const after = p.cursor !== undefined ? fromAddress(p.cursor) : undefined;
      const out: { relay: string; multiaddr: string; witnesses: string[]; limited: "ipLimit" | "noIp" | null }[] = [];
      let nextCursor: string | null = null;
      if (known) {
        for (const a of listAssignments(state, epoch)) {
          if (after !== undefined && compareBytes(a.relay, after) <= 0) continue;
          if (witness !== undefined && !a.witnesses.some((k) => compareBytes(k, witness) === 0)) continue;
          if (out.length === p.limit) {
            nextCursor = out[out.length - 1]!.relay;
            break;
          }
          const limited = LIMIT_NAMES[readRelayEpoch(state, a.relay, epoch)!.limited];
          out.push({ relay: toAddress(a.relay), multiaddr: readProvider(state, a.relay)?.multiaddr ?? "", witnesses: a.witnesses.map(toAddress), limited });
        }
      }
      const source = assignmentSource(epoch);
      const seed = known ? readLookbackSeed(state, source.seedEpoch) : undefined;
      return {
        epoch: Number(epoch), known, headHeight: Number(head), window: { from: Number(window.from), to: Number(window.to) },
        witnessesPerRelay: ctx.params.witnessesPerRelay, quorum: ctx.params.attestQuorum, minProbeBytes: ctx.params.minProbeBytes,
        seedEpoch: Number(source.seedEpoch), seed: seed ? toHex(seed) : null, snapshotEpoch: Number(source.snapshotEpoch), assignments: out, nextCursor,
      };
    },
  }),

  bandwidth_getRelay: defineMethod({
    description:
      "A bandwidth relay at the head: its provider record (collateral, capacity in bytes/s, multiaddr, ban, reputation in bps) and its current epoch's " +
      "witnesses, attestations accepted so far and credited throughput (null until the epoch is settled), whether it is judged (null until known) and why not " +
      "(ipLimit, noIp, fewWitnesses, fewAttestations: a relay not judged gets no credit and no ban). `ipGroup`: the address the per-IP limit counts it " +
      "under (ip4:a.b.c.d, or the /64 of an ip6 address); null if its multiaddr has no /ip4 or /ip6 address (a DNS name: the chain cannot resolve it), " +
      "so it is never assigned witnesses (noIp). `last`: the epoch before the current one, settled: its credit, whether it was judged and why not " +
      "(null if it was not assigned then). Null if the address never registered as a relay.",
    params: z.object({ address }),
    result: providerSchema.extend({ ipGroup: z.string().nullable(), current: currentSchema.nullable(), last: currentSchema.nullable() }).nullable(),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const key = fromAddress(p.address);
      const pr = readProvider(state, key);
      if (!pr || pr.kind !== ProviderKind.BANDWIDTH) return null;
      const epoch = currentEpoch(ctx.store.head.height, ctx.params);
      return {
        ...providerJson(pr, epoch, ctx.params), ipGroup: relayIpGroup(pr.multiaddr) ?? null,
        current: currentJson(readRelayEpoch(state, key, epoch), ctx.params, false), last: currentJson(readRelayEpoch(state, key, epoch - 1n), ctx.params, true),
      };
    },
  }),

  bandwidth_getWitness: defineMethod({
    description:
      "A key's record as a bandwidth witness at the head: every assigned witness of a relay owes one attestation an epoch (a failed probe is attested " +
      "as throughput 0); one that does not attest misses a service epoch: its reputation (attested / assigned over the last reputationWindowEpochs, " +
      "in bps) falls and it is banned from the witness draw for 1, 6, then 144 epochs (strikes). `reputation` lists (epoch, attested, assigned). " +
      "A key that never witnessed has an empty record (full reputation).",
    params: z.object({ address }),
    result: z.object({
      address: z.string(), banned: z.boolean(), bannedUntil: z.number(), strikes: z.number(), lastFailureEpoch: z.number(), reputationBps: z.number(),
      reputation: z.array(z.object({ epoch: z.number(), made: z.number(), due: z.number() })),
    }),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const r = readWitnessRecord(ctx.headState(), fromAddress(p.address));
      const epoch = currentEpoch(ctx.store.head.height, ctx.params);
      return {
        address: p.address, banned: isBanned(r, epoch), bannedUntil: Number(r.bannedUntil), strikes: r.strikes, lastFailureEpoch: Number(r.lastFailureEpoch),
        reputationBps: reputationBps(r, epoch, ctx.params.reputationWindowEpochs), reputation: r.reputation.map((x) => ({ epoch: Number(x.epoch), made: x.made, due: x.due })),
      };
    },
  }),

  bandwidth_getAttestations: defineMethod({
    description:
      "The attestations accepted for a relay in an epoch, in inclusion order, with its assigned witnesses and, once the epoch is settled, the credited " +
      `throughput (the lower median of at least quorum attestations, capped at the relay's capacity; 0 = not credited). \`known\` is false when the state ` +
      `holds no record for them (not assigned in that epoch, the epoch has not begun, or it is older than the last ${BANDWIDTH_RECORD_EPOCHS}).`,
    params: z.object({ relay: address, epoch: epochParam }),
    result: z.object({
      relay: z.string(), epoch: z.number(), known: z.boolean(), witnesses: z.array(z.string()), attestations: z.array(attestationSchema),
      credited: decimal.nullable(), quorum: z.number(), punished: z.array(z.string()),
      judged: z.boolean().nullable(), reason: z.enum(["ipLimit", "noIp", "fewWitnesses", "fewAttestations"]).nullable(),
    }),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const r = readRelayEpoch(ctx.headState(), fromAddress(p.relay), p.epoch);
      const settled = p.epoch < currentEpoch(ctx.store.head.height, ctx.params);
      const j = currentJson(r, ctx.params, settled);
      return {
        judged: j?.judged ?? null, reason: j?.reason ?? null,
        relay: p.relay, epoch: Number(p.epoch), known: r !== undefined, witnesses: r ? r.witnesses.map(toAddress) : [],
        attestations: r ? r.attestations.map((e) => attestationJson(attestationOf(r, e))) : [], credited: r?.credited == null ? null : r.credited.toString(),
        quorum: ctx.params.attestQuorum, punished: r ? r.punished.map(toAddress) : [],
      };
    },
  }),

  bandwidth_getSnapshot: defineMethod({
    description:
      "The witness candidate snapshot frozen at the end of an epoch (used for the assignment of epoch + 2): each candidate's weight is the minimum of " +
      "its weights (active provider collateral + validator power, banned keys left out) at the ends of epoch - 1 and epoch, and the relays active at " +
      `both. \`known\` is false if the state does not hold it (not yet frozen, or older than the last ${BANDWIDTH_RECORD_EPOCHS} epochs).`,
    params: z.object({ epoch: epochParam }),
    result: z.object({ epoch: z.number(), known: z.boolean(), candidates: z.array(z.object({ address: z.string(), weight: decimal })), relays: z.array(z.string()) }),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const s = readSnapshot(ctx.headState(), p.epoch);
      return {
        epoch: Number(p.epoch), known: s !== undefined, candidates: s ? s.candidates.map((c) => ({ address: toAddress(c.key), weight: c.weight.toString() })) : [],
        relays: s ? s.relays.map(toAddress) : [],
      };
    },
  }),

  proof_submitBandwidth: defineMethod({
    description:
      "Submits a signed bandwidth.attest transaction (hex of its CBOR envelope) to the mempool, after checking it against the head state as the next block " +
      "would (BANDWIDTH_* codes: unregistered relay, late, wrong epoch, not assigned, duplicate, probe too small, bad signature); the node gossips it. A " +
      "second, different attestation by the same witness for the same relay and epoch is refused as BANDWIDTH_ATTEST_DUPLICATE and becomes evidence " +
      "against the witness (data.evidence true; false for an identical one, or evidence already pooled or invalid). Any other operation: NOT_AN_ATTESTATION.",
    params: z.object({ tx: z.string().regex(/^([0-9a-fA-F]{2})+$/, "must be hex bytes").max(8 * 1024) }),
    result: z.object({ hash: z.string(), relay: z.string(), epoch: z.number(), witness: z.string() }),
    permission: "write",
    errors: [...Object.values(TxErrorCode), ...Object.values(BandwidthErrorCode), ...Object.values(BandwidthRpcErrorCode)],
    handler: (p, ctx: RpcContext) => {
      const bytes = fromHex(p.tx);
      const tx = decodeTx(bytes);
      if (tx.op.type !== "bandwidth.attest") {
        throw new CodedError(BandwidthRpcErrorCode.NOT_AN_ATTESTATION, `proof_submitBandwidth takes bandwidth.attest transactions, not ${tx.op.type}; use tx_send`, { op: tx.op.type });
      }
      validateTxBasic(tx, ctx.chainId);
      const a = tx.op.attestation;
      const state = ctx.headState();
      try {
        checkAttestation(state, a, ctx.store.head.height + 1n, ctx.params, ctx.chainId);
      } catch (e) {
        if (!(e instanceof BandwidthError) || e.code !== BandwidthErrorCode.ATTEST_DUPLICATE) throw e;
        // every duplicate answers data.evidence: true only if a double attestation was newly pooled as evidence
        const stored = conflictingAttestation(state, a);
        let evidence = false;
        if (stored !== undefined && ctx.reportEvidence !== undefined) {
          // the new attestation's signature is checked by the evidence rules (its own check comes after the duplicate one)
          try {
            evidence = ctx.reportEvidence(duplicateAttestationEvidence(ctx.chainId, stored, a));
          } catch {
            evidence = false; // not valid evidence (e.g. a forged second signature): only the duplicate is reported
          }
        }
        throw new BandwidthError(e.code, e.message, { ...e.data, evidence });
      }
      const admitted = ctx.submitTx(bytes);
      return { hash: toHex(admitted.hash), relay: toAddress(a.relay), epoch: Number(a.epoch), witness: toAddress(a.witness) };
    },
  }),
} satisfies MethodTable<RpcContext>;

type BandwidthMethods = typeof bandwidthMethods;
declare module "../../rpc/methods.ts" {
  interface Methods extends BandwidthMethods {}
}
