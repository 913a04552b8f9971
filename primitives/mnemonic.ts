/**
 * BIP-39 mnemonics for keys (@scure/bip39, English wordlist), derived to an ed25519 seed by
 * SLIP-0010 along the hardened path m/44'/8645'/0'/0'/0' (8645: the node's default RPC port, as
 * this chain has no registered SLIP-44 coin type yet). The same words always give the same key.
 */
import { generateMnemonic, mnemonicToSeedSync, validateMnemonic } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { CodedError } from "./errors.ts";
import { keyPairFromSeed, type KeyPair } from "./keys.ts";

export const MNEMONIC_PATH = [44, 8645, 0, 0, 0] as const;
const HARDENED = 0x8000_0000;

export class MnemonicError extends CodedError<"BAD_MNEMONIC"> {}

/** A new 24-word mnemonic (256 bits of entropy). */
export function newMnemonic(): string {
  return generateMnemonic(wordlist, 256);
}

/** SLIP-0010 ed25519: only hardened children exist. */
function slip10(seed: Uint8Array, path: readonly number[]): Uint8Array {
  let I = hmac(sha512, new TextEncoder().encode("ed25519 seed"), seed);
  for (const index of path) {
    const data = new Uint8Array(37);
    data.set(I.subarray(0, 32), 1);
    new DataView(data.buffer).setUint32(33, (index + HARDENED) >>> 0);
    I = hmac(sha512, I.subarray(32), data);
  }
  return I.slice(0, 32);
}

/** The key of a mnemonic (with an optional BIP-39 passphrase); MnemonicError for words that are not a valid mnemonic. */
export function keyFromMnemonic(mnemonic: string, bip39Passphrase = ""): KeyPair {
  const words = mnemonic.trim().toLowerCase().split(/\s+/).join(" ");
  if (!validateMnemonic(words, wordlist)) throw new MnemonicError("BAD_MNEMONIC", "not a valid BIP-39 mnemonic (English words, 12-24 of them, with a checksum)");
  return keyPairFromSeed(slip10(mnemonicToSeedSync(words, bip39Passphrase), MNEMONIC_PATH));
}

/** SLIP-0010 master key of a seed along `path`, exported for the test vectors. */
export const slip10Ed25519 = slip10;
