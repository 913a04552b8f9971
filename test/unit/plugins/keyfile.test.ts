/**
 * Plugins read their keys as `cloudcoin keys` writes them (plugins/shared/keyfile.ts): plaintext, or
 * encrypted with the passphrase in CLOUDCOIN_PASSPHRASE (plugins run unattended). The storage and
 * paid-content entry points read their key before any network call, so a process started on an
 * encrypted key without a passphrase stops with the typed error that names it.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import t from "tap";
import { toHex } from "../../../primitives/bytes.ts";
import { encryptedKeyFileJson, keyFileJson, KeyFileErrorCode } from "../../../primitives/keyfile.ts";
import { generateKeyPair } from "../../../primitives/keys.ts";
import { readKeyFile } from "../../../plugins/shared/keyfile.ts";
import { nodeArgs } from "../../helpers/process.ts";

// the cheapest scrypt cost: the format is under test, not the work factor
const FAST = { n: 1024, r: 8, p: 1 };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-plugin-keys-"));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const key = generateKeyPair();
const plain = path.join(dir, "plain.json");
const locked = path.join(dir, "locked.json");
fs.writeFileSync(plain, keyFileJson("plain", key));
fs.writeFileSync(locked, encryptedKeyFileJson("locked", key, "correct horse", FAST));

const codeOf = async (f: () => Promise<unknown>) => {
  try {
    await f();
    return "";
  } catch (e) {
    return (e as { code?: string }).code ?? "no code";
  }
};

t.test("readKeyFile: plaintext, encrypted with CLOUDCOIN_PASSPHRASE, and every failure typed", async (t) => {
  const saved = process.env.CLOUDCOIN_PASSPHRASE;
  t.teardown(() => (saved === undefined ? delete process.env.CLOUDCOIN_PASSPHRASE : (process.env.CLOUDCOIN_PASSPHRASE = saved)));
  t.equal(toHex((await readKeyFile(plain)).publicKey), toHex(key.publicKey), "a plaintext key file");
  delete process.env.CLOUDCOIN_PASSPHRASE;
  t.equal(await codeOf(() => readKeyFile(locked)), KeyFileErrorCode.NEEDS_PASSPHRASE, "encrypted, no passphrase");
  process.env.CLOUDCOIN_PASSPHRASE = "wrong";
  t.equal(await codeOf(() => readKeyFile(locked)), KeyFileErrorCode.BAD_PASSPHRASE, "encrypted, a wrong passphrase");
  process.env.CLOUDCOIN_PASSPHRASE = "correct horse";
  t.equal(toHex((await readKeyFile(locked)).publicKey), toHex(key.publicKey), "encrypted, the right passphrase");
  t.equal(await codeOf(() => readKeyFile(path.join(dir, "missing.json"))), "KEY_NOT_FOUND");
});

function run(file: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.CLOUDCOIN_PASSPHRASE;
    const child = spawn(process.execPath, [...nodeArgs(file), ...args], { stdio: ["ignore", "pipe", "pipe"], env, timeout: 60_000 });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ code, out }));
  });
}

t.test("the storage and paid-content entry points open encrypted key files: without the passphrase they say so", async (t) => {
  // an RPC address nothing listens on: the key is read first, so no connection is ever tried
  const rpc = "http://127.0.0.1:1/";
  const data = path.join(dir, "data.bin");
  fs.writeFileSync(data, "x");
  const cases: [string, string[]][] = [
    ["plugins/storage-provider/provider.ts", ["--rpc", rpc, "--key", locked, "--dir", path.join(dir, "p"), "--port", "0"]],
    ["plugins/storage-provider/client.ts", ["order", "--rpc", rpc, "--key", locked, "--file", data, "--replicas", "1"]],
    ["plugins/paid-content/client.ts", ["--rpc", rpc, "--url", rpc, "--channel", "ab".repeat(32), "--key-file", locked]],
  ];
  for (const [file, args] of cases) {
    const r = await run(file, args);
    t.not(r.code, 0, `${file} stops`);
    t.match(r.out, /is encrypted: give its passphrase/, `${file}: the key file needs its passphrase (not "no 32-byte hex seed")`);
  }
});
