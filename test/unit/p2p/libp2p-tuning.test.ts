/**
 * p2p/libp2p-tuning.ts between two real libp2p hosts on 127.0.0.1: a stream of small gossip
 * messages no longer answers each frame with a window update, and flow control still works for
 * payloads many windows long (a 3 MiB response arrives whole, in both directions of the rule),
 * through sockets corked for the turn;
 * and the length-prefixed frame decoder under noise splits frames as before without throwing
 * at every frame boundary.
 */
import t from "tap";
import pino from "pino";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { P2PHost } from "../../../p2p/host.ts";
import { LengthPrefixedDecoder } from "@libp2p/utils";
import { corkedWrites, lengthPrefixed, windowUpdates } from "../../../p2p/libp2p-tuning.ts";
import { waitFor } from "../../helpers/process.ts";

const log = pino({ level: "silent" });
const TOPIC = "/cloudcoin/yamux-test/tx/1";
const PROTOCOL = "/cloudcoin/yamux-test/big/1";

t.test("small gossip messages: no window update per frame; a response of many windows arrives whole", async (t) => {
  t.ok(windowUpdates.patched, "the installed js-yamux has the stream fields the rule needs");
  t.ok(corkedWrites.patched, "TCP connections cork their socket for the turn");
  const received: number[] = [];
  const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
  const start = async (bootstrap: string[]) =>
    P2PHost.start({
      privateKey: await generateKeyPair("Ed25519"), listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap, log,
      topics: new Map([[TOPIC, { maxBytes: 4096, handle: (data: Uint8Array) => (received.push(data[0]! | (data[1]! << 8)), "accept" as const) }]]),
      protocols: new Map([[PROTOCOL, { maxRequestBytes: 16, respond: async () => big }]]),
    });
  const A = await start([]);
  const B = await start([A.listenAddresses()[0]!]);
  t.teardown(() => Promise.all([A.stop(), B.stop()]));
  await waitFor("A and B see each other on the topic", async () => (A.topicPeers(TOPIC).includes(B.peerId) && B.topicPeers(TOPIC).includes(A.peerId) ? true : undefined), 10_000, 50);

  const before = { ...windowUpdates };
  const uncorksBefore = corkedWrites.uncorks;
  const N = 300;
  for (let i = 0; i < N; i++) {
    const m = new Uint8Array(200);
    m[0] = i & 0xff;
    m[1] = i >> 8;
    await B.publish(TOPIC, m);
  }
  await waitFor("A receives every message", async () => (received.length >= N ? true : undefined), 10_000, 20);
  t.same([...new Set(received)].sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i), "every message arrived once");
  const skipped = windowUpdates.skipped - before.skipped;
  const passed = windowUpdates.passed - before.passed;
  // (frames may carry several messages each: the sockets are corked for the turn)
  t.ok(skipped > 0, `window updates skipped for small frames (${skipped} skipped, ${passed} passed on)`);
  // 300 x 200 bytes is less than half a 256 KiB window: no update is due at all (js-yamux sent one per frame)
  t.ok(passed <= 2, `window updates that reach js-yamux: ${passed} for ${N} messages`);

  t.ok(corkedWrites.uncorks > uncorksBefore, "the messages went out through corked sockets");

  const got = await A.request(B.peerId, PROTOCOL, new Uint8Array([1]), big.length + 1024, 30_000);
  t.equal(got.length, big.length, "a 3 MiB response (twelve 256 KiB windows) arrives whole");
  t.ok(Buffer.compare(got, big) === 0, "byte for byte");
  const back = await B.request(A.peerId, PROTOCOL, new Uint8Array([2]), big.length + 1024, 30_000);
  t.ok(Buffer.compare(back, big) === 0, "and the other way");
});

t.test("length-prefixed frames: the same frames from any split of the bytes, and no failed length read at a frame boundary", (t) => {
  t.ok(lengthPrefixed.patched);
  let reads = 0;
  let failed = 0;
  const uint16 = (data: Uint8Array | { byteLength: number; get(i: number): number }): number => {
    reads++;
    const n = data instanceof Uint8Array ? data.length : data.byteLength;
    if (n < 2) {
      failed++;
      throw new RangeError("Could not decode int16BE");
    }
    return data instanceof Uint8Array ? (data[0]! << 8) | data[1]! : (data.get(0) << 8) | data.get(1);
  };
  const wireOf = (frames: Uint8Array[]): Buffer => Buffer.concat(frames.flatMap((f) => [Buffer.from([f.length >> 8, f.length & 0xff]), Buffer.from(f)]));
  const run = (frames: Uint8Array[], sizes: number[]): Uint8Array[] => {
    const wire = wireOf(frames);
    const decoder = new LengthPrefixedDecoder({ lengthDecoder: uint16, encodingLength: () => 2 });
    const out: Uint8Array[] = [];
    reads = failed = 0;
    for (let at = 0, k = 0; at < wire.length; at += sizes[k++ % sizes.length]!) {
      for (const f of decoder.decode(wire.subarray(at, at + sizes[k % sizes.length]!))) out.push(f.subarray());
    }
    return out;
  };
  const hex = (fs: Uint8Array[]): string[] => fs.map((f) => Buffer.from(f).toString("hex"));
  // a zero-length frame is skipped, as the decoder always did
  const mixed = [3, 1, 300, 0, 70, 2].map((len, k) => new Uint8Array(len).fill(k + 1));
  for (const sizes of [[2000], [1], [1, 4, 7, 100, 3], [5, 2]]) {
    t.same(hex(run(mixed, sizes)), hex(mixed.filter((f) => f.length > 0)), `frames intact, the bytes cut in chunks of ${sizes.join(", ")}`);
  }
  // reads that end on a frame boundary: the whole wire at once, or one frame per read
  const frames = [3, 1, 300, 70, 2].map((len, k) => new Uint8Array(len).fill(k + 1));
  t.same(hex(run(frames, [2000])), hex(frames));
  t.equal(failed, 0, "one read of five frames: no failed length read");
  t.equal(reads, frames.length, "one length read per frame");
  const perFrame = frames.map((f) => f.length + 2);
  const wire = wireOf(frames);
  const decoder = new LengthPrefixedDecoder({ lengthDecoder: uint16, encodingLength: () => 2 });
  reads = failed = 0;
  const out: Uint8Array[] = [];
  for (let at = 0, k = 0; k < perFrame.length; at += perFrame[k++]!) for (const f of decoder.decode(wire.subarray(at, at + perFrame[k]!))) out.push(f.subarray());
  t.same(hex(out), hex(frames));
  t.equal(failed, 0, "one read per frame: no failed length read");
  // a read that ends inside a length prefix still waits for the rest
  reads = failed = 0;
  const d2 = new LengthPrefixedDecoder({ lengthDecoder: uint16, encodingLength: () => 2 });
  t.same([...d2.decode(wire.subarray(0, 1))], [], "one byte of a length: no frame yet");
  t.same(hex([...d2.decode(wire.subarray(1, 5))].map((f) => f.subarray())), [hex(frames)[0]], "the rest of it: the frame");
  t.end();
});
