import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { ConfigErrorCode, DEFAULT_P2P_LISTEN, DEFAULT_RPC_PORT, readConfigFile, resolveStartConfig } from "../../../node/config.ts";

t.test("precedence: flags over environment over config.json over defaults", async (t) => {
  const none = resolveStartConfig({ env: {}, flags: {} });
  t.same([none.rpcHost, none.rpcPort, none.logLevel, none.serviceKey, none.rpcTokens], ["127.0.0.1", DEFAULT_RPC_PORT, "info", undefined, []]);
  t.equal(none.sources.rpcPort, "default");
  const file = { rpcHost: "127.0.0.2", rpcPort: 9000, logLevel: "debug", serviceKey: "payee", rpcTokens: [{ token: "f", permissions: ["sign"] }] };
  const fromFile = resolveStartConfig({ file, env: {}, flags: {} });
  t.same([fromFile.rpcHost, fromFile.rpcPort, fromFile.logLevel, fromFile.serviceKey], ["127.0.0.2", 9000, "debug", "payee"]);
  t.same(fromFile.rpcTokens, [{ token: "f", permissions: ["sign"] }]);
  const env = { CLOUDCOIN_RPC_PORT: "9100", CLOUDCOIN_LOG_LEVEL: "warn", CLOUDCOIN_RPC_TOKENS: "e:admin,sign" };
  const fromEnv = resolveStartConfig({ file, env, flags: {} });
  t.same([fromEnv.rpcHost, fromEnv.rpcPort, fromEnv.logLevel], ["127.0.0.2", 9100, "warn"], "env overrides the file, the file fills the rest");
  t.same(fromEnv.rpcTokens, [{ token: "e", permissions: ["admin", "sign"] }]);
  const fromFlags = resolveStartConfig({ file, env, flags: { rpcPort: "0", logLevel: "error" } });
  t.same([fromFlags.rpcPort, fromFlags.logLevel, fromFlags.rpcHost], [0, "error", "127.0.0.2"]);
  t.same(fromFlags.sources, { rpcHost: "file", rpcPort: "flag", logLevel: "flag", serviceKey: "file", rpcTokens: "env", p2pListen: "default", bootstrap: "default", rpcRateLimit: "default", rpcCors: "default", stateCacheMiB: "default", stateHistory: "default", stateSync: "default", trustHeight: "default", trustHash: "default" });
  t.equal(fromFlags.stateSync, false, "no state sync by default");
  t.equal(fromFlags.trust, undefined, "no checkpoint by default");
});

t.test("state sync: off by default, on from config.json or the --state-sync flag", async (t) => {
  t.equal(resolveStartConfig({ env: {}, flags: {} }).stateSync, false);
  const fromFile = resolveStartConfig({ file: { stateSync: true }, env: {}, flags: {} });
  t.same([fromFile.stateSync, fromFile.sources.stateSync], [true, "file"]);
  const fromFlag = resolveStartConfig({ file: { stateSync: false }, env: {}, flags: { stateSync: true } });
  t.same([fromFlag.stateSync, fromFlag.sources.stateSync], [true, "flag"]);
  t.throws(() => resolveStartConfig({ file: { stateSync: "yes" }, env: {}, flags: {} }), { code: ConfigErrorCode.INVALID }, "a non-boolean in config.json is refused");
});

t.test("a checkpoint: height and hash together, from any layer; anything else refused", async (t) => {
  const hash = "AB".repeat(32);
  const fromFlags = resolveStartConfig({ env: {}, flags: { trustHeight: "1200", trustHash: hash } });
  t.same(fromFlags.trust, { height: 1200n, hash: "ab".repeat(32) }, "from flags; the hash in lower case");
  const fromFile = resolveStartConfig({ file: { trustHeight: 7, trustHash: "cd".repeat(32) }, env: {}, flags: {} });
  t.same(fromFile.trust, { height: 7n, hash: "cd".repeat(32) });
  const split = resolveStartConfig({ file: { trustHash: "cd".repeat(32) }, env: { CLOUDCOIN_TRUST_HEIGHT: "9" }, flags: {} });
  t.same([split.trust, split.sources.trustHeight, split.sources.trustHash], [{ height: 9n, hash: "cd".repeat(32) }, "env", "file"], "one layer each");
  const refused = (layers: Parameters<typeof resolveStartConfig>[0], why: string, text: RegExp) => t.throws(() => resolveStartConfig(layers), { code: ConfigErrorCode.INVALID, message: text }, why);
  refused({ env: {}, flags: { trustHeight: "5" } }, "a height without its hash", /needs both/);
  refused({ file: { trustHash: hash }, env: {}, flags: {} }, "a hash without its height", /needs both/);
  refused({ env: {}, flags: { trustHeight: "0", trustHash: hash } }, "height 0 (genesis is trusted already)", /--trust-height/);
  refused({ env: {}, flags: { trustHeight: "-3", trustHash: hash } }, "a negative height", /--trust-height/);
  refused({ env: {}, flags: { trustHeight: "5", trustHash: "ab".repeat(31) } }, "a short hash", /64 hex digits/);
  refused({ env: {}, flags: { trustHeight: "5", trustHash: "zz".repeat(32) } }, "a hash that is not hex", /64 hex digits/);
  refused({ file: { trustHeight: "5", trustHash: hash }, env: {}, flags: {} }, "a string height in config.json", /config.json/);
});

