/** Reads a plugin's key from a key file (primitives/keyfile.ts format, as `cloudcoin keys` writes it). */
import { readFile } from "node:fs/promises";
import { CodedError } from "../../primitives/errors.ts";
import type { KeyPair } from "../../primitives/keys.ts";
import { parseKeyFile } from "../../primitives/keyfile.ts";

export async function readKeyFile(path: string): Promise<KeyPair> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new CodedError("KEY_NOT_FOUND", `no key file at ${path}`);
    throw e;
  }
  return parseKeyFile(text, path);
}
