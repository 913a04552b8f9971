// A signature-verification worker (node/verify-pool.ts). It runs the chain's ONE verification
// rule, primitives/keys.ts `verify`, loaded through tsx so that no second implementation exists.
import { parentPort } from "node:worker_threads";
import { constants, setPriority } from "node:os";
import { register } from "tsx/esm/api";

// Consensus first, across the machine: on Linux a thread's nice value is its own, so this lowers
// only this worker. The cores go to the main threads (votes, proposals, blocks) before bulk
// signature checks; on systems that refuse, the worker runs at normal priority.
try {
  setPriority(constants.priority.PRIORITY_BELOW_NORMAL);
} catch {
  // not permitted here: normal priority
}
register();
const { verify } = await import("../primitives/keys.ts");

parentPort.on("message", (batch) => {
  const results = new Uint8Array(batch.items.length);
  for (let i = 0; i < batch.items.length; i++) {
    const [publicKey, message, signature] = batch.items[i];
    results[i] = verify(publicKey, message, signature) ? 1 : 0;
  }
  parentPort.postMessage({ id: batch.id, results }, [results.buffer]);
});
parentPort.postMessage({ ready: true });
