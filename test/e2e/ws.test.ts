/** e2e: a real node process; a WebSocket client subscribes to newHeads and sees the chain grow. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import WebSocket from "ws";
import { startNode } from "../helpers/process.ts";

const home = mkdtempSync(join(tmpdir(), "cloudcoin-e2e-ws-"));
t.teardown(() => rmSync(home, { recursive: true, force: true }));

t.test("newHeads over WebSocket delivers finalized headers with increasing heights", async (t) => {
  const node = await startNode(home);
  t.teardown(() => node.stop("SIGKILL"));
  const ws = new WebSocket(node.url.replace(/^http/, "ws"));
  t.teardown(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });

  const heights: number[] = [];
  let subscription: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${heights.length} headers within 30 s`)), 30_000);
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString());
      if (m.id === 1) {
        subscription = m.result;
        return;
      }
      if (m.method === "chain_subscription" && m.params.subscription === subscription) {
        t.type(m.params.result.hash, "string");
        heights.push(m.params.result.height);
        if (heights.length >= 2) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
  });
  ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "chain_subscribe", params: { topic: "newHeads" } }));
  await done;
  t.type(subscription, "string");
  t.ok(heights[0]! >= 1);
  for (let i = 1; i < heights.length; i++) t.ok(heights[i]! > heights[i - 1]!, `height ${heights[i]} follows ${heights[i - 1]}`);

  // ordinary methods work on the same socket
  const status = await new Promise<any>((resolve) => {
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString());
      if (m.id === 2) resolve(m);
    });
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "node_status", params: {} }));
  });
  t.ok(status.result.head.height >= heights[1]!);
});
