/**
 * e2e: payment channels with a real node process (started with a service key = the payee and an
 * RPC token), a channel opened with the CLI from the devnet faucet, and the paid-content server
 * and client as real child processes. Checked only through JSON-RPC and HTTP.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { fromHex, toHex } from "../../primitives/bytes.ts";
import { toAddress } from "../../primitives/keys.ts";
import { encodeVoucher, signVoucher } from "../../modules/paych/paych.ts";
import { devnetFaucetKey, devnetGenesis, devnetGenesisFile, devnetValidatorKey } from "../../genesis/devnet.ts";
import { keyFileJson } from "../../node/keyring.ts";
import { startAdSlot, startAdvertiser } from "../../plugins/paid-content/ad-slot.ts";
import { channelStart } from "../../plugins/paid-content/client.ts";
import { RpcClient } from "../../rpc/client.ts";
import { logEntry, readyUrl, rpc, runCli, runScript, startNode, startProcess, waitFor } from "../helpers/process.ts";

const SERVER = fileURLToPath(new URL("../../plugins/paid-content/server.ts", import.meta.url));
const CLIENT = fileURLToPath(new URL("../../plugins/paid-content/client.ts", import.meta.url));
const TOKEN = "e2e-sign-token";
const ADMIN = "e2e-admin-token";
const CHUNKS = 16;
const CHUNK_SIZE = 1000;
const PRICE = 1_000_000n; // 0.001 CLC
const FEE_BURN_BPS = BigInt(devnetGenesis().params.feeBurnBps);

const home = mkdtempSync(join(tmpdir(), "cloudcoin-e2e-paych-"));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
// the devnet with a one-block minSettleDelay (the default is one epoch, 100 s): the CLI's close and withdraw run within seconds;
// and 250 ms blocks (the default is 1 s): a dozen transactions are each sent and waited for, one after another
writeFileSync(join(home, "genesis.json"), JSON.stringify({ ...devnetGenesisFile(), params: { ...devnetGenesisFile().params, minSettleDelay: 1, blockIntervalMs: 250 } }));
writeFileSync(join(home, "validator.key.json"), keyFileJson("devnet-validator-0", devnetValidatorKey(), true), { mode: 0o600 });

/** A plugin process: ready once it logs "ready" with its url. */
const spawnPlugin = (script: string, args: string[], env: Record<string, string> = {}) => startProcess(script, args, readyUrl, { env });

const runClient = (args: string[]) => runScript(CLIENT, args, 120_000);

const account = async (url: string, address: string) => (await rpc(url, "state_getAccount", { address })).result as { balance: string; nonce: string };
const supply = async (url: string) => (await rpc(url, "chain_getSupply")).result as { minted: string; burned: string; total: string };

