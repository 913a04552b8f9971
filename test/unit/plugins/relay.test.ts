/**
 * The relay plugin (plugins/relay/relay.ts) warns when it is registered without an /ip4 or /ip6
 * address: the chain groups relays by IP and cannot resolve names, so such a relay gets no
 * witnesses (noIp) and is never judged or paid. A real probe host on 127.0.0.1; the node is a small
 * stand-in for its JSON-RPC that holds one registration (as in bandwidth-witness/journal.test.ts).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import t, { type Test } from "tap";
import { generateKeyPair, toAddress } from "../../../primitives/keys.ts";
import { startRelay } from "../../../plugins/relay/relay.ts";

const dir = mkdtempSync(join(tmpdir(), "cloudcoin-relay-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function standIn(t: Test, registered: string): Promise<string> {
  const answer = (method: string, params: Record<string, unknown>): unknown => {
    switch (method) {
      case "node_status":
        return { chainId: "cloudcoin-relay-test-1" };
      case "provider_get":
        return {
          address: params.address, kind: "bandwidth", status: "active", multiaddr: registered, capacity: "1000", collateral: "1000", registeredAt: 1,
          banned: false, bannedUntil: 0,
        };
      case "bandwidth_getRelay":
        return null;
      default:
        throw new Error(`unexpected ${method}`);
    }
  };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      const r = JSON.parse(body) as { id: number; method: string; params: Record<string, unknown> };
      res.setHeader("content-type", "application/json");
      try {
        res.end(JSON.stringify({ jsonrpc: "2.0", id: r.id, result: answer(r.method, r.params) }));
      } catch (e) {
        res.end(JSON.stringify({ jsonrpc: "2.0", id: r.id, error: { code: -32000, message: (e as Error).message } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

for (const [name, announce, warns] of [
  ["a DNS name", "/dns4/relay.example/tcp/4100", true],
  ["an /ip4 address", "/ip4/203.0.113.7/tcp/4100", false],
  ["an /ip6 address", "/ip6/2001:db8::7/tcp/4100", false],
] as const) {
  t.test(`registered under ${name}: ${warns ? "a noIp warning at start" : "no warning"}`, async (t) => {
    const key = generateKeyPair();
    const registered = `${announce}/p2p/12D3KooWExample`;
    const rpcUrl = await standIn(t, registered);
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const relay = await startRelay({
      rpcUrl, key, log, listen: "/ip4/127.0.0.1/tcp/0", p2pKeyPath: join(dir, `${toAddress(key.publicKey)}.p2p.key`), announce, capacity: 1000n, pollMs: 50,
    });
    t.teardown(() => relay.close());
    t.equal(relay.registeredMultiaddr, registered);
    const warning = lines.find((l) => l.level === 40 && typeof l.msg === "string" && l.msg.includes("noIp"));
    if (warns) t.match(warning, { registered, msg: /no witnesses \(noIp\)/ }, "it says it will get no witnesses, and why");
    else t.equal(warning, undefined, "no noIp warning");
  });
}
