/**
 * The explorer in headless Chromium (Debian's chromium, driven by playwright-core; .ci/run
 * installs it): a real node, a real transfer from the CLI, then the browser clicks from the
 * block to the transaction to the account, and what it shows is checked against JSON-RPC.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import t from "tap";
import { rpc, runCli, startNode } from "../helpers/process.ts";

const CHROMIUM = "/usr/bin/chromium";

t.test("explorer: block -> transaction -> account, matching JSON-RPC", { skip: existsSync(CHROMIUM) ? false : `needs ${CHROMIUM} (Debian package chromium; .ci/run installs it)` }, async (t) => {
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
  t.same(errors, [], "no script errors in the page");
});
