/**
 * Key files: `<home>/keys/<name>.json` holding the ed25519 seed (mode 0600), and the
 * validator key at `<home>/validator.key.json`. The name `devnet-faucet` resolves to the
 * embedded devnet's publicly known faucet key when no such file exists (INSECURE, devnet only).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CodedError } from "../primitives/errors.ts";
import { generateKeyPair, type KeyPair } from "../primitives/keys.ts";
import { keyFileJson, parseKeyFile } from "../primitives/keyfile.ts";
import { devnetFaucetKey } from "../genesis/devnet.ts";

export const KeyringErrorCode = { NOT_FOUND: "KEY_NOT_FOUND", EXISTS: "KEY_EXISTS", BAD_NAME: "KEY_BAD_NAME", BAD_FILE: "KEY_BAD_FILE" } as const;
export type KeyringErrorCode = (typeof KeyringErrorCode)[keyof typeof KeyringErrorCode];
export class KeyringError extends CodedError<KeyringErrorCode> {}

export const DEVNET_FAUCET_NAME = "devnet-faucet";
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export { keyFileJson, type KeyFile } from "../primitives/keyfile.ts";

export async function readKeyFile(path: string): Promise<KeyPair> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new KeyringError(KeyringErrorCode.NOT_FOUND, `no key file at ${path}`);
    throw e;
  }
  return parseKeyFile(text, path);
}

export async function writeKeyFile(path: string, name: string, key: KeyPair, insecure = false): Promise<void> {
  await writeFile(path, keyFileJson(name, key, insecure), { mode: 0o600, flag: "wx" }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "EEXIST") throw new KeyringError(KeyringErrorCode.EXISTS, `${path} already exists; refusing to overwrite a key`);
    throw e;
  });
}

export class Keyring {
  readonly dir: string;
  constructor(home: string) {
    this.dir = join(home, "keys");
  }

  #path(name: string): string {
    if (!NAME_RE.test(name)) throw new KeyringError(KeyringErrorCode.BAD_NAME, "key names are 1-64 of A-Z a-z 0-9 . _ -");
    return join(this.dir, `${name}.json`);
  }

  async create(name: string): Promise<KeyPair> {
    if (name === DEVNET_FAUCET_NAME) throw new KeyringError(KeyringErrorCode.EXISTS, `"${DEVNET_FAUCET_NAME}" is reserved for the devnet faucet`);
    const path = this.#path(name);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const key = generateKeyPair();
    await writeKeyFile(path, name, key);
    return key;
  }

  async load(name: string): Promise<KeyPair> {
    try {
      return await readKeyFile(this.#path(name));
    } catch (e) {
      if (name === DEVNET_FAUCET_NAME && e instanceof KeyringError && e.code === KeyringErrorCode.NOT_FOUND) return devnetFaucetKey();
      throw e;
    }
  }
}
