/** BIP-39 mnemonics to ed25519 keys by SLIP-0010 (primitives/mnemonic.ts), pinned by SLIP-0010's own test vectors. */
import t from "tap";
import { fromHex, toHex } from "../../../primitives/bytes.ts";
import { keyFromMnemonic, newMnemonic, slip10Ed25519 } from "../../../primitives/mnemonic.ts";

t.test("SLIP-0010 ed25519 test vector 1 (seed 000102...0f)", async (t) => {
  const seed = fromHex("000102030405060708090a0b0c0d0e0f");
  t.equal(toHex(slip10Ed25519(seed, [])), "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7", "m");
  t.equal(toHex(slip10Ed25519(seed, [0])), "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3", "m/0'");
  t.equal(toHex(slip10Ed25519(seed, [0, 1])), "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2", "m/0'/1'");
});

t.test("the same words give the same key; other words, another BIP-39 passphrase or a bad checksum do not", async (t) => {
  const words = newMnemonic();
  t.equal(words.split(" ").length, 24);
  const a = keyFromMnemonic(words);
  t.equal(toHex(keyFromMnemonic(`  ${words.toUpperCase().replaceAll(" ", "   ")} `).publicKey), toHex(a.publicKey), "case and spacing do not matter");
  t.not(toHex(keyFromMnemonic(words, "extra").publicKey), toHex(a.publicKey), "a BIP-39 passphrase gives another key");
  t.not(toHex(keyFromMnemonic(newMnemonic()).publicKey), toHex(a.publicKey));
  // all-zero entropy: the valid 24-word mnemonic ends in "art"; ending in "abandon" fails the checksum
  t.doesNotThrow(() => keyFromMnemonic(`${"abandon ".repeat(23)}art`), "the BIP-39 all-zero vector is valid");
  t.throws(() => keyFromMnemonic(`${"abandon ".repeat(23)}abandon`), { code: "BAD_MNEMONIC" }, "a wrong last word fails the checksum");
  t.throws(() => keyFromMnemonic("not a mnemonic at all"), { code: "BAD_MNEMONIC" });
});
