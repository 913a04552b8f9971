/** The pure rules of issue #16: IP groups and the per-IP limit, the witness tolerance, and the exit unbonding matching the evidence window. */
import t from "tap";
import { BANDWIDTH_RECORD_EPOCHS, limitRelaysPerIp, relayIpGroup, withinTolerance } from "../../../../modules/bandwidth/bandwidth.ts";
import { EXIT_UNBONDING_EPOCHS } from "../../../../modules/storage/storage.ts";
import { sha256 } from "../../../../primitives/hash.ts";

t.test("relayIpGroup: the IPv4 address, the IPv6 /64, nothing for other addresses", async (t) => {
  for (const [m, g] of [
    ["/ip4/127.0.0.1/tcp/4001", "ip4:127.0.0.1"],
    ["/ip4/010.0.0.1/tcp/1", "ip4:10.0.0.1"],
    ["/ip6/2001:db8::1/tcp/1", "ip6:2001:db8:0:0::/64"],
    ["/ip6/2001:0db8:0000:0000:ffff::2/tcp/1", "ip6:2001:db8:0:0::/64"],
    ["/ip6/::1/tcp/1", "ip6:0:0:0:0::/64"],
    ["/ip4/256.0.0.1/tcp/1", undefined],
    ["/ip4/1.2.3/tcp/1", undefined],
    ["/ip6/1::2::3/tcp/1", undefined],
    ["/ip6/1:2:3:4:5:6:7:8:9/tcp/1", undefined],
    ["/dns4/relay.example/tcp/1", undefined],
    ["ip4/1.2.3.4", undefined],
    ["", undefined],
  ] as const) t.equal(relayIpGroup(m), g, m || "(empty)");
});

t.test("limitRelaysPerIp: per group the most collateral, then the lowest key; deterministic in any input order", async (t) => {
  const k = (i: number) => sha256(new Uint8Array([i]));
  const relays = [
    { key: k(1), collateral: 5n, multiaddr: "/ip4/1.1.1.1/tcp/1" },
    { key: k(2), collateral: 9n, multiaddr: "/ip4/1.1.1.1/tcp/2" },
    { key: k(3), collateral: 5n, multiaddr: "/ip4/1.1.1.1/tcp/3" },
    { key: k(4), collateral: 1n, multiaddr: "/ip4/2.2.2.2/tcp/1" },
    { key: k(5), collateral: 1n, multiaddr: "/dns4/x/tcp/1" },
  ];
  const out = limitRelaysPerIp(relays, 2);
  const lowerKey = Buffer.compare(Buffer.from(k(1)), Buffer.from(k(3))) < 0 ? 1 : 3;
  t.same(out, relays.map((_r, i) => (i === 4 ? "noIp" : i === 3 || i === 1 || i + 1 === lowerKey ? "ok" : "ipLimit")));
  t.same(limitRelaysPerIp([...relays].reverse(), 2), [...out].reverse(), "the input order does not matter");
  t.same(limitRelaysPerIp(relays, 3).slice(0, 4), ["ok", "ok", "ok", "ok"]);
});

t.test("withinTolerance and the exit unbonding", async (t) => {
  t.ok(withinTolerance(120n, 100n, 2000));
  t.ok(withinTolerance(80n, 100n, 2000));
  t.notOk(withinTolerance(121n, 100n, 2000));
  t.ok(withinTolerance(0n, 0n, 0), "a failed probe matches a failed median");
  t.notOk(withinTolerance(1n, 0n, 10_000));
  t.equal(EXIT_UNBONDING_EPOCHS, BigInt(BANDWIDTH_RECORD_EPOCHS), "an exiting provider stays slashable as long as attestation evidence is accepted");
});