t.test("paid content: 16 chunks paid with vouchers, redeemed by the node's service key on server shutdown", async (t) => {
  const made = await runCli(["keys", "new", "payee", "--home", home, "--json"]);
  t.equal(made.code, 0, made.stderr);
  const payee = JSON.parse(made.stdout).address as string;
  const faucetKey = devnetFaucetKey();
  const faucet = toAddress(faucetKey.publicKey);

  process.env.CLOUDCOIN_RPC_TOKENS = `${TOKEN}:sign; other:admin,sign`;
  const node = await startNode(home, ["--service-key", "payee"]);
  delete process.env.CLOUDCOIN_RPC_TOKENS;
  t.teardown(() => node.stop("SIGKILL"));
  await waitFor("first block", async () => ((await rpc(node.url, "node_status")).result.head.height >= 1 ? true : undefined));
  t.ok(node.logs.some((l) => l.includes("service key loaded") && l.includes(payee)), "the node loaded the service key");

  // sign-tier methods need the token; the CLI passes --token / CLOUDCOIN_RPC_TOKEN
  const noToken = await runCli(["paych", "redeem", "--channel", "00".repeat(32), "--rpc", node.url, "--json"]);
  t.equal(noToken.code, 1);
  t.match(noToken.stderr, /RPC_UNAUTHORIZED/, "paych_redeem without a token is refused (sign permission)");
  t.match(noToken.stderr, /--token/, "and the error says how to give one");
  const withToken = await runCli(["paych", "redeem", "--channel", "00".repeat(32), "--token", TOKEN, "--rpc", node.url, "--json"]);
  t.match(withToken.stderr, /NO_VOUCHER/, "with the token the call reaches the handler");

  // the payee pays its redeem fee from its balance (the fee is charged before the redeem pays out)
  const funded = await runCli(["tx", "transfer", "--from", "devnet-faucet", "--to", payee, "--amount", "0.01", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(funded.code, 0, funded.stderr);

  // open a channel from the faucet to the payee with the CLI
  const opened = await runCli(["paych", "open", "--from", "devnet-faucet", "--to", "payee", "--deposit", "1", "--settle-delay", "20", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(opened.code, 0, opened.stderr);
  const openResult = JSON.parse(opened.stdout);
  t.equal(openResult.receipt.ok, true);
  const channel = openResult.channel as string;
  const got = (await rpc(node.url, "paych_get", { channel })).result;
  t.equal(got.payer, faucet);
  t.equal(got.payee, payee);
  t.equal(got.deposit, "1000000000");
  t.equal(got.state, "open");
  const listed = await runCli(["paych", "list", "--payee", "payee", "--home", home, "--rpc", node.url, "--json"]);
  t.same(JSON.parse(listed.stdout).channels.map((c: { id: string }) => c.id), [channel], "paych list --payee");

  // the content and the payer's key file for the client
  const content = randomBytes(CHUNKS * CHUNK_SIZE - 123); // last chunk shorter
  const file = join(home, "content.bin");
  writeFileSync(file, content);
  const keyFile = join(home, "payer.json");
  writeFileSync(keyFile, keyFileJson("faucet", faucetKey, true), { mode: 0o600 });

  const server = await spawnPlugin(SERVER, ["--file", file, "--payee", payee, "--price", "0.001", "--chunk-size", String(CHUNK_SIZE), "--rpc", node.url, "--port", "0"], {
    CLOUDCOIN_RPC_TOKEN: TOKEN,
    PAID_CONTENT_ADMIN_TOKEN: ADMIN,
  });
  t.teardown(() => server.child.kill("SIGKILL"));
  const info = (await (await fetch(new URL("info", server.url))).json()) as { chunks: number };
  t.equal(info.chunks, CHUNKS);

  const payeeBefore = BigInt((await account(node.url, payee)).balance);
  const supplyBefore = await supply(node.url);

  // the client downloads every chunk, one voucher each, and checks the SHA-256
  const out = join(home, "downloaded.bin");
  const dl = await runClient(["--url", server.url, "--rpc", node.url, "--channel", channel, "--key-file", keyFile, "--out", out]);
  t.equal(dl.code, 0, dl.stdout + dl.stderr);
  const dlResult = JSON.parse(dl.stdout);
  t.equal(dlResult.ok, true);
  t.equal(dlResult.chunks, CHUNKS);
  t.equal(dlResult.paid, String(PRICE * BigInt(CHUNKS)));
  t.equal(dlResult.nonce, String(CHUNKS));
  t.ok(Buffer.from(readFileSync(out)).equals(content), "the reassembled file is the original");
  const held = (await rpc(node.url, "paych_get", { channel })).result;
  t.same(held.bestVoucher, { amount: String(PRICE * BigInt(CHUNKS)), nonce: String(CHUNKS) }, "the node holds the best voucher");

  // bad payments get 402 with their reason
  const status = (await rpc(node.url, "node_status")).result;
  const ch = fromHex(channel);
  const chunk0 = async (voucher?: string) => {
    const res = await fetch(new URL("chunk/0", server.url), voucher === undefined ? {} : { headers: { "x-voucher": voucher } });
    return { status: res.status, body: (await res.json()) as { code: string } };
  };
  const next = { channel: ch, amount: PRICE * BigInt(CHUNKS + 1), nonce: BigInt(CHUNKS + 1) };
  const missing = await chunk0();
  t.same([missing.status, missing.body.code], [402, "PAYMENT_REQUIRED"]);
  const good = signVoucher(status.chainId, faucetKey, next);
  const badSig = new Uint8Array(good.signature);
  badSig[10] = badSig[10]! ^ 1;
  const tampered = await chunk0(toHex(encodeVoucher({ ...good, signature: badSig })));
  t.same([tampered.status, tampered.body.code], [402, "PAYCH_BAD_SIGNATURE"], "tampered voucher");
  const forged = await chunk0(toHex(encodeVoucher({ ...good, amount: good.amount * 2n })));
  t.same([forged.status, forged.body.code], [402, "PAYCH_BAD_SIGNATURE"], "amount changed after signing");
  const stale = await chunk0(toHex(encodeVoucher(signVoucher(status.chainId, faucetKey, { ...next, nonce: BigInt(CHUNKS) }))));
  t.same([stale.status, stale.body.code], [402, "PAYCH_STALE_NONCE"], "stale nonce");
  const over = await runCli(["paych", "voucher", "--from", "devnet-faucet", "--channel", channel, "--amount", "2", "--nonce", "100", "--home", home, "--rpc", node.url]);
  t.equal(over.code, 0, over.stderr);
  const overDeposit = await chunk0(over.stdout.trim());
  t.same([overDeposit.status, overDeposit.body.code], [402, "PAYCH_EXCEEDS_DEPOSIT"], "voucher above the deposit (signed with the CLI)");
  const tooLittle = await chunk0(toHex(encodeVoucher(signVoucher(status.chainId, faucetKey, { ...next, amount: PRICE * BigInt(CHUNKS) + 1n }))));
  t.same([tooLittle.status, tooLittle.body.code], [402, "PAYMENT_INSUFFICIENT"], "adds less than the price");
  const malformed = await chunk0("zz");
  t.same([malformed.status, malformed.body.code], [402, "VOUCHER_MALFORMED"]);
  const junk = await chunk0("deadbeef");
  t.same([junk.status, junk.body.code], [402, "PAYCH_MALFORMED"]);
  const unauth = await fetch(new URL("admin/settle", server.url), { method: "POST" });
  t.equal(unauth.status, 401, "/admin/settle needs the admin token");
  t.same((await rpc(node.url, "paych_get", { channel })).result.bestVoucher, held.bestVoucher, "no rejected voucher replaced the best one");

  // shutdown settles: the node redeems with its service key
  server.child.kill("SIGTERM");
  t.equal(await server.exited, 0, "the server settles and exits 0");
  const settledLine = server.logs.find((l) => logEntry(l, "settled"));
  t.ok(settledLine, "the server reports its settlement");
  const settled = logEntry(settledLine!, "settled")!.settled as { channel: string; hash: string; status: string; fee: string }[];
  t.equal(settled.length, 1);
  t.equal(settled[0]!.status, "redeemed", settledLine ?? "no SETTLED line");
  t.equal(settled[0]!.channel, channel);
  const redeemTx = (await rpc(node.url, "tx_get", { hash: settled[0]!.hash })).result;
  t.equal(redeemTx.status, "finalized");
  t.equal(redeemTx.receipt.ok, true);
  t.equal(redeemTx.tx.sender, payee, "signed by the service key");
  const fee = BigInt(redeemTx.receipt.fee);

  const total = PRICE * BigInt(CHUNKS);
  t.equal(BigInt((await account(node.url, payee)).balance), payeeBefore + total - fee, "the payee got price x chunks, minus its redeem fee");
  const after = (await rpc(node.url, "paych_get", { channel })).result;
  t.equal(after.redeemed, String(total));
  t.equal(after.nonce, String(CHUNKS));
  t.equal(after.remaining, String(1_000_000_000n - total));
  const byPayer = (await rpc(node.url, "paych_list", { payer: faucet })).result.channels.find((c: { id: string }) => c.id === channel);
  t.equal(byPayer.redeemed, String(total), "the payer's channel shows redeemed = price x chunks");

  // supply: nothing minted; the total went down by exactly the burned share of the one fee paid since
  const supplyAfter = await supply(node.url);
  t.equal(supplyAfter.minted, supplyBefore.minted);
  const burned = BigInt(supplyAfter.burned) - BigInt(supplyBefore.burned);
  t.equal(burned, (fee * FEE_BURN_BPS) / 10_000n, "only the redeem fee's burned share");
  t.equal(BigInt(supplyBefore.total) - BigInt(supplyAfter.total), burned, "total unchanged except burned fees");

  // redeeming again pays nothing more (the chain rejects the same voucher as stale)
  const again = await runCli(["paych", "redeem", "--channel", channel, "--token", TOKEN, "--rpc", node.url, "--json"], 60_000);
  t.equal(again.code, 1);
  t.match(again.stderr, /PAYCH_STALE_NONCE/);

  // ---- the ad slot: the advertiser pays the site per impression, same voucher logic ----
  const open2 = await runCli(["paych", "open", "--from", "devnet-faucet", "--to", payee, "--deposit", "0.01", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(open2.code, 0, open2.stderr);
  const adChannel = JSON.parse(open2.stdout).channel as string;
  const client = new RpcClient(node.url);
  const adPrice = 2_000_000n;
  const advertiser = await startAdvertiser({
    chainId: status.chainId, key: faucetKey, channel: fromHex(adChannel), start: await channelStart(client, adChannel),
    price: adPrice, budget: adPrice * 3n, creative: "Buy Cloudcoin <now>",
  });
  t.teardown(() => advertiser.close());
  const site = await startAdSlot({ payee, price: adPrice, advertiserUrl: advertiser.url, rpcUrl: node.url, token: TOKEN, adminToken: ADMIN });
  t.teardown(() => site.app.close());
  for (let i = 0; i < 4; i++) {
    const page = await fetch(new URL(`watch/v${i}`, site.url));
    const html = await page.text();
    if (i < 3) {
      t.equal(page.headers.get("x-ad-paid"), "true", `impression ${i} paid`);
      t.match(html, /Buy Cloudcoin &#60;now&#62;/);
    } else {
      t.equal(page.headers.get("x-ad-paid"), "false", "budget exhausted: the house ad");
      t.equal(page.headers.get("x-ad-code"), "BUDGET_EXHAUSTED");
    }
  }
  t.equal(site.impressions(), 3);
  const siteBefore = BigInt((await account(node.url, payee)).balance);
  const res = await fetch(new URL("admin/settle", site.url), { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } });
  const adSettled = ((await res.json()) as { settled: { status: string; hash: string; fee: string }[] }).settled;
  t.equal(adSettled.length, 1);
  t.equal(adSettled[0]!.status, "redeemed");
  t.equal(BigInt((await account(node.url, payee)).balance), siteBefore + adPrice * 3n - BigInt(adSettled[0]!.fee));
  t.equal((await rpc(node.url, "paych_get", { channel: adChannel })).result.redeemed, String(adPrice * 3n));

  // ---- the rest of the CLI: fund, voucher, redeem --voucher (by the payee), close, withdraw ----
  const cli = (args: string[]) => runCli([...args, "--home", home, "--rpc", node.url, "--json"]);
  const open3 = await cli(["paych", "open", "--from", "devnet-faucet", "--to", "payee", "--deposit", "0.5", "--settle-delay", "1"]);
  t.equal(open3.code, 0, open3.stderr);
  const ch3 = JSON.parse(open3.stdout).channel as string;
  const fund = await cli(["paych", "fund", "--from", "devnet-faucet", "--channel", ch3, "--amount", "0.25"]);
  t.equal(JSON.parse(fund.stdout).receipt.ok, true, fund.stderr);
  t.equal((await rpc(node.url, "paych_get", { channel: ch3 })).result.deposit, "750000000");
  const v3 = JSON.parse((await cli(["paych", "voucher", "--from", "devnet-faucet", "--channel", ch3, "--amount", "0.6", "--nonce", "1"])).stdout);
  const red = await cli(["paych", "redeem", "--from", "payee", "--voucher", v3.voucher]);
  t.equal(JSON.parse(red.stdout).receipt.ok, true, red.stderr);
  const twice = await cli(["paych", "redeem", "--from", "payee", "--voucher", v3.voucher]);
  t.equal(JSON.parse(twice.stdout).receipt.code, "PAYCH_STALE_NONCE", "redeeming twice pays once");
  t.equal((await rpc(node.url, "paych_get", { channel: ch3 })).result.redeemed, "600000000");
  const close = await cli(["paych", "close", "--from", "devnet-faucet", "--channel", ch3]);
  t.equal(JSON.parse(close.stdout).receipt.ok, true, close.stderr);
  const closeHeight = JSON.parse(close.stdout).height as number;
  await waitFor("the settle delay", async () => ((await rpc(node.url, "node_status")).result.head.height >= closeHeight + 2 ? true : undefined));
  const withdraw = await cli(["paych", "withdraw", "--from", "devnet-faucet", "--channel", ch3]);
  t.equal(JSON.parse(withdraw.stdout).receipt.ok, true, withdraw.stdout + withdraw.stderr);
  t.equal((await rpc(node.url, "paych_get", { channel: ch3 })).result.state, "settled");
});
