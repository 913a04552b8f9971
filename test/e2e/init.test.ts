/** e2e: `cloudcoin init` writes a network a node can start on; the CLI refuses bad input. */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parseGenesisJson } from "../../genesis/schema.ts";
import { rpc, runCli, startNode, waitFor } from "../helpers/process.ts";

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

t.test("init --validators 4 writes four homes; a multi-validator start is refused clearly", async (t) => {
  const out = join(dir, "net4");
  t.equal((await runCli(["init", "--validators", "4", "--out", out])).code, 0);
  for (let i = 0; i < 4; i++) t.ok(existsSync(join(out, `node${i}`, "validator.key.json")));
  t.equal(parseGenesisJson(readFileSync(join(out, "node3", "genesis.json"), "utf8")).validators.length, 4);
  await t.rejects(startNode(join(out, "node0"), [], 20_000), /finality needs more than 2\/3, and the p2p layer/);
});

t.test("bad CLI input gets a usage error, not a crash", async (t) => {
  const cases: string[][] = [
    ["init", "--validators", "0", "--out", join(dir, "x")],
    ["init", "--validators", "two", "--out", join(dir, "x")],
    ["tx", "transfer", "--from", "devnet-faucet", "--to", "cc1bad", "--amount", "1", "--home", dir],
    ["tx", "transfer", "--from", "devnet-faucet", "--amount", "1", "--home", dir],
    ["keys", "new", "../escape", "--home", dir],
    ["start", "--rpc-port", "99999", "--home", dir],
    ["frobnicate"],
  ];
  for (const args of cases) {
    const r = await runCli(args);
    t.not(r.code, 0, args.join(" "));
    t.equal(r.code === 1 || r.code === 2, true, `${args.join(" ")}: exit ${r.code}`);
    t.notMatch(r.stderr, /at .*\.ts:\d+/, `${args.join(" ")}: no stack trace`);
  }
});
