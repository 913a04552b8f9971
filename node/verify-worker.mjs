// A signature-verification worker (node/verify-pool.ts). It runs the chain's ONE verification
// rule, primitives/keys.ts `verify`, loaded through tsx so that no second implementation exists.
import { parentPort } from "node:worker_threads";
import { register } from "tsx/esm/api";

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
