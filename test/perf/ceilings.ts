/** Ceilings measured in the same run as the figures they bound. */
import { cpus } from "node:os";
import { Worker } from "node:worker_threads";

// One worker per core: sign 256 messages, then verify them in a loop for the given time.
const VERIFY_WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { generateKeyPairSync, sign, verify, randomBytes } = require("node:crypto");
const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const msgs = Array.from({ length: 256 }, () => randomBytes(32));
const sigs = msgs.map((m) => sign(null, m, privateKey));
let n = 0;
const end = performance.now() + workerData.ms;
while (performance.now() < end) {
  for (let i = 0; i < 256; i++) if (!verify(null, msgs[i], publicKey, sigs[i])) throw new Error("verify failed");
  n += 256;
}
parentPort.postMessage(n / (workerData.ms / 1000));
`;

/** Native ed25519 verifies per second with one worker per core (node:crypto, parsed KeyObject). */
export async function nativeVerifyAllCores(seconds: number): Promise<{ perCore: number[]; total: number }> {
  const rates = await Promise.all(cpus().map(() => new Promise<number>((resolve, reject) => {
    const w = new Worker(VERIFY_WORKER, { eval: true, workerData: { ms: seconds * 1000 } });
    w.once("message", (r: number) => resolve(r));
    w.once("error", reject);
  })));
  return { perCore: rates, total: rates.reduce((a, b) => a + b, 0) };
}
