/**
 * node/signer.ts: the durable last-signed record (docs/protocol.md section 3, never double-sign).
 * Real files in a temp dir; a "restart" is a fresh DurableSigner.open on the same file.
 */
import t, { type Test } from "tap";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ZERO_HASH, VoteType, proposalSignBytes, voteSignBytes } from "../../../chain/block.ts";
import { toHex } from "../../../primitives/bytes.ts";
import { verify } from "../../../primitives/keys.ts";
import { DurableSigner, SignStep, SignerErrorCode } from "../../../node/signer.ts";
import { DEVNET_CHAIN_ID, insecureDevKey } from "../../../genesis/devnet.ts";

const key = insecureDevKey("signer-test");
const chainId = DEVNET_CHAIN_ID;
const hashA = new Uint8Array(32).fill(0xaa);
const hashB = new Uint8Array(32).fill(0xbb);

function signerPath(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-signer-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "signer-state.json");
}

/** What the node signs at (height, round, step) for `hash`, as node/driver.ts builds it. */
function message(height: bigint, round: number, step: SignStep, hash: Uint8Array): Uint8Array {
  if (step === SignStep.PROPOSAL) return proposalSignBytes(chainId, height, round, -1, hash);
  return voteSignBytes(chainId, step === SignStep.PREVOTE ? VoteType.PREVOTE : VoteType.PRECOMMIT, height, round, hash);
}

const sign = (s: DurableSigner, height: bigint, round: number, step: SignStep, hash: Uint8Array) => s.sign(height, round, step, hash, message(height, round, step, hash));
const conflict = { name: "SignerError", code: SignerErrorCode.CONFLICT };
const regression = { name: "SignerError", code: SignerErrorCode.REGRESSION };

t.test("re-signing the same returns the same signature; conflicts and regressions are refused, also after a restart", async (t) => {
  const file = signerPath(t);
  const s = await DurableSigner.open(key, file);
  t.equal(s.lastSigned, null, "a fresh signer has signed nothing");
  t.equal(toHex(s.publicKey), toHex(key.publicKey));

  const sig = await sign(s, 5n, 0, SignStep.PREVOTE, hashA);
  t.ok(verify(key.publicKey, message(5n, 0, SignStep.PREVOTE, hashA), sig), "the signature verifies");
  t.ok(fs.existsSync(file), "the record is on disk once the signature is returned");
  t.same(s.lastSigned, { height: 5n, round: 0, step: SignStep.PREVOTE });
  t.equal(toHex(await sign(s, 5n, 0, SignStep.PREVOTE, hashA)), toHex(sig), "re-signing the exact same returns the same signature");

  await t.rejects(sign(s, 5n, 0, SignStep.PREVOTE, hashB), conflict, "another hash at the same h/r/step");
  await t.rejects(sign(s, 5n, 0, SignStep.PREVOTE, ZERO_HASH), conflict, "nil at the same h/r/step after a block vote");
  await t.rejects(s.sign(5n, 0, SignStep.PREVOTE, hashA, message(5n, 0, SignStep.PRECOMMIT, hashA)), conflict, "same hash, another message");
  t.same(s.lastSigned, { height: 5n, round: 0, step: SignStep.PREVOTE }, "refusals change nothing");

  await t.rejects(sign(s, 5n, 0, SignStep.PROPOSAL, hashA), regression, "an earlier step");
  await t.rejects(sign(s, 4n, 7, SignStep.PRECOMMIT, hashA), regression, "an earlier height");
  await t.rejects(sign(s, 0n, 0, SignStep.PROPOSAL, hashA), regression, "height 0");

  const pc = await sign(s, 5n, 0, SignStep.PRECOMMIT, hashA);
  const nil = await sign(s, 5n, 1, SignStep.PREVOTE, ZERO_HASH);
  t.ok(verify(key.publicKey, message(5n, 1, SignStep.PREVOTE, ZERO_HASH), nil));
  await t.rejects(sign(s, 5n, 0, SignStep.PRECOMMIT, hashA), regression, "an earlier round, even what was signed there");
  await t.rejects(sign(s, 5n, 0, SignStep.PRECOMMIT, hashB), regression, "an earlier round");
  t.not(toHex(pc), toHex(nil));

  // restart: a new signer on the same file
  const r = await DurableSigner.open(key, file);
  t.same(r.lastSigned, { height: 5n, round: 1, step: SignStep.PREVOTE }, "the record survives the restart");
  t.equal(toHex(await sign(r, 5n, 1, SignStep.PREVOTE, ZERO_HASH)), toHex(nil), "re-signing after the restart returns the stored signature");
  await t.rejects(sign(r, 5n, 1, SignStep.PREVOTE, hashA), conflict, "after restart: another hash at the same h/r/step");
  await t.rejects(sign(r, 5n, 0, SignStep.PRECOMMIT, hashA), regression, "after restart: an earlier round");
  await t.rejects(sign(r, 4n, 0, SignStep.PRECOMMIT, hashA), regression, "after restart: an earlier height");
  await t.rejects(sign(r, 5n, 1, SignStep.PROPOSAL, hashA), regression, "after restart: an earlier step");

  // moving on works, and is durable too
  const next = await sign(r, 6n, 0, SignStep.PROPOSAL, hashB);
  t.ok(verify(key.publicKey, message(6n, 0, SignStep.PROPOSAL, hashB), next));
  const r2 = await DurableSigner.open(key, file);
  t.same(r2.lastSigned, { height: 6n, round: 0, step: SignStep.PROPOSAL });
  await t.rejects(sign(r2, 6n, 0, SignStep.PROPOSAL, hashA), conflict);
  await t.rejects(sign(r2, 5n, 1, SignStep.PREVOTE, ZERO_HASH), regression, "what was signed before the last record is refused too");
  t.equal(toHex(await sign(r2, 6n, 0, SignStep.PROPOSAL, hashB)), toHex(next));
  t.notOk(fs.existsSync(`${file}.tmp`), "no temp file is left behind");
});

