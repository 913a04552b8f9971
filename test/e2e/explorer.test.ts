/**
 * The explorer in headless Chromium (Debian's chromium, driven by playwright-core; .ci/run
 * installs it): a real node, a real transfer from the CLI, then the browser clicks from the
 * block to the transaction to the account, and what it shows is checked against JSON-RPC.
 * Then the recipient registers as a storage provider and the faucet makes a deal with it
 * (signed here, sent with tx_send), and the browser clicks from the providers list to the
 * provider to the deal, and from the provider's account page to its provider view. The faucet posts
 * a storage order: its page shows the order as JSON-RPC does, and a direct deal says it is one.
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
import { readSeedFile, sendAndWait } from "../../plugins/storage-provider/deals.ts";
import { RpcClient } from "../../rpc/client.ts";
import { rpc, runCli, startNode } from "../helpers/process.ts";

const CHROMIUM = "/usr/bin/chromium";
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

  // the home page lists the latest blocks and the validator set
  await page.goto(`${node.url}explorer/`);
  await page.waitForSelector("#blocks tr >> nth=1");
  t.ok((await page.locator("#validators tr").count()) >= 2, "validators are listed");

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
  t.equal(await page.locator("#account-provider").count(), 0, "not a provider yet: no provider link");

  // bob registers as a storage provider; the faucet makes a deal with him (bob signs the acceptance)
  const client = new RpcClient(node.url);
  const { chainId } = await client.call("node_status", {});
  const bobKey = await readSeedFile(join(home, "keys", "bob.json"));
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
  t.equal(await page.textContent("#deal-order"), "direct deal (paid its price only)", "a direct deal names no order");

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
  t.same(errors, [], "no script errors in the page");
});
