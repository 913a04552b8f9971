/**
 * The witness's slashing protection: every attestation it signs is written here, durably, before
 * it is sent, and read back when the witness starts. A witness restarted mid-epoch while its
 * attestation still waited in a mempool then sends that same attestation again instead of
 * probing anew and signing a second, different one for the same relay and epoch, which the chain
 * treats as a double attestation (evidence, slashing). The same idea as a validator's
 * last-signed state file.
 *
 * One JSON file per witness process: {"version":1,"chainId":...,"attestations":[...]} with every
 * field as a string (amounts in decimal, keys and signatures in hex). Replaced atomically (written
 * to a temporary file, fsync'd, renamed, directory fsync'd), so a crash leaves the old or the new
 * file, never half of one. Entries of epochs older than the one before the current are dropped on
 * the next write: their windows are closed. A file that cannot be read, belongs to another chain
 * or holds an attestation whose signature does not verify stops the witness at start: signing
 * without knowing what was signed before is what the journal exists to prevent.
 *
 * One process at a time: `<path>.lock` holds the pid of the process that has the journal open.
 * Two witness processes on one journal would each sign from their own view and overwrite each
 * other's entries, which is the double signing the journal exists to prevent; the second one is
 * refused (JOURNAL_LOCKED). A lock left by a process that no longer runs (a crash, SIGKILL) is
 * taken over.
 */
