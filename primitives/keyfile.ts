/**
 * The key file format (`<home>/keys/<name>.json`, mode 0600): shared by the node's keyring
 * (node/keyring.ts) and the service plugins, which read their keys from such files. Pure: the
 * callers read and write the files.
 *
 * Two forms, told apart by `crypto`:
 *   plain      { name, address, publicKey, seed }                      (devnet and test keys)
 *   encrypted  { name, address, publicKey, crypto: { kdf: "scrypt", kdfparams: { n, r, p, salt },
 *                cipher: "aes-256-gcm", iv, ciphertext, tag } }
 * The encrypted seed is AES-256-GCM under scrypt(passphrase, salt); the address and public key
 * are bound as additional data, so a file whose address was edited does not decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";
import { equalBytes, fromHex, toHex } from "./bytes.ts";
import { CodedError } from "./errors.ts";
import { keyPairFromSeed, toAddress, type KeyPair } from "./keys.ts";

export const KeyFileErrorCode = {
  BAD_FILE: "KEY_BAD_FILE",
  /** the file is encrypted and no passphrase was given */
  NEEDS_PASSPHRASE: "KEY_NEEDS_PASSPHRASE",
  /** the passphrase does not open the file (or the file was altered) */
  BAD_PASSPHRASE: "KEY_BAD_PASSPHRASE",
} as const;
export type KeyFileErrorCode = (typeof KeyFileErrorCode)[keyof typeof KeyFileErrorCode];
export class KeyFileError extends CodedError<KeyFileErrorCode> {}

export interface KeyFile {
  name: string;
  address: string;
  publicKey: string;
  seed?: string;
  insecure?: boolean;
  crypto?: {
    kdf: "scrypt";
    kdfparams: { n: number; r: number; p: number; salt: string };
    cipher: "aes-256-gcm";
    iv: string;
    ciphertext: string;
    tag: string;
  };
}

/** scrypt cost: N = 2^17 (~128 MiB, about half a second here), as Ethereum's v3 keystore uses. */
export const DEFAULT_SCRYPT = { n: 1 << 17, r: 8, p: 1 } as const;

export function keyFileJson(name: string, key: KeyPair, insecure = false): string {
  const f: KeyFile = { name, address: toAddress(key.publicKey), publicKey: toHex(key.publicKey), seed: toHex(key.seed), ...(insecure ? { insecure: true } : {}) };
  return JSON.stringify(f, null, 2) + "\n";
}

function derive(passphrase: string, salt: Uint8Array, k: { n: number; r: number; p: number }): Buffer {
  return scryptSync(passphrase.normalize("NFKC"), salt, 32, { N: k.n, r: k.r, p: k.p, maxmem: 256 * k.n * k.r + 1024 * 1024 });
}

/** An encrypted key file's text. `scrypt` lowers the cost for tests only. */
export function encryptedKeyFileJson(name: string, key: KeyPair, passphrase: string, scrypt: { n: number; r: number; p: number } = DEFAULT_SCRYPT): string {
  if (passphrase.length === 0) throw new KeyFileError(KeyFileErrorCode.NEEDS_PASSPHRASE, "an empty passphrase protects nothing");
  const salt = randomBytes(32);
  const iv = randomBytes(12);
  const address = toAddress(key.publicKey);
  const cipher = createCipheriv("aes-256-gcm", derive(passphrase, salt, scrypt), iv);
  cipher.setAAD(Buffer.from(`${address}|${toHex(key.publicKey)}`));
  const ciphertext = Buffer.concat([cipher.update(key.seed), cipher.final()]);
  const f: KeyFile = {
    name, address, publicKey: toHex(key.publicKey),
    crypto: { kdf: "scrypt", kdfparams: { ...scrypt, salt: toHex(salt) }, cipher: "aes-256-gcm", iv: toHex(iv), ciphertext: toHex(ciphertext), tag: toHex(cipher.getAuthTag()) },
  };
  return JSON.stringify(f, null, 2) + "\n";
}

/** Whether a key file's text is encrypted (needs a passphrase). */
export function isEncryptedKeyFile(text: string): boolean {
  try {
    return (JSON.parse(text) as KeyFile).crypto !== undefined;
  } catch {
    return false;
  }
}

/**
 * The key in a key file's text; KeyFileError naming `where`: BAD_FILE if it is not one,
 * NEEDS_PASSPHRASE for an encrypted file without a passphrase, BAD_PASSPHRASE if it does not open.
 */
export function parseKeyFile(text: string, where: string, passphrase?: string): KeyPair {
  let f: KeyFile;
  try {
    f = JSON.parse(text) as KeyFile;
  } catch (e) {
    throw new KeyFileError(KeyFileErrorCode.BAD_FILE, `bad key file ${where}: ${(e as Error).message}`);
  }
  if (f.crypto !== undefined) {
    if (passphrase === undefined) throw new KeyFileError(KeyFileErrorCode.NEEDS_PASSPHRASE, `${where} is encrypted: give its passphrase (CLOUDCOIN_PASSPHRASE, --passphrase-file, or at the prompt)`);
    return decrypt(f, where, passphrase);
  }
  try {
    const key = keyPairFromSeed(fromHex(f.seed ?? ""));
    if (f.publicKey && f.publicKey !== toHex(key.publicKey)) throw new Error("public key does not match the seed");
    return key;
  } catch (e) {
    throw new KeyFileError(KeyFileErrorCode.BAD_FILE, `bad key file ${where}: ${(e as Error).message}`);
  }
}

function decrypt(f: KeyFile, where: string, passphrase: string): KeyPair {
  const c = f.crypto!;
  let seed: Buffer;
  try {
    if (c.kdf !== "scrypt" || c.cipher !== "aes-256-gcm") throw new Error(`unsupported ${c.kdf}/${c.cipher}`);
    const k = c.kdfparams;
    if (![k.n, k.r, k.p].every((x) => Number.isSafeInteger(x) && x > 0) || k.n > 1 << 20 || (k.n & (k.n - 1)) !== 0) throw new Error("bad scrypt parameters");
    const key = derive(passphrase, fromHex(k.salt), k);
    const decipher = createDecipheriv("aes-256-gcm", key, fromHex(c.iv));
    decipher.setAAD(Buffer.from(`${f.address}|${f.publicKey}`));
    decipher.setAuthTag(fromHex(c.tag));
    try {
      seed = Buffer.concat([decipher.update(fromHex(c.ciphertext)), decipher.final()]);
    } catch {
      throw new KeyFileError(KeyFileErrorCode.BAD_PASSPHRASE, `the passphrase does not open ${where}`);
    }
  } catch (e) {
    if (e instanceof KeyFileError) throw e;
    throw new KeyFileError(KeyFileErrorCode.BAD_FILE, `bad key file ${where}: ${(e as Error).message}`);
  }
  const pair = keyPairFromSeed(new Uint8Array(seed));
  if (!equalBytes(pair.publicKey, fromHex(f.publicKey))) throw new KeyFileError(KeyFileErrorCode.BAD_FILE, `bad key file ${where}: the seed is not the public key's`);
  return pair;
}
