/**
 * Following the network's placements (storage orders): the replicas the chain drew onto this
 * provider, which it must fetch from the client, check against the order's root, and accept
 * (storage.accept) before the end of the placement's deadline epoch, or decline (storage.decline).
 *
 * The provider learns where to fetch from the client itself: the client announces an HTTP URL for
 * its order (POST /placements/ORDER {source}); announcements are not trusted, since whatever a URL
 * serves is checked against the root on chain, and a source that serves the wrong bytes is
 * dropped. A placement that cannot be fetched by `declineMarginBlocks` before its last block is
 * declined: a decline costs nothing, a placement left to expire is a missed service epoch.
 *
 * `placementAction` is the pure decision; `fetchPlacement` streams a source into the deal store.
 */
import { fromHex, toHex } from "../../primitives/bytes.ts";
import { CodedError } from "../../primitives/errors.ts";
import { DealStoreError, type DealStore, type Ingested } from "./deals.ts";

/** One pending placement as storage_getPlacements gives it. */
export interface PlacementInfo {
  readonly order: string;
  readonly client: string;
  readonly root: string;
  readonly size: string;
  readonly chunkSize: number;
  readonly pricePerEpoch: string;
  readonly durationEpochs: number;
  readonly epoch: number;
  readonly deadline: number;
  readonly deadlineHeight: number;
}

export type PlacementState =
  /** no data yet: fetch from a known source, or wait for one */
  | "fetching"
  /** the data is held (committed as the network deal's files): accept */
  | "fetched"
  /** storage.accept sent (txHash): wait for it to land */
  | "accepting"
  /** storage.decline sent (txHash) */
  | "declining"
  /** the accept failed in its block (an exiting provider, say): decline instead */
  | "refused";

export interface PlacementJob {
  readonly info: PlacementInfo;
  state: PlacementState;
  /** Sources announced for the order and not yet found wrong, oldest first. */
  readonly sources: string[];
  /** The last accept or decline sent, and the head height then. */
  txHash?: string;
  sentAtHeight?: number;
  /** Fetch attempts that failed (unreachable, wrong root, ...). */
  failures: number;
  /** A fetch is running (in the background: proofs do not wait for it). */
  fetching?: boolean;
}

export type PlacementAction = "fetch" | "accept" | "decline" | "wait";

/**
 * What to do next for `job` at head height `head`. A transaction sent is given `resendAfterBlocks`
 * blocks to land (the placement then leaves storage_getPlacements) before it is sent again.
 */
export function placementAction(job: PlacementJob, head: number, opts: { declineMarginBlocks: number; resendAfterBlocks: number }): PlacementAction {
  if (head >= job.info.deadlineHeight) return "wait"; // no block of the window is left: the chain expires it
  if (job.state === "accepting" || job.state === "declining") {
    if (head - (job.sentAtHeight ?? head) < opts.resendAfterBlocks) return "wait";
    return job.state === "accepting" ? "accept" : "decline";
  }
  if (job.state === "fetched") return "accept";
  if (job.state === "refused") return "decline";
  if (head + opts.declineMarginBlocks >= job.info.deadlineHeight) return "decline"; // even with a fetch still running: its data would come too late
  return job.sources.length > 0 && !job.fetching ? "fetch" : "wait";
}

export class PlacementError extends CodedError<"BAD_SOURCE" | "FETCH_FAILED" | "WRONG_ROOT" | "WRONG_SIZE"> {}

/** A source URL a client may announce: http(s), at most 2048 characters. */
export function parseSource(s: unknown): string {
  if (typeof s !== "string" || s.length > 2048) throw new PlacementError("BAD_SOURCE", "source must be an http(s) URL");
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new PlacementError("BAD_SOURCE", "source must be an http(s) URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new PlacementError("BAD_SOURCE", "source must be an http(s) URL");
  return u.href;
}

/**
 * Streams `source` into the deal store and checks it is the order's data (same size, same RFC 6962
 * root with the order's chunk size). Nothing is kept unless it is; the caller commits the upload.
 */
export async function fetchPlacement(deals: DealStore, info: PlacementInfo, source: string, timeoutMs: number): Promise<Ingested> {
  const size = BigInt(info.size);
  let res: Response;
  try {
    res = await fetch(source, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new PlacementError("FETCH_FAILED", `${source}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new PlacementError("FETCH_FAILED", `${source}: HTTP ${res.status}`);
  let up: Ingested;
  try {
    up = await deals.ingest(res.body as unknown as AsyncIterable<Uint8Array>, info.chunkSize, size);
  } catch (e) {
    if (e instanceof DealStoreError) throw new PlacementError("WRONG_SIZE", `${source}: ${e.message}`);
    throw new PlacementError("FETCH_FAILED", `${source}: ${(e as Error).message}`);
  }
  if (up.size !== size) {
    await deals.discard(up.tmp);
    throw new PlacementError("WRONG_SIZE", `${source} served ${up.size} bytes, the order is ${size}`);
  }
  if (toHex(up.root) !== toHex(fromHex(info.root))) {
    await deals.discard(up.tmp);
    throw new PlacementError("WRONG_ROOT", `${source} served data whose root is ${toHex(up.root)}, not the order's ${info.root}`);
  }
  return up;
}