import { link, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { fromHex, toHex } from "../../primitives/bytes.ts";
import { fromAddress, toAddress } from "../../primitives/keys.ts";
import { verifyAttestationSignature, type Attestation } from "../../proofs/bandwidth.ts";
import { CodedError } from "../../primitives/errors.ts";

const JOURNAL_VERSION = 1;

export const JournalErrorCode = {
  /** The file exists but cannot be read, parsed or trusted. */
  UNREADABLE: "JOURNAL_UNREADABLE",
  /** The file belongs to another chain. */
  WRONG_CHAIN: "JOURNAL_WRONG_CHAIN",
  /** A second, different attestation for a relay and epoch already journaled. */
  CONFLICT: "JOURNAL_CONFLICT",
  /** Another running process (or another open journal in this one) holds the journal. */
  LOCKED: "JOURNAL_LOCKED",
  /** The journal was closed. */
  CLOSED: "JOURNAL_CLOSED",
} as const;

export class JournalError extends CodedError<(typeof JournalErrorCode)[keyof typeof JournalErrorCode]> {}

const decimal = z.string().regex(/^(0|[1-9][0-9]{0,19})$/);
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
const entrySchema = z.object({
  witness: z.string(),
  relay: z.string(),
  epoch: decimal,
  bytes: decimal,
  throughput: decimal,
  latency: decimal,
  signature: hex(64),
});
const fileSchema = z.object({ version: z.literal(JOURNAL_VERSION), chainId: z.string(), attestations: z.array(entrySchema) });
type Entry = z.infer<typeof entrySchema>;

const keyOf = (witness: string, relay: string, epoch: bigint): string => `${witness}/${relay}/${epoch}`;

function toEntry(a: Attestation): Entry {
  return {
    witness: toAddress(a.witness),
    relay: toAddress(a.relay),
    epoch: a.epoch.toString(),
    bytes: a.bytes.toString(),
    throughput: a.throughput.toString(),
    latency: a.latency.toString(),
    signature: toHex(a.signature),
  };
}

function fromEntry(e: Entry): Attestation {
  return {
    witness: fromAddress(e.witness),
    relay: fromAddress(e.relay),
    epoch: BigInt(e.epoch),
    bytes: BigInt(e.bytes),
    throughput: BigInt(e.throughput),
    latency: BigInt(e.latency),
    signature: fromHex(e.signature),
  };
}

export class AttestationJournal {
  readonly path: string;
  readonly chainId: string;
  readonly #byKey = new Map<string, Attestation>();
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(path: string, chainId: string) {
    this.path = path;
    this.chainId = chainId;
  }

  /**
   * Locks and reads the journal at `path` (none yet: an empty one); throws JournalError LOCKED,
   * UNREADABLE or WRONG_CHAIN, and then holds no lock.
   */
  static async open(path: string, chainId: string): Promise<AttestationJournal> {
    await lock(path);
    try {
      return await AttestationJournal.#read(path, chainId);
    } catch (e) {
      await unlock(path);
      throw e;
    }
  }

  /** Waits for the write under way, then releases the lock; records after this are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writing;
    await unlock(this.path);
  }

  static async #read(path: string, chainId: string): Promise<AttestationJournal> {
    const j = new AttestationJournal(path, chainId);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return j;
      throw new JournalError(JournalErrorCode.UNREADABLE, `attestation journal ${path}: ${(e as Error).message}`);
    }
    let parsed: z.infer<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(text));
    } catch (e) {
      throw new JournalError(JournalErrorCode.UNREADABLE, `attestation journal ${path} is not a version ${JOURNAL_VERSION} journal (${(e as Error).message.slice(0, 200)}); move it aside only if no attestation it held can still be pending`);
    }
    if (parsed.chainId !== chainId) {
      throw new JournalError(JournalErrorCode.WRONG_CHAIN, `attestation journal ${path} is for chain ${JSON.stringify(parsed.chainId)}, the node serves ${JSON.stringify(chainId)}`);
    }
    for (const e of parsed.attestations) {
      let a: Attestation;
      try {
        a = fromEntry(e);
      } catch (err) {
        throw new JournalError(JournalErrorCode.UNREADABLE, `attestation journal ${path}: bad address in an entry (${(err as Error).message})`);
      }
      if (!verifyAttestationSignature(chainId, a)) {
        throw new JournalError(JournalErrorCode.UNREADABLE, `attestation journal ${path}: the attestation of ${e.witness} for ${e.relay} in epoch ${e.epoch} does not verify`);
      }
      j.#byKey.set(keyOf(e.witness, e.relay, a.epoch), a);
    }
    return j;
  }

  /** What `witness` signed for `relay` in `epoch`, if anything. */
  get(witness: string, relay: string, epoch: bigint): Attestation | undefined {
    return this.#byKey.get(keyOf(witness, relay, epoch));
  }

  get size(): number {
    return this.#byKey.size;
  }

  /**
   * Adds `a` and writes the journal, dropping entries before `currentEpoch - 1`; resolves once the
   * new file is durable. On failure the file on disk is the previous one and `a` is not kept:
   * the caller must not send it.
   */
  record(a: Attestation, currentEpoch: bigint): Promise<void> {
    if (this.#closed) return Promise.reject(new JournalError(JournalErrorCode.CLOSED, `attestation journal ${this.path} is closed`));
    // One write at a time, each from the entries the previous one left: concurrent jobs record at once.
    const run = this.#writing.then(() => this.#record(a, currentEpoch));
    this.#writing = run.catch(() => undefined);
    return run;
  }

  async #record(a: Attestation, currentEpoch: bigint): Promise<void> {
    const key = keyOf(toAddress(a.witness), toAddress(a.relay), a.epoch);
    const before = this.#byKey.get(key);
    if (before !== undefined && toHex(before.signature) !== toHex(a.signature)) {
      throw new JournalError(JournalErrorCode.CONFLICT, `the journal already holds a different attestation for ${key}: refusing to sign twice`);
    }
    const kept = [...this.#byKey.entries()].filter(([, x]) => x.epoch + 1n >= currentEpoch);
    const next = new Map(kept);
    next.set(key, a);
    await writeDurably(this.path, JSON.stringify({ version: JOURNAL_VERSION, chainId: this.chainId, attestations: [...next.values()].map(toEntry) }) + "\n");
    this.#byKey.clear();
    for (const [k, x] of next) this.#byKey.set(k, x);
  }
}

async function writeDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const f = await open(tmp, "w", 0o600);
  try {
    await f.writeFile(text, "utf8");
    await f.sync();
  } finally {
    await f.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  // The rename itself is durable once the directory is (best effort: not every platform can fsync one).
  try {
    const d = await open(dirname(path), "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // the file's contents are synced; only the rename could be lost to a power cut here
  }
}

/** The pid a lock file names; NaN if it is missing or names none. */
async function lockHolder(lockPath: string): Promise<number> {
  return Number.parseInt(await readFile(lockPath, "utf8").catch(() => ""), 10);
}

/** True if a process with this pid runs (EPERM: it runs as another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Creates `<path>.lock` holding this pid. The file is written whole under a private name and
 * hard-linked into place, which fails if the lock exists: no other process ever sees a lock file
 * without its pid. A lock whose process no longer runs is removed and taken (two processes
 * taking over the same stale lock at the same instant can still both succeed; that needs two
 * witnesses started together right after a crash of a third).
 */
async function lock(path: string): Promise<void> {
  const lockPath = `${path}.lock`;
  const mine = `${lockPath}.${process.pid}`;
  try {
    // not synced: after a power loss the process is gone too, and a lock without its pid is taken over
    await writeFile(mine, `${process.pid}\n`, { mode: 0o600 });
  } catch (e) {
    throw new JournalError(JournalErrorCode.UNREADABLE, `attestation journal ${path}: cannot write its lock file (${(e as Error).message})`);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(mine, lockPath);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
          throw new JournalError(JournalErrorCode.UNREADABLE, `attestation journal ${path}: cannot create its lock file (${(e as Error).message})`);
        }
      }
      const holder = await lockHolder(lockPath);
      if (attempt > 0 || (Number.isSafeInteger(holder) && holder > 0 && running(holder))) {
        const who = holder === process.pid ? "this process (opened twice)" : `process ${Number.isNaN(holder) ? "unknown" : holder}`;
        throw new JournalError(JournalErrorCode.LOCKED, `attestation journal ${path} is in use by ${who}: two witnesses on one journal could sign twice; remove ${lockPath} only if that process is not a witness`, { holder: Number.isNaN(holder) ? null : holder });
      }
      await rm(lockPath, { force: true }); // its process is gone
    }
  } finally {
    await rm(mine, { force: true });
  }
}

/** Removes `<path>.lock` if it is this process's. */
async function unlock(path: string): Promise<void> {
  const lockPath = `${path}.lock`;
  if ((await lockHolder(lockPath)) === process.pid) await rm(lockPath, { force: true });
}
