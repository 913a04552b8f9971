/**
 * Two per-frame costs of the libp2p stack, measured on a loaded 4-validator devnet and cut here.
 * Imported by p2p/host.ts before any connection exists. Each is guarded: if the class no longer
 * looks as expected (another version), nothing is changed and its `patched` flag is false.
 *
 * 1. Fewer yamux window updates. js-yamux (@chainsafe/libp2p-yamux 8) answers every data frame it
 * receives with a window-update frame, even a vote of 150 bytes against a 256 KiB window: one
 * more noise-encrypted frame and one more socket write for each frame received. A profile of a
 * loaded 4-validator devnet put those updates at 5.6% of a node's event loop. go-yamux and
 * rust-yamux send an update only once at least half the window has been consumed; this applies
 * that rule to established streams. Opening (SYN/ACK flags), paused streams and everything else
 * keep js-yamux's own behaviour, and the sender never runs short: it still has at least half a
 * window granted when an update is skipped.
 *
 * 2. No exception per socket read. @libp2p/utils' LengthPrefixedDecoder, which splits the noise
 * stream into frames, asks its length decoder for the next length after every frame, and when a
 * read ended exactly on a frame boundary (the usual case) the decoder throws a RangeError ("not
 * enough bytes"), which the loop catches. A thrown error captures a stack: 2.5% of a loaded
 * node's event loop. Here the loop stops once the buffer is empty, where that throw was the only
 * thing left to happen; a partial length prefix still goes the original way.
 *
 * 3. One socket write per turn, not per chunk. @libp2p/tcp writes each chunk it is given with its
 * own socket.write, and noise hands it two per frame (the 2-byte length, then the ciphertext):
 * two system calls per yamux frame, 5.4% of a loaded node in writes alone. A TCP connection's
 * send queue now corks its socket and uncorks it on the next tick (Node's documented pattern),
 * so what one turn of the event loop sends goes out as one writev.
 */
import { StreamState, YamuxStream } from "@chainsafe/libp2p-yamux/stream";
import { Socket } from "node:net";
import { AbstractMessageStream, LengthPrefixedDecoder } from "@libp2p/utils";
import type { Uint8ArrayList } from "uint8arraylist";

interface WindowFields {
  state: StreamState;
  recvWindow: number;
  recvWindowCapacity: number;
  sendWindowUpdate(): void;
}

/** Counters for tests and benchmarks: updates skipped by the half-window rule, and calls passed on to js-yamux. */
export const windowUpdates = { patched: false, skipped: 0, passed: 0 };

const proto = YamuxStream.prototype as unknown as WindowFields;
const original = proto.sendWindowUpdate;
if (typeof original === "function" && StreamState.Established !== undefined && !windowUpdates.patched) {
  proto.sendWindowUpdate = function (this: WindowFields): void {
    if (this.state === StreamState.Established && typeof this.recvWindow === "number" && this.recvWindowCapacity * 2 > this.recvWindow) {
      windowUpdates.skipped++;
      return;
    }
    windowUpdates.passed++;
    original.call(this);
  };
  windowUpdates.patched = true;
}

/** Set when the length-prefixed decoder stops at an empty buffer instead of throwing. */
export const lengthPrefixed = { patched: false };

interface DecoderFields {
  buffer: Uint8ArrayList;
  decode(buf: Uint8Array | Uint8ArrayList): Generator<Uint8ArrayList, void, unknown>;
}

const lp = LengthPrefixedDecoder.prototype as unknown as DecoderFields;
const originalDecode = lp.decode;
if (typeof originalDecode === "function" && !lengthPrefixed.patched) {
  lp.decode = function* (this: DecoderFields, buf: Uint8Array | Uint8ArrayList): Generator<Uint8ArrayList, void, unknown> {
    for (const frame of originalDecode.call(this, buf)) {
      yield frame;
      // closing the original generator here skips only its failed attempt to read a length
      if (this.buffer?.byteLength === 0) return;
    }
  };
  lengthPrefixed.patched = true;
}

/** Set when TCP connections cork their socket for the rest of the tick; `uncorks` counts the batched flushes. */
export const corkedWrites = { patched: false, uncorks: 0 };

interface SendQueueFields {
  socket?: unknown;
  processSendQueue(): boolean;
}

const corked = new WeakSet<Socket>();
const uncork = (socket: Socket): void => {
  corked.delete(socket);
  corkedWrites.uncorks++;
  if (!socket.destroyed) socket.uncork();
};
const ams = AbstractMessageStream.prototype as unknown as SendQueueFields;
const originalSendQueue = ams.processSendQueue;
if (typeof originalSendQueue === "function" && !corkedWrites.patched) {
  ams.processSendQueue = function (this: SendQueueFields): boolean {
    const socket = this.socket;
    if (socket instanceof Socket && !corked.has(socket) && !socket.destroyed) {
      corked.add(socket);
      socket.cork();
      process.nextTick(uncork, socket);
    }
    return originalSendQueue.call(this);
  };
  corkedWrites.patched = true;
}
