/**
 * Fewer yamux window updates. js-yamux (@chainsafe/libp2p-yamux 8) answers every data frame it
 * receives with a window-update frame, even a vote of 150 bytes against a 256 KiB window: one
 * more noise-encrypted frame and one more socket write for each frame received. A profile of a
 * loaded 4-validator devnet put those updates at 5.6% of a node's event loop. go-yamux and
 * rust-yamux send an update only once at least half the window has been consumed; this applies
 * that rule to established streams. Opening (SYN/ACK flags), paused streams and everything else
 * keep js-yamux's own behaviour, and the sender never runs short: it still has at least half a
 * window granted when an update is skipped.
 *
 * Imported by p2p/host.ts before any muxer exists. Guarded: if the stream class no longer looks
 * as expected (another version), nothing is changed and `windowUpdates.patched` is false.
 */
import { StreamState, YamuxStream } from "@chainsafe/libp2p-yamux/stream";

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
