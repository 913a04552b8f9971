/** The keystore: encrypted key files (scrypt + AES-256-GCM), list, export, import; the CLI path with a passphrase. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { toHex } from "../../../primitives/bytes.ts";
import { equalBytes } from "../../../primitives/bytes.ts";
import { KeyFileErrorCode, parseKeyFile } from "../../../primitives/keyfile.ts";
import { Keyring } from "../../../node/keyring.ts";
import { CLI, nodeArgs } from "../../helpers/process.ts";

const FAST = { n: 1 << 10, r: 8, p: 1 };
const home = () => mkdtempSync(join(tmpdir(), "cloudcoin-keys-"));
const ringWith = (dir: string, pass: string | undefined) => new Keyring(dir, { passphrase: async () => pass, scrypt: FAST });

t.test("an encrypted key opens with its passphrase only", async (t) => {
  const dir = home();
  const key = await ringWith(dir, "correct horse").create("alice");
  const path = join(dir, "keys", "alice.json");
  const text = readFileSync(path, "utf8");
  t.notMatch(text, new RegExp(toHex(key.seed)), "the seed is not in the file");
  t.equal(statSync(path).mode & 0o777, 0o600, "mode 0600");
  t.ok(equalBytes((await ringWith(dir, "correct horse").load("alice")).seed, key.seed), "the right passphrase opens it");
  await t.rejects(ringWith(dir, "wrong horse").load("alice"), { code: KeyFileErrorCode.BAD_PASSPHRASE }, "a wrong one is refused");
  await t.rejects(ringWith(dir, undefined).load("alice"), { code: KeyFileErrorCode.NEEDS_PASSPHRASE }, "none: the error says a passphrase is needed");
  const edited = JSON.parse(text) as { address: string };
  t.throws(() => parseKeyFile(JSON.stringify({ ...edited, address: "cc1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsm5d6v" }), "f", "correct horse"), { code: KeyFileErrorCode.BAD_PASSPHRASE }, "an edited address does not decrypt (bound as additional data)");
  const f = JSON.parse(text) as { crypto: { kdfparams: { n: number } } };
  f.crypto.kdfparams.n = 3;
  t.throws(() => parseKeyFile(JSON.stringify(f), "f", "correct horse"), { code: KeyFileErrorCode.BAD_FILE }, "bad scrypt parameters are a bad file");
  t.throws(() => parseKeyFile("{nope", "f"), { code: KeyFileErrorCode.BAD_FILE });
});

t.test("without a passphrase a key is stored plain, as before", async (t) => {
  const dir = home();
  const key = await ringWith(dir, undefined).create("bob");
  t.match(readFileSync(join(dir, "keys", "bob.json"), "utf8"), new RegExp(toHex(key.seed)));
  t.ok(equalBytes((await ringWith(dir, undefined).load("bob")).publicKey, key.publicKey));
});

t.test("list, export and import move keys between homes", async (t) => {
  const a = home();
  const b = home();
  const alice = await ringWith(a, "pw").create("alice");
  await ringWith(a, undefined).create("bob");
  t.same((await ringWith(a, undefined).list()).map((k) => [k.name, k.encrypted]), [["alice", true], ["bob", false]]);
  const exported = await ringWith(a, undefined).export("alice");
  t.match(exported, /"crypto"/, "an encrypted key is exported encrypted");
  const imported = await ringWith(b, "pw").import("alice2", { fileText: exported });
  t.ok(equalBytes(imported.seed, alice.seed), "imported from the file with its passphrase");
  await t.rejects(ringWith(b, "nope").import("alice3", { fileText: exported }), { code: KeyFileErrorCode.BAD_PASSPHRASE });
  const fromSeed = await ringWith(b, undefined).import("seeded", { seed: alice.seed });
  t.ok(equalBytes(fromSeed.publicKey, alice.publicKey), "imported from its seed");
  await t.rejects(ringWith(b, undefined).import("seeded", { seed: alice.seed }), { code: "KEY_EXISTS" }, "never over an existing key");
  t.same(await ringWith(home(), undefined).list(), [], "an empty home lists nothing");
});

t.test("the CLI: a passphrase from a file or the environment, a wrong one refused", async (t) => {
  const dir = home();
  const pass = join(dir, "pass.txt");
  writeFileSync(pass, "s3cret\n");
  const cli = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [...nodeArgs(CLI), ...args, "--home", dir], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 60_000 });
  const made = cli(["keys", "new", "carol", "--passphrase-file", pass, "--json"]);
  t.equal(made.status, 0, made.stderr);
  const address = (JSON.parse(made.stdout) as { address: string }).address;
  t.match(cli(["keys", "list"]).stdout, /carol\s+cc1\S+\s+\(encrypted\)/);
  const shown = cli(["keys", "show", "carol", "--json"], { CLOUDCOIN_PASSPHRASE: "s3cret" });
  t.equal((JSON.parse(shown.stdout) as { address: string }).address, address, "opened with CLOUDCOIN_PASSPHRASE");
  const wrong = cli(["keys", "show", "carol"], { CLOUDCOIN_PASSPHRASE: "guess" });
  t.equal(wrong.status, 1);
  t.match(wrong.stderr, /KEY_BAD_PASSPHRASE/);
  const fresh = JSON.parse(cli(["keys", "new", "dave", "--mnemonic", "--json"]).stdout) as { address: string; mnemonic: string };
  t.equal(fresh.mnemonic.split(" ").length, 24, "keys new --mnemonic prints 24 words");
  const again = cli(["keys", "import", "dave2", "--mnemonic", "--json"], { CLOUDCOIN_MNEMONIC: fresh.mnemonic });
  t.equal((JSON.parse(again.stdout) as { address: string }).address, fresh.address, "and keys import --mnemonic recreates the key");
});
