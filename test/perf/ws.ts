/**
 * WebSocket fan-out benchmark: new-head notifications delivered per second to 1,000
 * subscribers. This process runs the real RPC server (rpc/server.ts + rpc/ws.ts) and publishes
 * synthetic blocks in a loop; a child process (this file with --client) opens the 1,000 sockets,
 * subscribes each to newHeads and counts the notifications per height.
 *
 * Flow control: block h is published only once every subscriber has received block h - WINDOW,
 * so the figure is sustained delivery, not bytes parked in buffers (and no socket should be
 * cut as a slow consumer; the script checks that all 1,000 are still connected at the end).
 *
 *   node --import tsx test/perf/ws.ts [--sockets 1000] [--seconds 5] [--window 64]
 */
import { fork, type ChildProcess } from "node:child_process";
import { setImmediate as tick } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import type { Block } from "../../chain/block.ts";
import { startRpcServer } from "../../rpc/server.ts";
import { Subscriptions } from "../../rpc/ws.ts";
import { advance, newTestChain } from "../helpers/chain.ts";

const { values } = parseArgs({
  options: {
    client: { type: "string" },
    sockets: { type: "string", default: "1000" },
    seconds: { type: "string", default: "5" },
    window: { type: "string", default: "64" },
  },
});
const SOCKETS = Number(values.sockets);

type FromClient = { ready: true } | { complete: number } | { total: number };

if (values.client !== undefined) await runClient(values.client);
else await runServer();

async function runClient(url: string): Promise<void> {
  const counts = new Map<number, number>();
  let total = 0;
  const send = (m: FromClient): void => void process.send!(m);
  const open = async (): Promise<void> => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    await new Promise<void>((resolve) => {
      ws.once("message", () => resolve());
      ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "chain_subscribe", params: { topic: "newHeads" } }));
    });
    ws.on("message", (data) => {
      // The height is all the benchmark needs; a full JSON.parse per message would measure the client.
      const m = /"height":(\d+)/.exec(data.toString());
      if (m === null) return;
      total++;
      const h = Number(m[1]);
      const n = (counts.get(h) ?? 0) + 1;
      if (n === SOCKETS) {
        counts.delete(h);
        send({ complete: h });
      } else counts.set(h, n);
    });
  };
  for (let i = 0; i < SOCKETS; i += 100) await Promise.all(Array.from({ length: Math.min(100, SOCKETS - i) }, open));
  process.on("message", (m: { report?: true }) => {
    if (m.report) send({ total });
  });
  send({ ready: true });
}

async function runServer(): Promise<void> {
  const seconds = Number(values.seconds);
  const window = Number(values.window);
  const chain = newTestChain();
  const base = advance(chain, []).block;
  const blockAt = (h: number): Block => ({ ...base, header: { ...base.header, height: BigInt(h) } });

  const subs = new Subscriptions();
  const rpc = await startRpcServer({ host: "127.0.0.1", port: 0, logger: false }, {}, {}, subs);
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ["--client", rpc.url.replace(/^http/, "ws"), "--sockets", String(SOCKETS)], {
    execArgv: ["--import", "tsx"],
  });
  let completed = 0;
  let ready = false;
  let total = -1;
  child.on("message", (m: FromClient) => {
    if ("ready" in m) ready = true;
    else if ("complete" in m) completed = Math.max(completed, m.complete);
    else total = m.total;
  });
  while (!ready) await tick();
  console.log(`${subs.connections} sockets connected, ${subs.subscriptions} newHeads subscriptions`);

  const started = performance.now();
  const until = started + seconds * 1000;
  let height = 0;
  while (performance.now() < until) {
    if (height - completed < window) subs.publishBlock(blockAt(++height), { receipts: [], events: [] });
    await tick();
  }
  while (completed < height) await tick();
  const elapsed = (performance.now() - started) / 1000;
  child.send({ report: true });
  while (total < 0) await tick();

  const expected = height * SOCKETS;
  console.log(`${height} blocks in ${elapsed.toFixed(2)} s, ${total} notifications delivered (expected ${expected}), ${subs.connections} sockets still connected`);
  console.log(`${Math.round(total / elapsed).toLocaleString("en-US")} deliveries/s (${(height / elapsed).toFixed(0)} blocks/s to ${SOCKETS} subscribers)`);
  child.kill();
  await rpc.close();
  if (total !== expected || subs.connections !== 0) process.exitCode = 1;
}
