/**
 * e2e: the real node process on the embedded devnet, driven by the real CLI, checked only
 * through JSON-RPC.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { fromHex } from "../../primitives/bytes.ts";
import { fromAddress } from "../../primitives/keys.ts";
import { decodeStateProof, verifyStateProof } from "../../chain/smt.ts";
import { encodeAccount, StateKey } from "../../chain/state.ts";
import { rpc, runCli, startNode, waitFor, type NodeProcess } from "../helpers/process.ts";

const home = mkdtempSync(join(tmpdir(), "cloudcoin-e2e-"));
t.teardown(() => rmSync(home, { recursive: true, force: true }));

// One node process serves the tests until the last one restarts it. They all ran on this home's one
// chain already (each test restarted the node on it); a start is the costliest step here (seconds of
// CPU), and the last test is the one that checks a restart.
let shared: NodeProcess | undefined;
const sharedNode = async (): Promise<NodeProcess> => (shared ??= await startNode(home));
t.teardown(() => shared?.stop("SIGKILL"));

t.test("a transfer sent with the CLI is finalized and moves both balances", async (t) => {
  const node = await sharedNode();
  await waitFor("first block", async () => ((await rpc(node.url, "node_status")).result.head.height >= 1 ? true : undefined));
  t.ok(node.logs.some((l) => l.includes('"finalized block"')), "the node logs finalized blocks");

  const made = await runCli(["keys", "new", "bob", "--home", home, "--json"]);
  t.equal(made.code, 0, made.stderr);
  const bob = JSON.parse(made.stdout).address as string;
  const faucet = JSON.parse((await runCli(["keys", "show", "devnet-faucet", "--home", home, "--json"])).stdout).address as string;
  const faucetBefore = BigInt((await rpc(node.url, "state_getAccount", { address: faucet })).result.balance);

  const sent = await runCli(["tx", "transfer", "--from", "devnet-faucet", "--to", bob, "--amount", "2.5", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(sent.code, 0, sent.stderr);
  const result = JSON.parse(sent.stdout);
  t.equal(result.status, "finalized");
  t.equal(result.receipt.ok, true);

  const bobAcc = (await rpc(node.url, "state_getAccount", { address: bob })).result;
  t.equal(bobAcc.balance, "2500000000");
  const faucetAcc = (await rpc(node.url, "state_getAccount", { address: faucet })).result;
  t.equal(BigInt(faucetAcc.balance), faucetBefore - 2_500_000_000n - BigInt(result.receipt.fee));
  t.equal(faucetAcc.nonce, "1");

  // the state of a recent height, proved against that block's state root
  for (const [h, balance] of [[result.height - 1, 0n], [result.height, 2_500_000_000n]] as const) {
    const at = (await rpc(node.url, "state_getAccount", { address: bob, height: h, proof: true })).result;
    t.equal(at.height, h, `bob at height ${h}`);
    t.equal(at.balance, balance.toString());
    const header = (await rpc(node.url, "chain_getBlock", { height: h })).result;
    t.equal(at.stateRoot, header.header.stateRoot, "the state root of that block");
    const key = StateKey.account(fromAddress(bob));
    const value = balance === 0n ? null : encodeAccount({ balance, nonce: 0n, staked: 0n, unbonding: [] });
    t.ok(verifyStateProof(fromHex(at.stateRoot), key, value, decodeStateProof(fromHex(at.proof))), `the proof at ${h} verifies`);
  }
  const beyond = await rpc(node.url, "state_getAccount", { address: bob, height: 1_000_000 });
  t.equal(beyond.error?.data?.code, "STORE_STATE_PRUNED", "a height the node does not keep is refused with a typed error");

  const got = (await rpc(node.url, "tx_get", { hash: result.hash })).result;
  t.equal(got.status, "finalized");
  t.equal(got.height, result.height);
  const block = (await rpc(node.url, "chain_getBlock", { height: result.height })).result;
  t.ok(block.txs.includes(result.hash), "the block lists the transaction");
  const list = (await rpc(node.url, "tx_listByAddress", { address: bob })).result;
  t.same(list.txs.map((x: { hash: string }) => x.hash), [result.hash]);

  const cliBalance = await runCli(["balance", bob, "--rpc", node.url, "--json"]);
  t.equal(JSON.parse(cliBalance.stdout).balance, "2500000000");

  // a transfer the sender cannot afford is refused by the node with a typed error
  const poor = await runCli(["tx", "transfer", "--from", "bob", "--to", faucet, "--amount", "1", "--fee", "0.000000999", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(poor.code, 1);
  t.match(poor.stderr, /TX_FEE_TOO_LOW/);
});

t.test("the one-validator network runs the BFT engine, visible through the consensus methods", async (t) => {
  const node = await sharedNode();
  const status = await waitFor("a block", async () => {
    const s = (await rpc(node.url, "node_status")).result;
    return s.head.height >= 2 ? s : undefined;
  });
  t.equal(status.consensus.engine, "tendermint");
  const vals = (await rpc(node.url, "chain_getValidators", {})).result;
  t.equal(vals.validators.length, 1);
  t.equal(vals.validators[0].address, status.validator);
  const atOne = (await rpc(node.url, "chain_getValidators", { height: 1 })).result;
  t.equal(atOne.validators[0].address, status.validator, "the set that produced block 1 is stored");
  t.equal((await rpc(node.url, "chain_getValidators", { height: status.head.height + 50 })).result, null, "far future sets are unknown");
  const commit = (await rpc(node.url, "chain_getCommit", { height: 1 })).result;
  t.equal(commit.signatures.length, 1);
  t.equal(commit.signatures[0].validatorIndex, 0);
  const cs = (await rpc(node.url, "consensus_getState")).result;
  t.ok(cs.height > status.head.height - 1, "the engine works on the next height");
  t.equal(cs.self, 0);
  t.equal(cs.engine, "tendermint");
  const pending = (await rpc(node.url, "chain_getEvidence")).result;
  t.same(pending, { height: null, evidence: [] }, "an honest single validator produces no evidence");
  t.same((await rpc(node.url, "chain_getEvidence", { height: 1 })).result.evidence, []);
});

t.test("stake and register-validator from the CLI: the set grows at h+2 and the chain keeps finalizing", async (t) => {
  const node = await sharedNode();
  const faucet = JSON.parse((await runCli(["keys", "show", "devnet-faucet", "--home", home, "--json"])).stdout).address as string;
  const staked = await runCli(["tx", "stake", "--from", "devnet-faucet", "--amount", "1000", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(staked.code, 0, staked.stderr);
  t.equal(JSON.parse(staked.stdout).receipt.ok, true);
  t.equal((await rpc(node.url, "state_getAccount", { address: faucet })).result.staked, "1000000000000");
  const reg = await runCli(["tx", "register-validator", "--from", "devnet-faucet", "--name", "faucet-validator", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(reg.code, 0, reg.stderr);
  const regResult = JSON.parse(reg.stdout);
  t.equal(regResult.receipt.ok, true);
  const h = regResult.height as number;
  // registered in block h: not in the set of h+1, in the set of h+2
  const next = (await rpc(node.url, "chain_getValidators", { height: h + 1 })).result;
  t.equal(next.validators.length, 1, "not yet at h+1");
  await waitFor("height h+3", async () => ((await rpc(node.url, "node_status")).result.head.height >= h + 3 ? true : undefined));
  const later = (await rpc(node.url, "chain_getValidators", { height: h + 2 })).result;
  t.same(later.validators.map((v: { address: string }) => v.address).sort(), [faucet, (await rpc(node.url, "node_status")).result.validator].sort(), "in the set at h+2");
  // unjail when not jailed fails with its receipt code; the fee is still paid
  const unjail = await runCli(["tx", "unjail", "--from", "devnet-faucet", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(JSON.parse(unjail.stdout).receipt.code, "NOT_JAILED");
  t.equal(unjail.code, 1, "a transaction that failed in its block makes the CLI exit 1, also with --json");
  // a transfer the sender cannot afford never enters the mempool: refused at once, naming what was short
  const broke = JSON.parse((await runCli(["keys", "new", "broke", "--home", home, "--json"])).stdout).address as string;
  const funded = await runCli(["tx", "transfer", "--from", "devnet-faucet", "--to", broke, "--amount", "1", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(funded.code, 0, funded.stderr);
  const tooMuch = await runCli(["tx", "transfer", "--from", "broke", "--to", faucet, "--amount", "1", "--home", home, "--rpc", node.url]);
  t.equal(tooMuch.code, 1, "amount + fee above the balance: the CLI fails");
  t.match(tooMuch.stderr, /MEMPOOL_INSUFFICIENT_BALANCE.*cannot cover 1000000000 plus the fee/, tooMuch.stderr);
  t.equal((await rpc(node.url, "state_getAccount", { address: broke })).result.nonce, "0", "nothing was included: the nonce is unused");
  const params = await runCli(["params", "--rpc", node.url, "--json"]);
  t.equal(params.code, 0);
  t.match(JSON.parse(params.stdout).params, { minValidatorStake: /^[0-9]+$/, epochLength: Number }, "cloudcoin params shows the chain parameters");
  const standing = await runCli(["balance", faucet, "--rpc", node.url, "--json"]);
  t.match(JSON.parse(standing.stdout).validator, { inSet: true, jailed: false, eligible: true }, "cloudcoin balance shows the validator's standing");
});

t.test("malformed JSON-RPC gets the spec's errors and the node keeps serving", async (t) => {
  const node = await sharedNode();
  const post = async (body: string): Promise<any> => (await fetch(node.url, { method: "POST", headers: { "content-type": "application/json" }, body })).json();
  t.equal((await post("{")).error.code, -32700);
  t.equal((await post('{"jsonrpc":"2.0","id":1}')).error.code, -32600);
  t.equal((await post('{"jsonrpc":"2.0","id":1,"method":"chain_nope"}')).error.code, -32601);
  t.equal((await post('{"jsonrpc":"2.0","id":1,"method":"state_getAccount","params":{"address":"cc1xyz"}}')).error.code, -32602);
  t.equal((await post('{"jsonrpc":"2.0","id":1,"method":"chain_getBlock","params":{"height":1,"hash":"00"}}')).error.code, -32602);
  const garbageTx = await post('{"jsonrpc":"2.0","id":7,"method":"tx_send","params":{"tx":"deadbeef"}}');
  t.equal(garbageTx.id, 7);
  t.equal(garbageTx.error.code, -32000);
  t.equal(garbageTx.error.data.code, "TX_MALFORMED");
  const batch = await post('[{"jsonrpc":"2.0","id":1,"method":"chain_getSupply"},{"jsonrpc":"2.0","method":"chain_getHead"},{"bad":1}]');
  t.equal(batch.length, 2, "the notification gets no response");
  t.ok(batch[0].result.total);
  t.equal(batch[1].error.code, -32600);
  const status = await rpc(node.url, "node_status");
  t.equal(status.result.chainId, "cloudcoin-devnet-1");
  t.equal(status.result.error, null);
});

t.test("a restarted node resumes from its head and keeps finalizing", async (t) => {
  const first = await sharedNode();
  const h1 = await waitFor("a few blocks", async () => {
    const h = (await rpc(first.url, "node_status")).result.head.height;
    return h >= 3 ? h : undefined;
  });
  const supply1 = (await rpc(first.url, "chain_getSupply")).result;
  t.equal(await first.stop("SIGTERM"), 0, "graceful shutdown exits 0");
  const second = await startNode(home);
  t.teardown(() => second.stop("SIGKILL"));
  const status = (await rpc(second.url, "node_status")).result;
  t.ok(status.head.height >= h1, "no finalized block lost");
  await waitFor("the next block after restart", async () => ((await rpc(second.url, "node_status")).result.head.height > status.head.height ? true : undefined));
  const supply2 = (await rpc(second.url, "chain_getSupply")).result;
  t.equal(supply2.genesisSupply, supply1.genesisSupply);
  t.ok(BigInt(supply2.burned) >= BigInt(supply1.burned));
});
