/**
 * The node's libp2p identity, persisted so that its peer id survives restarts:
 * `<data dir>/p2p.key` holds the libp2p protobuf encoding of an Ed25519 private key (mode 0600).
 * It is not the validator key: the two are separate so that a validator key never touches the
 * network stack.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { readFile, writeFile } from "node:fs/promises";

export async function loadOrCreatePeerKey(path: string): Promise<{ key: PrivateKey; created: boolean }> {
  try {
    return { key: privateKeyFromProtobuf(await readFile(path)), created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`cannot read the peer key ${path}: ${(e as Error).message}`);
  }
  const key = await generateKeyPair("Ed25519");
  // wx: two processes racing on one home must not both win
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: "wx" });
  return { key, created: true };
}

/** Writes a fresh peer key (for `cloudcoin init` and the devnet script) and returns its peer id. */
export async function writeNewPeerKey(path: string): Promise<string> {
  const key = await generateKeyPair("Ed25519");
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: "wx" });
  return peerIdFromPrivateKey(key).toString();
}