t.test("large heights and rounds survive the record", async (t) => {
  const file = signerPath(t);
  const h = 2n ** 63n + 12345n;
  const s = await DurableSigner.open(key, file);
  const sig = await sign(s, h, 1_000_000, SignStep.PRECOMMIT, hashA);
  const r = await DurableSigner.open(key, file);
  t.same(r.lastSigned, { height: h, round: 1_000_000, step: SignStep.PRECOMMIT });
  t.equal(toHex(await sign(r, h, 1_000_000, SignStep.PRECOMMIT, hashA)), toHex(sig));
  await t.rejects(sign(r, h - 1n, 2_000_000, SignStep.PRECOMMIT, hashA), regression);
});

t.test("a corrupt state file makes open fail", async (t) => {
  const file = signerPath(t);
  const s = await DurableSigner.open(key, file);
  await sign(s, 9n, 2, SignStep.PRECOMMIT, hashA);
  const good = fs.readFileSync(file, "utf8");
  const rec = JSON.parse(good) as Record<string, unknown>;
  const variant = (change: Record<string, unknown>) => JSON.stringify({ ...rec, ...change });
  const without = (field: string) => JSON.stringify(Object.fromEntries(Object.entries(rec).filter(([k]) => k !== field)));

  const corrupt: [string, string][] = [
    ["empty file", ""],
    ["garbage", "\u0000\u0001not json at all"],
    ["truncated record", good.slice(0, Math.floor(good.length / 2))],
    ["null", "null"],
    ["an array", "[]"],
    ["an empty object", "{}"],
    ["non-numeric height", variant({ height: "nine" })],
    ["negative height", variant({ height: "-1" })],
    ["fractional height", variant({ height: 9.5 })],
    ["no height", without("height")],
    ["no round", without("round")],
    ["non-numeric round", variant({ round: "two" })],
    ["negative round", variant({ round: -1 })],
    ["fractional round", variant({ round: 1.5 })],
    ["no step", without("step")],
    ["unknown step", variant({ step: 7 })],
    ["non-hex hash", variant({ hash: "zz" })],
    ["short hash", variant({ hash: "aa" })],
    ["no signature", without("signature")],
    ["short signature", variant({ signature: "00" })],
    ["no message", without("message")],
  ];
  for (const [what, text] of corrupt) {
    fs.writeFileSync(file, text);
    await t.rejects(DurableSigner.open(key, file), { name: "SignerError", code: SignerErrorCode.CORRUPT_STATE }, what);
  }

  // control: the intact record opens and keeps refusing conflicts
  fs.writeFileSync(file, good);
  const r = await DurableSigner.open(key, file);
  t.same(r.lastSigned, { height: 9n, round: 2, step: SignStep.PRECOMMIT }, "the intact record opens");
  await t.rejects(sign(r, 9n, 2, SignStep.PRECOMMIT, hashB), conflict);
});

t.test("concurrent sign calls at one height/round/step: exactly one succeeds", async (t) => {
  const settle = async (s: DurableSigner, hashes: Uint8Array[], h: bigint) => {
    const results = await Promise.allSettled(hashes.map((x) => sign(s, h, 0, SignStep.PREVOTE, x)));
    const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    const codes = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as { code?: string }).code] : []));
    return { won, codes, results };
  };

  await t.test("two hashes on a fresh signer", async (t) => {
    const file = signerPath(t);
    const s = await DurableSigner.open(key, file);
    const { won, codes, results } = await settle(s, [hashA, hashB], 3n);
    t.equal(won.length, 1, "exactly one signature");
    t.same(codes, [SignerErrorCode.CONFLICT], "the other is a conflict");
    const winner = won[0] === 0 ? hashA : hashB;
    const loser = won[0] === 0 ? hashB : hashA;
    const sig = (results[won[0]!] as PromiseFulfilledResult<Uint8Array>).value;
    const r = await DurableSigner.open(key, file);
    t.equal(toHex(await sign(r, 3n, 0, SignStep.PREVOTE, winner)), toHex(sig), "the winner is what is on disk");
    await t.rejects(sign(r, 3n, 0, SignStep.PREVOTE, loser), conflict, "the loser stays refused after a restart");
  });

  await t.test("many hashes after an earlier record", async (t) => {
    const file = signerPath(t);
    const s = await DurableSigner.open(key, file);
    await sign(s, 3n, 0, SignStep.PRECOMMIT, hashA);
    const hashes = Array.from({ length: 10 }, (_, i) => new Uint8Array(32).fill(i + 1));
    const { won, codes } = await settle(s, hashes, 4n);
    t.equal(won.length, 1, "exactly one signature");
    t.same(codes, Array(9).fill(SignerErrorCode.CONFLICT), "every other is a conflict");
    const r = await DurableSigner.open(key, file);
    t.same(r.lastSigned, { height: 4n, round: 0, step: SignStep.PREVOTE });
  });

  await t.test("a refused call does not block the queue", async (t) => {
    const s = await DurableSigner.open(key, signerPath(t));
    await sign(s, 8n, 0, SignStep.PREVOTE, hashA);
    const results = await Promise.allSettled([sign(s, 7n, 0, SignStep.PREVOTE, hashA), sign(s, 8n, 0, SignStep.PRECOMMIT, hashA)]);
    t.equal(results[0]!.status, "rejected");
    t.equal(results[1]!.status, "fulfilled", "the call queued behind a refusal still signs");
  });
});
