/**
 * The key file format (`<home>/keys/<name>.json`, mode 0600): shared by the node's keyring
 * (node/keyring.ts) and the service plugins, which read their keys from such files. Pure: the
 * callers read and write the files.
 */
import { fromHex, toHex } from "./bytes.ts";
import { CodedError } from "./errors.ts";
import { keyPairFromSeed, toAddress, type KeyPair } from "./keys.ts";

export const KeyFileErrorCode = { BAD_FILE: "KEY_BAD_FILE" } as const;
export class KeyFileError extends CodedError<(typeof KeyFileErrorCode)[keyof typeof KeyFileErrorCode]> {}

export interface KeyFile {
  name: string;
  address: string;
  publicKey: string;
  seed: string;
  insecure?: boolean;
}

export function keyFileJson(name: string, key: KeyPair, insecure = false): string {
  const f: KeyFile = { name, address: toAddress(key.publicKey), publicKey: toHex(key.publicKey), seed: toHex(key.seed), ...(insecure ? { insecure: true } : {}) };
  return JSON.stringify(f, null, 2) + "\n";
}

/** The key in a key file's text; KeyFileError(BAD_FILE) naming `where` if it is not one. */
export function parseKeyFile(text: string, where: string): KeyPair {
  try {
    const f = JSON.parse(text) as KeyFile;
    const key = keyPairFromSeed(fromHex(f.seed));
    if (f.publicKey && f.publicKey !== toHex(key.publicKey)) throw new Error("public key does not match the seed");
    return key;
  } catch (e) {
    throw new KeyFileError(KeyFileErrorCode.BAD_FILE, `bad key file ${where}: ${(e as Error).message}`);
  }
}
