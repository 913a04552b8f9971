/**
 * Key files: `<home>/keys/<name>.json` holding the ed25519 seed (mode 0600), and the
 * validator key at `<home>/validator.key.json`. The name `devnet-faucet` resolves to the
 * embedded devnet's publicly known faucet key when no such file exists (INSECURE, devnet only).
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CodedError } from "../primitives/errors.ts";
import { generateKeyPair, keyPairFromSeed, type KeyPair } from "../primitives/keys.ts";
import { encryptedKeyFileJson, isEncryptedKeyFile, keyFileJson, parseKeyFile, type KeyFile } from "../primitives/keyfile.ts";
import { devnetFaucetKey } from "../genesis/devnet.ts";

export const KeyringErrorCode = { NOT_FOUND: "KEY_NOT_FOUND", EXISTS: "KEY_EXISTS", BAD_NAME: "KEY_BAD_NAME", BAD_FILE: "KEY_BAD_FILE" } as const;
export type KeyringErrorCode = (typeof KeyringErrorCode)[keyof typeof KeyringErrorCode];
export class KeyringError extends CodedError<KeyringErrorCode> {}

export const DEVNET_FAUCET_NAME = "devnet-faucet";
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export { keyFileJson, type KeyFile } from "../primitives/keyfile.ts";

/** Asked for a passphrase when a key file turns out to be encrypted; undefined if none can be had. */
export type PassphraseSource = (why: string) => Promise<string | undefined>;

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new KeyringError(KeyringErrorCode.NOT_FOUND, `no key file at ${path}`);
    throw e;
  }
}

/** Reads a key file, asking `passphrase` only if the file is encrypted. */
export async function readKeyFile(path: string, passphrase?: PassphraseSource): Promise<KeyPair> {
  const text = await readText(path);
  if (!isEncryptedKeyFile(text)) return parseKeyFile(text, path);
  return parseKeyFile(text, path, passphrase ? await passphrase(`passphrase for ${path}`) : undefined);
}

/** Writes a key file (encrypted when a passphrase is given), never over an existing one. */
export async function writeKeyFile(path: string, name: string, key: KeyPair, insecure = false, passphrase?: string, scrypt?: { n: number; r: number; p: number }): Promise<void> {
  const text = passphrase !== undefined && passphrase !== "" ? encryptedKeyFileJson(name, key, passphrase, scrypt) : keyFileJson(name, key, insecure);
  await writeFile(path, text, { mode: 0o600, flag: "wx" }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "EEXIST") throw new KeyringError(KeyringErrorCode.EXISTS, `${path} already exists; refusing to overwrite a key`);
    throw e;
  });
}

export interface KeyringOptions {
  /** Asked when a key file is encrypted, or when a new key may be encrypted (empty: stored plain). */
  readonly passphrase?: PassphraseSource;
  /** scrypt cost of new encrypted files (tests lower it). */
  readonly scrypt?: { n: number; r: number; p: number };
}

export interface KeyEntry {
  readonly name: string;
  readonly address: string;
  readonly encrypted: boolean;
}

export class Keyring {
  readonly dir: string;
  readonly #opts: KeyringOptions;
  constructor(home: string, opts: KeyringOptions = {}) {
    this.dir = join(home, "keys");
    this.#opts = opts;
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
    await writeKeyFile(path, name, key, false, await this.#opts.passphrase?.(`new passphrase for key "${name}"`), this.#opts.scrypt);
    return key;
  }

  /** Stores an existing key (a seed, or a key file's text) under `name`; encrypted if a passphrase is given. */
  async import(name: string, source: { seed: Uint8Array } | { fileText: string }): Promise<KeyPair> {
    if (name === DEVNET_FAUCET_NAME) throw new KeyringError(KeyringErrorCode.EXISTS, `"${DEVNET_FAUCET_NAME}" is reserved for the devnet faucet`);
    const path = this.#path(name);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    let key: KeyPair;
    if ("seed" in source) {
      if (source.seed.length !== 32) throw new KeyringError(KeyringErrorCode.BAD_FILE, "a seed is 32 bytes (64 hex characters)");
      key = keyPairFromSeed(source.seed);
    } else {
      const encrypted = isEncryptedKeyFile(source.fileText);
      key = parseKeyFile(source.fileText, "the imported file", encrypted ? await this.#opts.passphrase?.("passphrase of the imported key file") : undefined);
    }
    await writeKeyFile(path, name, key, false, await this.#opts.passphrase?.(`new passphrase for key "${name}"`), this.#opts.scrypt);
    return key;
  }

  /** The key file's text as stored (an encrypted file stays encrypted): for backups and other machines. */
  async export(name: string): Promise<string> {
    return readText(this.#path(name));
  }

  /** Every key in the keyring, by name, with its address and whether it is encrypted. */
  async list(): Promise<KeyEntry[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).filter((n) => NAME_RE.test(n)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    const out: KeyEntry[] = [];
    for (const name of names) {
      const text = await readText(this.#path(name));
      try {
        const f = JSON.parse(text) as KeyFile;
        out.push({ name, address: f.address, encrypted: f.crypto !== undefined });
      } catch {
        out.push({ name, address: "(unreadable file)", encrypted: false });
      }
    }
    return out;
  }

  async load(name: string): Promise<KeyPair> {
    try {
      return await readKeyFile(this.#path(name), this.#opts.passphrase);
    } catch (e) {
      if (name === DEVNET_FAUCET_NAME && e instanceof KeyringError && e.code === KeyringErrorCode.NOT_FOUND) return devnetFaucetKey();
      throw e;
    }
  }
}
