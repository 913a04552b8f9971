/**
 * `cloudcoin storage order` and `cloudcoin storage orders`, run in process (node/commands.ts main)
 * against a live test chain served over JSON-RPC (test/helpers/live-chain.ts): the order carries
 * the root `storage root` prints, its escrow is price x epochs x replicas, the list and the single
 * order show it, and bad input exits 2 (usage) or 1 (a refused transaction, with its code).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import t from "tap";
import { main } from "../../../node/commands.ts";
import { writeKeyFile } from "../../../node/keyring.ts";
import { toAddress } from "../../../primitives/keys.ts";
import { testKey } from "../../helpers/chain.ts";
import { liveChain } from "../../helpers/live-chain.ts";
import { pseudoRandomBytes as bytes } from "../../helpers/random.ts";

const L = 4;
const KEYS = { p1: testKey(801), p2: testKey(802), client: testKey(803) };
const FUNDS = 1_000_000_000_000n;

/** Runs the CLI in process; what it printed. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const log = console.log;
  const error = console.error;
  let stdout = "";
  let stderr = "";
  console.log = (...a: unknown[]) => void (stdout += a.join(" ") + "\n");
  console.error = (...a: unknown[]) => void (stderr += a.join(" ") + "\n");
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    console.log = log;
    console.error = error;
  }
}

t.test("storage order and storage orders", async (t) => {
  const net = await liveChain(t, { params: { epochLength: L, collateralPerByte: "1" }, balances: Object.values(KEYS).map((key) => ({ key, amount: FUNDS })) }, 50);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-storage-cli-"));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  fs.mkdirSync(path.join(home, "keys"));
  for (const [name, key] of Object.entries(KEYS)) await writeKeyFile(path.join(home, "keys", `${name}.json`), name, key, true);
  const common = ["--home", home, "--rpc", net.rpcUrl];

  for (const name of ["p1", "p2"]) {
    const r = await cli(["provider", "register", "--from", name, "--kind", "storage", "--collateral", "0.001", "--capacity", "100000", "--multiaddr", "/ip4/127.0.0.1/tcp/9/http", ...common, "--json"]);
    t.equal(r.code, 0, r.stderr);
  }
  const file = path.join(home, "data.bin");
  fs.writeFileSync(file, bytes(3000, 5));
  const root = JSON.parse((await cli(["storage", "root", file, "--chunk-size", "1024", "--json"])).stdout);

  // an order of 2 at 0.000001 CLC (1000 units) per replica-epoch for 5 epochs
  const made = await cli(["storage", "order", file, "--from", "client", "--replicas", "2", "--price", "0.000001", "--epochs", "5", "--chunk-size", "1024", ...common, "--json"]);
  t.equal(made.code, 0, made.stderr);
  const sent = JSON.parse(made.stdout);
  t.match(sent, { status: "finalized", receipt: { ok: true }, order: sent.hash, root: root.root, size: "3000", chunkSize: 1024, replicas: 2, pricePerEpoch: "1000", epochs: 5, escrow: "10000" },
    "the order: the file's root as `storage root` computes it, escrow price x epochs x replicas");
  const onChain = (await net.rpc.call("storage_getOrder", { id: sent.hash }))!;
  t.match(onChain, { client: toAddress(KEYS.client.publicKey), root: root.root, size: "3000", replicas: 2, escrow: "10000", status: "open" });
  t.equal(sent.bond, onChain.bond, "the CLI shows the placement bond the chain locked");
  t.equal(BigInt(sent.bond), 2n * BigInt(sent.failureCharge), "one failure charge per replica");

  // listed: by client (key name or address), every open order, one by id
  const byName = await cli(["storage", "orders", "--client", "client", ...common, "--json"]);
  t.equal(byName.code, 0, byName.stderr);
  t.same(JSON.parse(byName.stdout).orders.map((o: { id: string }) => o.id), [sent.hash]);
  t.same(JSON.parse((await cli(["storage", "orders", "--client", toAddress(KEYS.client.publicKey), "--open", ...common, "--json"])).stdout).orders.map((o: { id: string }) => o.id), [sent.hash]);
  t.same(JSON.parse((await cli(["storage", "orders", "--client", "p1", ...common, "--json"])).stdout).orders, [], "none of p1");
  const human = await cli(["storage", "orders", ...common]);
  t.match(human.stdout, new RegExp(`^order ${sent.hash} \\(open\\): .*0/2 replicas accepted, [0-2] pending`), "the human line (the live chain may have placed it by now)");
  t.match(human.stdout, /placement bond [0-9.]+ CLC \(0 CLC burned by declines\)/, "with its bond");
  const one = await cli(["storage", "orders", sent.hash, ...common, "--json"]);
  t.equal(JSON.parse(one.stdout).id, sent.hash, "one order by id");
  t.equal((await cli(["storage", "orders", "00".repeat(32), ...common])).stdout.trim(), `no order ${"00".repeat(32)}`);

  // refused: usage (exit 2), or by the chain in a block (exit 1 with the receipt's code)
  const usage = (args: string[]) => cli(["storage", ...args, ...common]);
  for (const [what, args] of [
    ["no --replicas", ["order", file, "--from", "client", "--price", "1", "--epochs", "5"]],
    ["0 replicas", ["order", file, "--from", "client", "--replicas", "0", "--price", "1", "--epochs", "5"]],
    ["no --price", ["order", file, "--from", "client", "--replicas", "1", "--epochs", "5"]],
    ["0 epochs", ["order", file, "--from", "client", "--replicas", "1", "--price", "1", "--epochs", "0"]],
    ["no file", ["order", "--from", "client", "--replicas", "1", "--price", "1", "--epochs", "5"]],
    ["a bad chunk size", ["order", file, "--from", "client", "--replicas", "1", "--price", "1", "--epochs", "5", "--chunk-size", "1000"]],
    ["a bad order id", ["orders", "zz"]],
    ["a limit above 100", ["orders", "--limit", "500"]],
  ] as const) {
    t.equal((await usage([...args])).code, 2, `usage: ${what}`);
  }
  t.match(JSON.parse((await usage(["order", file, "--from", "client", "--replicas", "1", "--price", "-1", "--epochs", "5", "--json"])).stderr), { error: { code: "AMOUNT_INVALID" } }, "a negative price");
  const tooMany = await cli(["storage", "order", file, "--from", "client", "--replicas", "3", "--price", "0.000001", "--epochs", "5", "--chunk-size", "512", ...common, "--json"]);
  t.equal(tooMany.code, 1, "more replicas than providers: the transaction fails in its block");
  t.equal(JSON.parse(tooMany.stdout).receipt.code, "STORAGE_TOO_MANY_REPLICAS");
  t.match(JSON.parse(tooMany.stderr), { error: { code: "STORAGE_TOO_MANY_REPLICAS", message: /failed in block [0-9]+ with STORAGE_TOO_MANY_REPLICAS: its fee was paid/ } }, "and says so on stderr, as every error");
  const tooManyText = await cli(["storage", "order", file, "--from", "client", "--replicas", "3", "--price", "0.000001", "--epochs", "5", "--chunk-size", "256", ...common]);
  t.equal(tooManyText.code, 1, "without --json too");
  t.match(tooManyText.stdout, /^finalized [0-9a-f]{64} in block [0-9]+: failed \(STORAGE_TOO_MANY_REPLICAS\)/);
  t.match(tooManyText.stderr, /^error \[STORAGE_TOO_MANY_REPLICAS\]: transaction [0-9a-f]{64} failed in block [0-9]+ with STORAGE_TOO_MANY_REPLICAS: its fee was paid and its operation changed nothing\n$/, "one line naming the code and what it cost");
  const cheap = await cli(["storage", "order", file, "--from", "client", "--replicas", "1", "--price", "0", "--epochs", "5", "--chunk-size", "512", ...common, "--json"]);
  t.equal(cheap.code, 1);
  t.equal(JSON.parse(cheap.stdout).receipt.code, "STORAGE_PRICE_TOO_LOW");
  const empty = path.join(home, "empty.bin");
  fs.writeFileSync(empty, "");
  const e = await cli(["storage", "order", empty, "--from", "client", "--replicas", "1", "--price", "1", "--epochs", "5", ...common, "--json"]);
  t.equal(e.code, 1);
  t.equal(JSON.parse(e.stderr).error.code, "EMPTY_FILE");
});

t.test("storage root shows its progress on a terminal (bytes, rate, time left) and clears it; none in a pipe or with --json", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-storage-root-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "big.bin");
  fs.writeFileSync(file, bytes(3 * 2 ** 20, 7)); // 3 MiB: read in 1 MiB pieces
  const withStderr = async (isTTY: boolean, args: string[]) => {
    const written: string[] = [];
    const write = process.stderr.write;
    const was = Object.getOwnPropertyDescriptor(process.stderr, "isTTY");
    Object.defineProperty(process.stderr, "isTTY", { value: isTTY, configurable: true });
    process.stderr.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      return { ...(await cli(["storage", "root", file, ...args])), progress: written.join("") };
    } finally {
      process.stderr.write = write;
      if (was) Object.defineProperty(process.stderr, "isTTY", was);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
  };
  const tty = await withStderr(true, []);
  t.equal(tty.code, 0, tty.stderr);
  t.match(tty.progress, /\r[0-9]+ of 3 MiB, [0-9]+ MiB\/s, [0-9]+ s left/, `a progress line on the terminal (${JSON.stringify(tty.progress.slice(0, 60))})`);
  t.ok(tty.progress.endsWith("\r\x1b[K"), "cleared before the result");
  t.match(tty.stdout, /^root [0-9a-f]{64}\nsize 3145728 bytes/);
  const piped = await withStderr(false, []);
  t.equal(piped.progress, "", "nothing on a pipe");
  t.equal(piped.stdout, tty.stdout, "the same result");
  t.equal((await withStderr(true, ["--json"])).progress, "", "nothing with --json");
});
