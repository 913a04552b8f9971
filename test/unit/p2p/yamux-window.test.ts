/**
 * p2p/yamux-window.ts between two real libp2p hosts on 127.0.0.1: a stream of small gossip
 * messages no longer answers each frame with a window update, and flow control still works for
 * payloads many windows long (a 3 MiB response arrives whole, in both directions of the rule).
 */
import t from "tap";
import pino from "pino";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { P2PHost } from "../../../p2p/host.ts";
import { windowUpdates } from "../../../p2p/yamux-window.ts";
import { waitFor } from "../../helpers/process.ts";

const log = pino({ level: "silent" });
const TOPIC = "/cloudcoin/yamux-test/tx/1";
const PROTOCOL = "/cloudcoin/yamux-test/big/1";

t.test("small gossip messages: no window update per frame; a response of many windows arrives whole", async (t) => {
  t.ok(windowUpdates.patched, "the installed js-yamux has the stream fields the rule needs");
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
  t.ok(skipped >= N, `window updates skipped for small frames (${skipped} skipped, ${passed} passed on)`);
  t.ok(passed < N / 4, `far fewer than one update per message reach js-yamux (${passed} for ${N} messages)`);

  const got = await A.request(B.peerId, PROTOCOL, new Uint8Array([1]), big.length + 1024, 30_000);
  t.equal(got.length, big.length, "a 3 MiB response (twelve 256 KiB windows) arrives whole");
  t.ok(Buffer.compare(got, big) === 0, "byte for byte");
  const back = await B.request(A.peerId, PROTOCOL, new Uint8Array([2]), big.length + 1024, 30_000);
  t.ok(Buffer.compare(back, big) === 0, "and the other way");
});
