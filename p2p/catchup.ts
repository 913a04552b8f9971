/**
 * Consensus catch-up: gossip delivers each message once, so a validator that was not connected
 * (restarting, a partition healing) when the proposal and votes of a round went out never sees
 * them. When a round times out, the node asks a peer for the messages its engine took at that
 * height, and runs each through the same topic validator as gossip (a forged one is rejected and
 * the peer penalized). CometBFT gossips votes per peer for the same reason.
 *
 *   protocol  /cloudcoin/<chainId>/consensus/1
 *   request   [height]
 *   response  [message, ...]   chain/consensus/messages.ts bytes, at most MAX_CATCHUP_BYTES in all
 */
import { asArray, asBytes, asU64, decode, encode, u64 } from "../primitives/codec.ts";
import { PENALTY, PeerMisbehaviour, type RequestHandler, type TopicHandler } from "./host.ts";

export const catchupProtocol = (chainId: string): string => `/cloudcoin/${chainId}/consensus/1`;
export const MAX_CATCHUP_BYTES = 32 * 1024 * 1024;

export function catchupHandler(messagesOf: (height: bigint) => Uint8Array[]): RequestHandler {
  return {
    maxRequestBytes: 16,
    async respond(request) {
      let height: bigint;
      try {
        height = asU64(asArray(decode(request, 16), "request", 1)[0], "height");
      } catch (e) {
        throw new PeerMisbehaviour(`malformed catch-up request: ${(e as Error).message}`, PENALTY.MALFORMED);
      }
      const out: Uint8Array[] = [];
      let bytes = 0;
      // Votes first (small, most useful), then proposals while they fit.
      const all = messagesOf(height);
      for (const m of [...all.filter((m) => m.length < 1024), ...all.filter((m) => m.length >= 1024)]) {
        if (bytes + m.length > MAX_CATCHUP_BYTES - 1024) continue;
        out.push(m);
        bytes += m.length;
      }
      return encode(out);
    },
  };
}

export const encodeCatchupRequest = (height: bigint): Uint8Array => encode([u64(height)]);

/**
 * Runs the messages of a catch-up response through the topic validators; returns how many were
 * accepted. Throws PeerMisbehaviour if the response does not decode or a message is rejected.
 */
export async function feedCatchup(response: Uint8Array, handlers: { vote: TopicHandler; proposal: TopicHandler }, from: string): Promise<number> {
  let messages: Uint8Array[];
  try {
    messages = asArray(decode(response, MAX_CATCHUP_BYTES), "messages").map((m) => asBytes(m, "message"));
  } catch (e) {
    throw new PeerMisbehaviour(`malformed catch-up response: ${(e as Error).message}`, PENALTY.MALFORMED);
  }
  let accepted = 0;
  let rejected = 0;
  for (const m of messages) {
    const handler = m.length <= handlers.vote.maxBytes ? handlers.vote : handlers.proposal;
    if (m.length > handler.maxBytes) {
      rejected++;
      continue;
    }
    const v = await handler.handle(m, from);
    if (v === "accept") accepted++;
    else if (v === "reject") rejected++;
  }
  if (rejected > 0) throw new PeerMisbehaviour(`${rejected} invalid message(s) in a catch-up response`);
  return accepted;
}