t.test("p2p listen addresses, bootstrap peers and the RPC rate limit follow the same precedence", async (t) => {
  const none = resolveStartConfig({ env: {}, flags: {} });
  t.same([none.p2pListen, none.bootstrap, none.rpcRateLimit], [[DEFAULT_P2P_LISTEN], [], undefined]);
  const peer = "/ip4/127.0.0.1/tcp/26656/p2p/12D3KooWMwRCNngnXwRnTV8ecXQqVWYSVwNz98LTyzznaTFHTFAW";
  const file = { p2pListen: ["/ip4/0.0.0.0/tcp/26656"], bootstrap: [peer], rpcRateLimit: 600 };
  const fromFile = resolveStartConfig({ file, env: {}, flags: {} });
  t.same([fromFile.p2pListen, fromFile.bootstrap, fromFile.rpcRateLimit], [["/ip4/0.0.0.0/tcp/26656"], [peer], 600]);
  const env = { CLOUDCOIN_P2P_LISTEN: "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2", CLOUDCOIN_BOOTSTRAP: "", CLOUDCOIN_RPC_RATE_LIMIT: "off" };
  const fromEnv = resolveStartConfig({ file, env, flags: {} });
  t.same([fromEnv.p2pListen, fromEnv.bootstrap, fromEnv.rpcRateLimit], [["/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"], [], false], "an empty CLOUDCOIN_BOOTSTRAP clears the file's list");
  const fromFlags = resolveStartConfig({ file, env, flags: { p2pListen: "/ip4/127.0.0.1/tcp/0", bootstrap: peer, rpcRateLimit: "120" } });
  t.same([fromFlags.p2pListen, fromFlags.bootstrap, fromFlags.rpcRateLimit], [["/ip4/127.0.0.1/tcp/0"], [peer], 120]);
  t.same([fromFlags.sources.p2pListen, fromFlags.sources.bootstrap, fromFlags.sources.rpcRateLimit], ["flag", "flag", "flag"]);
});

t.test("a bad value in any layer is refused, naming the layer", async (t) => {
  const cases: [string, Parameters<typeof resolveStartConfig>[0], RegExp][] = [
    ["unknown file key", { file: { rpcPrt: 1 }, env: {}, flags: {} }, /config\.json/],
    ["file port out of range", { file: { rpcPort: 70000 }, env: {}, flags: {} }, /config\.json: rpcPort/],
    ["file log level", { file: { logLevel: "loud" }, env: {}, flags: {} }, /config\.json: logLevel/],
    ["file token permission", { file: { rpcTokens: [{ token: "x", permissions: ["root"] }] }, env: {}, flags: {} }, /config\.json: rpcTokens/],
    ["env port", { env: { CLOUDCOIN_RPC_PORT: "80a" }, flags: {} }, /CLOUDCOIN_RPC_PORT/],
    ["env tokens", { env: { CLOUDCOIN_RPC_TOKENS: "x:root" }, flags: {} }, /CLOUDCOIN_RPC_TOKENS: unknown permission/],
    ["flag port", { env: {}, flags: { rpcPort: "99999" } }, /flags: rpcPort/],
    ["flag log level", { env: {}, flags: { logLevel: "verbose" } }, /flags: logLevel/],
    ["bootstrap without a peer id", { env: {}, flags: { bootstrap: "/ip4/127.0.0.1/tcp/1" } }, /flags: bootstrap\.0: a bootstrap address must end in \/p2p\//],
    ["listen address that is not a multiaddr", { file: { p2pListen: ["127.0.0.1:1"] }, env: {}, flags: {} }, /config\.json: p2pListen/],
    ["rate limit", { env: { CLOUDCOIN_RPC_RATE_LIMIT: "lots" }, flags: {} }, /CLOUDCOIN_RPC_RATE_LIMIT/],
  ];
  for (const [name, layers, message] of cases) t.throws(() => resolveStartConfig(layers), { code: ConfigErrorCode.INVALID, message }, name);
});

t.test("config.json is read from the home directory; a broken file is an error, a missing one is not", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "cloudcoin-config-"));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  t.equal(await readConfigFile(home), undefined);
  writeFileSync(join(home, "config.json"), '{"rpcPort": 9200}');
  t.same(await readConfigFile(home), { rpcPort: 9200 });
  writeFileSync(join(home, "config.json"), "{ nope");
  await t.rejects(readConfigFile(home), { code: ConfigErrorCode.INVALID, message: /not valid JSON/ });
});

t.test("state cache and history: file, then environment; bad values refused", async (t) => {
  const c = resolveStartConfig({ file: { stateCacheMiB: 32, stateHistory: 10 }, env: { CLOUDCOIN_STATE_HISTORY: "500" }, flags: {} });
  t.equal(c.stateCacheMiB, 32);
  t.equal(c.stateHistory, 500);
  t.same([c.sources.stateCacheMiB, c.sources.stateHistory], ["file", "env"]);
  t.equal(resolveStartConfig({ env: {}, flags: {} }).stateCacheMiB, undefined, "default: the store's own");
  t.throws(() => resolveStartConfig({ file: { stateHistory: 0 }, env: {}, flags: {} }), { code: "CONFIG_INVALID" });
  t.throws(() => resolveStartConfig({ env: { CLOUDCOIN_STATE_CACHE_MIB: "lots" }, flags: {} }), { code: "CONFIG_INVALID" });
});
