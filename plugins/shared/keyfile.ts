/** Reads a plugin's key from a key file (primitives/keyfile.ts format, as `cloudcoin keys` writes it; encrypted ones with CLOUDCOIN_PASSPHRASE). */
import { readFile } from "node:fs/promises";
import { CodedError } from "../../primitives/errors.ts";
import type { KeyPair } from "../../primitives/keys.ts";
import { isEncryptedKeyFile, parseKeyFile } from "../../primitives/keyfile.ts";

export async function readKeyFile(path: string): Promise<KeyPair> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new CodedError("KEY_NOT_FOUND", `no key file at ${path}`);
    throw e;
  }
  // an encrypted key file opens with CLOUDCOIN_PASSPHRASE (plugins run unattended: no prompt)
  return parseKeyFile(text, path, isEncryptedKeyFile(text) ? process.env.CLOUDCOIN_PASSPHRASE : undefined);
}
