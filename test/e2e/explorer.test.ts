/**
 * The explorer in headless Chromium (Debian's chromium, driven by playwright-core; .ci/run
 * installs it): a real node, a real transfer from the CLI, then the browser clicks from the
 * block to the transaction to the account, and what it shows is checked against JSON-RPC.
 * Then the recipient registers as a storage provider and the faucet makes a deal with it
 * (signed here, sent with tx_send), and the browser clicks from the providers list to the
 * provider to the deal, from the deal to its start epoch, and from the provider's account page
 * to its provider view. The home page grows by itself (WebSocket), pages to older blocks, shows
 * the supply and the block time; both sides of the transfer show its amount and direction; a
 * relay's capacity is a rate; bad URLs and unknown ids show a not-found page.
 * The faucet posts a storage order: its page shows the order as JSON-RPC does, and a direct deal
 * says it is one.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import t from "tap";
import { toHex } from "../../primitives/bytes.ts";
import { toAddress } from "../../primitives/keys.ts";
import { dealId, ProviderKind, signDealAcceptance, type DealTerms } from "../../modules/storage/storage.ts";
import { devnetFaucetKey } from "../../genesis/devnet.ts";
import { readKeyFile } from "../../plugins/shared/keyfile.ts";
import { sendAndWait } from "../../plugins/storage-provider/deals.ts";
import { RpcClient } from "../../rpc/client.ts";
import { rpc, runCli, startNode } from "../helpers/process.ts";

const CHROMIUM = "/usr/bin/chromium";

async function waitForHeight(url: string, height: number): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if ((await rpc(url, "node_status", {})).result.head.height >= height) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the chain did not reach height ${height}`);
}
const CLC = 1_000_000_000n;

t.test("explorer: block -> transaction -> account, providers -> provider -> deal, matching JSON-RPC", { skip: existsSync(CHROMIUM) ? false : `needs ${CHROMIUM} (Debian package chromium; .ci/run installs it)` }, async (t) => {
  const home = mkdtempSync(join(tmpdir(), "cloudcoin-explorer-"));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const node = await startNode(home);
  t.teardown(() => node.stop("SIGKILL"));
  const bob = JSON.parse((await runCli(["keys", "new", "bob", "--home", home, "--json"])).stdout).address as string;
  const sent = await runCli(["tx", "transfer", "--from", "devnet-faucet", "--to", bob, "--amount", "4.25", "--home", home, "--rpc", node.url, "--json"]);
  t.equal(sent.code, 0, sent.stderr);
  const { hash, height } = JSON.parse(sent.stdout) as { hash: string; height: number };

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  // the home page lists the latest blocks and the validator set, the supply and the block time
  await page.goto(`${node.url}explorer/`);
  await page.waitForSelector("#blocks tr >> nth=1");
  t.ok((await page.locator("#validators tr").count()) >= 2, "validators are listed");
  const supply = (await rpc(node.url, "chain_getSupply", {})).result;
  const shown = BigInt((await page.getAttribute("#stat-supply", "data-units"))!);
  const diff = shown > BigInt(supply.total) ? shown - BigInt(supply.total) : BigInt(supply.total) - shown;
  t.ok(diff * 100n < BigInt(supply.total), `the total supply is shown (${shown}; ${supply.total} by RPC a moment later)`);
  const blockTime = Number(await page.getAttribute("#stat-blocktime", "data-ms"));
  t.ok(blockTime > 0 && blockTime < 10_000, `the mean block time is shown (${blockTime} ms)`);

  // ... and grows by itself: a newer block appears on top without a reload
  await page.waitForSelector("#live.live");
  const top = Number(await page.getAttribute("#blocks tr[data-height] >> nth=0", "data-height"));
  await page.waitForSelector(`#blocks tr[data-height="${top + 1}"]`, { timeout: 15_000 });
  const first = Number(await page.getAttribute("#blocks tr[data-height] >> nth=0", "data-height"));
  t.ok(first >= top + 1, `a newer block is the first row (${first})`);
  // no gap: a block finalized while the page loaded (before its list existed) is filled in
  const liveRows = (await page.$$eval("#blocks tr[data-height]", (rows) => rows.map((r) => Number(r.getAttribute("data-height"))))) as number[];
  t.same(liveRows, liveRows.map((_, i) => liveRows[0]! - i), `the rows are consecutive heights, newest first (${liveRows.slice(0, 4).join(", ")}, ...)`);
  t.ok(Number(await page.textContent("#stat-height")) >= top + 1, "the height figure follows");

  // a block, then the transaction in it
  await page.goto(`${node.url}explorer/#/block/${height}`);
  await page.waitForSelector("#block-hash");
  const block = (await rpc(node.url, "chain_getBlock", { height })).result;
  t.equal(await page.textContent("#block-hash"), block.header.hash);
  await page.click(`#txs a[data-kind="tx"][href="#/tx/${hash}"]`);
  await page.waitForSelector("#tx-status");
  t.equal(await page.textContent("#tx-status"), "finalized");
  t.equal(await page.textContent("#tx-op"), "transfer");

  // ... and the recipient's account
  await page.click(`a[data-kind="account"][href="#/account/${bob}"]`);
  await page.waitForSelector("#account-balance");
  const account = (await rpc(node.url, "state_getAccount", { address: bob })).result;
  t.equal(await page.textContent("#account-address"), bob);
  t.equal(await page.getAttribute("#account-balance", "data-units"), account.balance);
  t.equal(account.balance, "4250000000");
  t.ok((await page.textContent("#account-txs"))?.includes(hash.slice(0, 16)), "the account lists its transaction");
  const inRow = page.locator(`#account-txs tr[data-hash="${hash}"]`);
  t.equal(await inRow.locator(".dir").textContent(), "in", "the recipient sees the transfer coming in");
  t.equal(await inRow.locator(".amount").getAttribute("data-units"), "4250000000");
  t.match(await inRow.locator(".amount").textContent(), /^\+4\.25 CLC$/);
  // the sender's side of the same transfer
  const faucetAddress = toAddress(devnetFaucetKey().publicKey);
  await page.goto(`${node.url}explorer/#/account/${faucetAddress}`);
  await page.locator("#account-address", { hasText: faucetAddress }).waitFor();
  const outRow = page.locator(`#account-txs tr[data-hash="${hash}"]`);
  t.equal(await outRow.locator(".dir").textContent(), "out", "the sender sees it going out");
  t.match(await outRow.locator(".amount").textContent(), /^−4\.25 CLC$/);
  const sentTx = (await rpc(node.url, "tx_get", { hash })).result;
  t.equal(await outRow.locator(".fee").getAttribute("data-units"), sentTx.tx.fee, "and the fee it paid");
  await page.goto(`${node.url}explorer/#/account/${bob}`);
  await page.locator("#account-address", { hasText: bob }).waitFor();
  t.equal(await page.locator("#account-provider").count(), 0, "not a provider yet: no provider link");

  // bob registers as a storage provider; the faucet makes a deal with him (bob signs the acceptance)
  const client = new RpcClient(node.url);
  const { chainId } = await client.call("node_status", {});
  const bobKey = await readKeyFile(join(home, "keys", "bob.json"));
  const faucet = devnetFaucetKey();
  await sendAndWait(client, chainId, bobKey, { type: "provider.register", kind: ProviderKind.STORAGE, collateral: 2n * CLC, capacity: 1_000_000n, multiaddr: "/ip4/127.0.0.1/tcp/9999" });
  const head = (await client.call("node_status", {})).head.height;
  const terms: DealTerms = {
    provider: bobKey.publicKey, root: randomBytes(32), size: 50_000n, chunkSize: 4096n, pricePerEpoch: 1_000_000n, durationEpochs: 12n,
    collateral: 300_000_000n, expiresAtHeight: BigInt(head) + 60n,
  };
  const deal = toHex(dealId(chainId, faucet.publicKey, terms));
  await sendAndWait(client, chainId, faucet, { type: "storage.deal", terms, providerSignature: signDealAcceptance(chainId, bobKey, faucet.publicKey, terms) });

  // home -> providers (nav) -> bob's provider view
  await page.goto(`${node.url}explorer/`);
  await page.waitForSelector("#blocks tr >> nth=1");
  await page.click("#nav-providers");
  await page.waitForSelector("#providers tr >> nth=1");
  const listed = (await rpc(node.url, "provider_list", { includeExited: true })).result;
  t.equal(listed.providers.length, 1);
  const row = page.locator(`#providers tr[data-address="${bob}"]`);
  t.equal(await row.locator(".kind").textContent(), listed.providers[0].kind);
  t.equal(await row.locator(".status").textContent(), "active");
  t.equal(await row.locator(".collateral").getAttribute("data-units"), listed.providers[0].collateral);
  t.equal(listed.providers[0].collateral, String(2n * CLC));
  t.equal(await row.locator(".capacity").getAttribute("data-bytes"), "1000000");
  t.equal(await row.locator(".reputation").getAttribute("data-bps"), String(listed.providers[0].reputationBps));
  t.equal(await row.locator(".banned").textContent(), "no");
  await row.locator(`a[data-kind="provider"][href="#/provider/${bob}"]`).click();
  await page.waitForSelector("#provider-address");
  const provider = (await rpc(node.url, "provider_get", { address: bob })).result;
  t.equal(await page.textContent("#provider-address"), bob);
  t.equal(await page.textContent("#provider-status"), provider.status);
  t.equal(await page.getAttribute("#provider-collateral", "data-units"), provider.collateral);
  t.equal(await page.getAttribute("#provider-locked", "data-units"), provider.locked);
  t.equal(provider.locked, terms.collateral.toString(), "the deal's collateral is locked");
  t.equal(await page.getAttribute("#provider-used", "data-bytes"), provider.used);
  t.equal(await page.textContent("#provider-active-deals"), "1");

  // -> the deal
  await page.click(`#provider-deals a[data-kind="deal"][href="#/deal/${deal}"]`);
  await page.waitForSelector("#deal-id");
  const onChain = (await rpc(node.url, "storage_getDeal", { id: deal })).result;
  t.equal(await page.textContent("#deal-id"), deal);
  t.equal(await page.textContent("#deal-status"), onChain.status);
  t.equal(onChain.status, "active");
  t.equal(await page.textContent("#deal-root"), onChain.root);
  t.equal(await page.getAttribute("#deal-size", "data-bytes"), onChain.size);
  t.equal(await page.getAttribute("#deal-escrow", "data-units"), onChain.escrow);
  t.equal(onChain.escrow, String(terms.pricePerEpoch * terms.durationEpochs));
  t.equal(await page.getAttribute("#deal-collateral-left", "data-units"), onChain.collateralLeft);
  t.equal(await page.getAttribute("#deal-provider", "href"), `#/provider/${bob}`);
  t.ok(await page.locator(`a[data-kind="account"][href="#/account/${toAddress(faucet.publicKey)}"]`).count(), "the client links to its account");
  t.equal(await page.textContent("#deal-ended"), "not yet");
  t.equal(await page.textContent("#deal-order"), "direct deal (paid its price only)", "a direct deal names no order");
  t.equal(await page.getAttribute(`#deal-created a[data-kind="block"]`, "href"), `#/block/${onChain.createdAt}`, "the height it was made at links a block");
  // its start is an epoch, linked as one (never as the block of the same number)
  await page.click(`#deal-duration a[data-kind="epoch"][href="#/epoch/${onChain.startEpoch}"]`);
  await page.waitForSelector("#epoch-status");
  const startEpoch = (await rpc(node.url, "rewards_getEpoch", { epoch: onChain.startEpoch })).result;
  // a deal starts with the epoch after the one it was made in: usually still ahead
  t.equal(await page.textContent("#epoch-status"), startEpoch === null ? "future" : startEpoch.status);
  await page.click("#epoch-prev");
  await page.waitForSelector(`#epoch-reward`);
  const made = (await rpc(node.url, "rewards_getEpoch", { epoch: onChain.startEpoch - 1 })).result;
  t.equal(await page.getAttribute("#epoch-reward", "data-units"), made.reward, "the epoch the deal was made in, with its reward");

  // a bandwidth relay's capacity is a rate
  await sendAndWait(client, chainId, faucet, { type: "provider.register", kind: ProviderKind.BANDWIDTH, collateral: 2n * CLC, capacity: 125_000n, multiaddr: "/ip4/127.0.0.1/tcp/9998" });
  await page.goto(`${node.url}explorer/#/providers`);
  const relayRow = page.locator(`#providers tr[data-address="${toAddress(faucet.publicKey)}"]`);
  await relayRow.waitFor();
  t.equal(await relayRow.locator(".capacity").textContent(), "125,000 B/s");
  t.equal(await row.locator(".capacity").textContent(), "1,000,000 bytes", "a storage provider's capacity stays in bytes");
  const relayShown = await runCli(["provider", "show", toAddress(faucet.publicKey), "--rpc", node.url, "--home", home]);
  t.match(relayShown.stdout, /capacity 125000 B\/s/, "cloudcoin provider show gives a relay's capacity as a rate too");


  // a storage order (bob is the only provider it could be placed on): its page
  const ordered = await sendAndWait(client, chainId, faucet, {
    type: "storage.order", root: randomBytes(32), size: 20_000n, chunkSize: 4096n, pricePerEpoch: 1_000_000n, durationEpochs: 5n, replicas: 1,
  });
  await page.goto(`${node.url}explorer/#/order/${ordered.hash}`);
  await page.waitForSelector("#order-id");
  const o = (await rpc(node.url, "storage_getOrder", { id: ordered.hash })).result;
  t.equal(await page.textContent("#order-id"), ordered.hash);
  t.equal(await page.textContent("#order-status"), o.status);
  t.equal(o.status, "open");
  t.equal(await page.textContent("#order-root"), o.root);
  t.equal(await page.getAttribute("#order-size", "data-bytes"), "20000");
  t.equal(await page.textContent("#order-replicas"), "0 of 1 accepted, 0 pending");
  t.equal(await page.getAttribute("#order-escrow", "data-units"), o.escrow);
  t.equal(o.escrow, "5000000", "price x duration x replicas");
  t.equal(await page.locator("#order-placements tr").count(), 1 + o.placements.length, "a row per placement");

  // bob's account page now links to his provider view
  await page.goto(`${node.url}explorer/#/account/${bob}`);
  await page.waitForSelector("#account-provider");
  await page.click("#account-provider");
  await page.waitForSelector("#provider-address");
  t.equal(await page.textContent("#provider-address"), bob);

  // paging (5 rows a page, ?per=5): from the latest blocks to the pages before them, and back
  await waitForHeight(node.url, 3 * 5 + 1);
  await page.goto(`${node.url}explorer/?per=5#/`);
  await page.waitForSelector("#blocks-next");
  const lastShown = Number(await page.getAttribute("#blocks tr[data-height] >> nth=-1", "data-height"));
  await page.click("#blocks-next");
  await page.waitForSelector(`#blocks tr[data-height="${lastShown - 1}"]`);
  t.equal(await page.locator("#blocks tr[data-height]").count(), 5, "a full page of older blocks");
  t.equal(Number(await page.getAttribute("#blocks tr[data-height] >> nth=0", "data-height")), lastShown - 1, "starting right below the newest page");
  await page.click("#blocks-next");
  await page.waitForSelector(`#blocks tr[data-height="${lastShown - 6}"]`);
  await page.click("#blocks-first");
  await page.waitForSelector('#blocks[data-live="true"]');
  // an account's transactions page the same way: the faucet sent the transfer, the deal and the relay registration
  await page.goto(`${node.url}explorer/?per=2#/account/${faucetAddress}`);
  await page.locator("#account-address", { hasText: faucetAddress }).waitFor();
  const listed3 = (await rpc(node.url, "tx_listByAddress", { address: faucetAddress, limit: 3 })).result.txs as { hash: string }[];
  t.equal(listed3.length, 3);
  t.same(await page.locator("#account-txs tr[data-hash]").evaluateAll((rs) => rs.map((r) => r.getAttribute("data-hash"))), listed3.slice(0, 2).map((x) => x.hash), "the newest two first");
  await page.click("#account-txs-next");
  await page.waitForSelector(`#account-txs tr[data-hash="${listed3[2]!.hash}"]`);
  t.equal(await page.locator(`#account-txs tr[data-hash="${listed3[0]!.hash}"]`).count(), 0, "the next page starts after them");
  await page.click("#account-txs-first");
  await page.waitForSelector(`#account-txs tr[data-hash="${listed3[0]!.hash}"]`);

  // friendly not-found pages for bad URLs and unknown ids
  const notFound = async (hashPart: string, expect: RegExp) => {
    await page.goto(`${node.url}explorer/#/${hashPart}`);
    await page.locator("#not-found", { hasText: expect }).waitFor();
    t.match(await page.textContent("#not-found"), expect, `#/${hashPart} is not found`);
    t.equal(await page.locator("#not-found a[href='#/']").count(), 1, "with a way back");
  };
  await notFound("no-such-view/1", /No page/);
  await notFound("block/99999999", /No block 99999999/);
  await notFound("block/zz", /No block zz/);
  await notFound(`tx/${"ab".repeat(32)}`, /No transaction/);
  await notFound("tx/123", /No transaction 123/);
  await notFound("account/cc1abc", /No account cc1abc/);
  await notFound(`account/cc1${"q".repeat(58)}`, /No account/); // well formed, bad checksum: the node refuses it
  await notFound(`deal/${"cd".repeat(32)}`, /No deal/);
  await notFound(`provider/${faucetAddress.slice(0, -1)}x`, /No provider/);
  await notFound("epoch/-1", /No epoch -1/);
  t.same(errors, [], "no script errors in the page");
});
