/**
 * The validator's signer with a durable last-signed record (docs/protocol.md section 3: never
 * double-sign). Before a vote or proposal signature leaves this object, (height, round, step,
 * hash, signature) is written to disk and fsync'ed; after a crash the record is read back and
 * anything that conflicts with it is refused. Re-signing the very same thing returns the
 * stored signature, so a restart can safely re-broadcast.
 */
import { open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { equalBytes, fromHex, toHex } from "../primitives/bytes.ts";
import { CodedError } from "../primitives/errors.ts";
import type { KeyPair } from "../primitives/keys.ts";

export const SignerErrorCode = {
  REGRESSION: "SIGNER_HEIGHT_ROUND_STEP_REGRESSION",
  CONFLICT: "SIGNER_CONFLICTING_SIGNATURE",
  CORRUPT_STATE: "SIGNER_CORRUPT_STATE",
} as const;
export type SignerErrorCode = (typeof SignerErrorCode)[keyof typeof SignerErrorCode];
export class SignerError extends CodedError<SignerErrorCode> {}

/** Signing steps in their order within a round. */
export const SignStep = { PROPOSAL: 1, PREVOTE: 2, PRECOMMIT: 3 } as const;
export type SignStep = (typeof SignStep)[keyof typeof SignStep];

interface LastSigned {
  height: bigint;
  round: number;
  step: number;
  /** hash of what was signed (block hash, or the zero hash for nil) */
  hash: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

async function writeDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export class DurableSigner {
  readonly #key: KeyPair;
  readonly #path: string;
  #last: LastSigned | null;
  /** serialises signing so two concurrent requests cannot both pass the check */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(key: KeyPair, path: string, last: LastSigned | null) {
    this.#key = key;
    this.#path = path;
    this.#last = last;
  }

  static async open(key: KeyPair, path: string): Promise<DurableSigner> {
    let text: string | undefined;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    if (text === undefined) return new DurableSigner(key, path, null);
    try {
      const j = JSON.parse(text) as Record<string, unknown> | null;
      // Every field is checked: a NaN round or step would make every comparison false and let
      // anything be signed at the recorded height.
      if (typeof j !== "object" || j === null) throw new Error("not a record");
      const { height, round, step } = j;
      if (typeof height !== "string" || !/^(0|[1-9][0-9]*)$/.test(height)) throw new Error("bad height");
      if (typeof round !== "number" || !Number.isSafeInteger(round) || round < 0) throw new Error("bad round");
      if (!(Object.values(SignStep) as unknown[]).includes(step)) throw new Error("bad step");
      const hash = fromHex(String(j.hash));
      const signature = fromHex(String(j.signature));
      if (hash.length !== 32 || signature.length !== 64) throw new Error("bad hash or signature length");
      return new DurableSigner(key, path, { height: BigInt(height), round, step: step as number, hash, message: fromHex(String(j.message)), signature });
    } catch (e) {
      throw new SignerError(SignerErrorCode.CORRUPT_STATE, `cannot read signer state ${path}: ${(e as Error).message}; refusing to sign`);
    }
  }

  get publicKey(): Uint8Array {
    return this.#key.publicKey;
  }

  get lastSigned(): { height: bigint; round: number; step: number } | null {
    return this.#last && { height: this.#last.height, round: this.#last.round, step: this.#last.step };
  }

  /**
   * Signs `message`, which commits to (height, round, step, hash). Refuses anything at an
   * earlier (height, round, step) and anything different at the same one.
   */
  sign(height: bigint, round: number, step: SignStep, hash: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
    const run = this.#queue.then(() => this.#sign(height, round, step, hash, message));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #sign(height: bigint, round: number, step: SignStep, hash: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
    const last = this.#last;
    if (last) {
      const cmp = height !== last.height ? (height < last.height ? -1 : 1) : round !== last.round ? round - last.round : step - last.step;
      if (cmp < 0) {
        throw new SignerError(SignerErrorCode.REGRESSION, `already signed at ${last.height}/${last.round}/${last.step}; refusing ${height}/${round}/${step}`);
      }
      if (cmp === 0) {
        if (equalBytes(last.hash, hash) && equalBytes(last.message, message)) return last.signature;
        throw new SignerError(SignerErrorCode.CONFLICT, `refusing to sign a different value at ${height}/${round}/${step}`);
      }
    }
    const signature = this.#key.sign(message);
    const next: LastSigned = { height, round, step, hash, message, signature };
    await writeDurably(
      this.#path,
      JSON.stringify({ height: height.toString(), round, step, hash: toHex(hash), message: toHex(message), signature: toHex(signature) }) + "\n",
    );
    this.#last = next;
    return signature;
  }
}
