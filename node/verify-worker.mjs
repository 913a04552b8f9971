// A signature-verification worker (node/verify-pool.ts). It runs the chain's ONE verification
// rule, primitives/keys.ts `verify` (compiled beside it in dist/, or loaded through tsx from the
// sources), so that no second implementation exists.
import { existsSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { setPriority } from "node:os";

const compiled = new URL("../primitives/keys.js", import.meta.url);
let verify;
if (existsSync(compiled)) ({ verify } = await import(compiled.href));
else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ verify } = await import("../primitives/keys.ts"));
}

// Consensus first, across the machine: on Linux a thread's nice value is its own, so this lowers
// only this worker, once it has loaded (a start at low priority on a busy machine took minutes).
// Nice 5 weighs about a third of a normal thread: the cores go to the main threads (votes,
// proposals, blocks) first without starving the signature checks. Where refused: normal priority.
try {
  setPriority(5);
} catch {
  // not permitted here
}

parentPort.on("message", (batch) => {
  const results = new Uint8Array(batch.items.length);
  for (let i = 0; i < batch.items.length; i++) {
    const [publicKey, message, signature] = batch.items[i];
    results[i] = verify(publicKey, message, signature) ? 1 : 0;
  }
  parentPort.postMessage({ id: batch.id, results }, [results.buffer]);
});
parentPort.postMessage({ ready: true });
