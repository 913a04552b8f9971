/** e2e: `cloudcoin init` writes a network a node can start on; the CLI refuses bad input. */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parseGenesisJson } from "../../genesis/schema.ts";
import { rpc, runCli, startNode, waitFor } from "../helpers/process.ts";
import { main } from "../../node/commands.ts";

const dir = mkdtempSync(join(tmpdir(), "cloudcoin-init-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test("init --validators 1 writes a genesis and keys that a node runs", async (t) => {
  const out = join(dir, "net1");
  const r = await runCli(["init", "--validators", "1", "--out", out, "--chain-id", "test-net-1", "--json"]);
  t.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  const genesis = parseGenesisJson(readFileSync(join(out, "genesis.json"), "utf8"));
  t.equal(genesis.chainId, "test-net-1");
  t.equal(info.faucet, genesis.file.balances[0]!.address, "the faucet key printed is the funded one");
  t.equal(statSync(join(out, "node0", "validator.key.json")).mode & 0o777, 0o600, "keys are private");
  // refuses to overwrite an existing network
  t.equal((await runCli(["init", "--validators", "1", "--out", out])).code, 1);

  const node = await startNode(join(out, "node0"));
  t.teardown(() => node.stop("SIGKILL"));
  const status = await waitFor("a block", async () => {
    const s = (await rpc(node.url, "node_status")).result;
    return s.head.height >= 1 ? s : undefined;
  });
  t.equal(status.chainId, "test-net-1");
  t.equal(status.validator, genesis.file.validators[0]!.address);
  // the faucet of this network can pay (its key file is in <out>/keys)
  const sent = await runCli(["tx", "transfer", "--from", "faucet", "--to", status.validator, "--amount", "1", "--home", out, "--rpc", node.url, "--json"]);
  t.equal(sent.code, 0, sent.stderr);
  t.equal(JSON.parse(sent.stdout).receipt.ok, true);
});

t.test("init --validators 4 --nodes 1 writes five homes wired to each other", async (t) => {
  const out = join(dir, "net4");
  t.equal((await runCli(["init", "--validators", "4", "--nodes", "1", "--out", out, "--rpc-base-port", "31000", "--p2p-base-port", "32000"])).code, 0);
  for (let i = 0; i < 4; i++) t.ok(existsSync(join(out, `node${i}`, "validator.key.json")));
  t.notOk(existsSync(join(out, "node4", "validator.key.json")), "the full node has no validator key");
  t.equal(parseGenesisJson(readFileSync(join(out, "node3", "genesis.json"), "utf8")).validators.length, 4);
  const configs = [0, 1, 2, 3, 4].map((i) => JSON.parse(readFileSync(join(out, `node${i}`, "config.json"), "utf8")) as { rpcPort: number; p2pListen: string[]; bootstrap: string[] });
  t.same(configs.map((c) => c.rpcPort), [31000, 31001, 31002, 31003, 31004]);
  t.same(configs[2]!.p2pListen, ["/ip4/127.0.0.1/tcp/32002"]);
  t.equal(configs[0]!.bootstrap.length, 3, "a validator bootstraps from the other three");
  t.equal(configs[4]!.bootstrap.length, 4, "the full node bootstraps from every validator");
  t.ok(configs[4]!.bootstrap.every((a) => /^\/ip4\/127\.0\.0\.1\/tcp\/3200[0-3]\/p2p\/12D3KooW/.test(a)));
  // A validator alone holds 1/4 of the power: it starts (and waits for its peers) instead of refusing.
  const node = await startNode(join(out, "node0"), ["--bootstrap", ""], 20_000);
  t.teardown(() => node.stop());
  t.ok(node.logs.some((l) => l.includes("cannot finalize until peers connect")));
});

t.test("bad CLI input gets a usage error, not a crash", async (t) => {
  const cases: string[][] = [
    ["init", "--validators", "0", "--out", join(dir, "x")],
    ["init", "--validators", "two", "--out", join(dir, "x")],
    ["init", "--validators", "1", "--nodes", "x", "--out", join(dir, "x")],
    ["init", "--validators", "1", "--params", "{nope", "--out", join(dir, "x")],
    ["init", "--validators", "1", "--params", '{"epochLength":0}', "--out", join(dir, "x")],
    ["init", "--validators", "1", "--p2p-base-port", "80", "--out", join(dir, "x")],
    ["start", "--bootstrap", "/ip4/127.0.0.1/tcp/1", "--home", dir],
    ["tx", "transfer", "--from", "devnet-faucet", "--to", "cc1bad", "--amount", "1", "--home", dir],
    ["tx", "transfer", "--from", "devnet-faucet", "--amount", "1", "--home", dir],
    ["keys", "new", "../escape", "--home", dir],
    ["start", "--rpc-port", "99999", "--home", dir],
    ["frobnicate"],
  ];
  // In process (node/commands.ts main): a process per case cost ~5 s each for nothing a spawn adds;
  // one spawned case below checks the executable's exit code.
  const errors: string[] = [];
  const consoleError = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.map(String).join(" "));
  try {
    for (const args of cases) {
      errors.length = 0;
      const code = await main(args);
      const stderr = errors.join("\n");
      t.not(code, 0, args.join(" "));
      t.equal(code === 1 || code === 2, true, `${args.join(" ")}: exit ${code}`);
      t.notMatch(stderr, /at .*\.ts:\d+/, `${args.join(" ")}: no stack trace`);
    }
  } finally {
    console.error = consoleError;
  }
  errors.length = 0;
  console.error = (...a: unknown[]) => void errors.push(a.map(String).join(" "));
  try {
    await main(["tx", "transfer", "--from", "devnet-faucet", "--to", "cc1abc", "--amount", "1", "--home", dir]);
  } finally {
    console.error = consoleError;
  }
  t.match(errors.join("\n"), /BAD_ADDRESS/, "a mistyped address is refused as an address, not looked up as a key name");
  t.notMatch(errors.join("\n"), /KEY_NOT_FOUND/);
  // the same for `balance ADDRESS|NAME`: a cc1 address with a bad checksum names the checksum
  errors.length = 0;
  console.error = (...a: unknown[]) => void errors.push(a.map(String).join(" "));
  try {
    await main(["balance", `cc1${"q".repeat(58)}`, "--home", dir, "--rpc", "http://127.0.0.1:1/"]);
  } finally {
    console.error = consoleError;
  }
  t.match(errors.join("\n"), /BAD_ADDRESS.*checksum/i, "balance: a bad checksum is named");
  t.notMatch(errors.join("\n"), /KEY_NOT_FOUND/);
  const r = await runCli(["frobnicate"]);
  t.equal(r.code, 2, "the executable exits with main's code");
  t.match(r.stderr, /unknown command/);
});
