/**
 * WebSocket fan-out benchmark: new-head notifications delivered per second to 1,000
 * subscribers. This process runs the real RPC server (rpc/server.ts + rpc/ws.ts) and publishes
 * synthetic blocks in a loop; a child process (this file with --client) opens the 1,000 sockets,
 * subscribes each to newHeads and counts the notifications per height.
 *
 * Ceiling: a bare `ws` WebSocketServer (the library under @fastify/websocket) speaking the same
 * protocol to the same client: it answers the subscribe with an id and sends each socket the
 * same notification text the node sends (header JSON made once per block, wrapped per socket
 * with its subscription id), nothing else. Runs alternate (node, bare, node, ...) and the ratio
 * is the median of per-pair ratios.
 *
 * Flow control: block h is published only once every subscriber has received block h - WINDOW,
 * so the figure is sustained delivery, not bytes parked in buffers (and no socket should be
 * cut as a slow consumer; the script checks that all 1,000 are still connected at the end).
 *
 *   node --import tsx test/perf/ws.ts [--sockets 1000] [--seconds 4] [--window 64] [--reps 3]
 */
import { randomBytes } from "node:crypto";
import { fork, type ChildProcess } from "node:child_process";
import type { AddressInfo } from "node:net";
import { setImmediate as tick } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import WebSocket, { WebSocketServer } from "ws";
import type { Block } from "../../chain/block.ts";
import { headerJson } from "../../rpc/json.ts";
import { startRpcServer } from "../../rpc/server.ts";
import { Subscriptions } from "../../rpc/ws.ts";
import { advance, newTestChain } from "../helpers/chain.ts";
import { median } from "./stats.ts";

const { values } = parseArgs({
  options: {
    client: { type: "string" },
    sockets: { type: "string", default: "1000" },
    seconds: { type: "string", default: "4" },
    window: { type: "string", default: "64" },
    reps: { type: "string", default: "3" },
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

/** One way of publishing a block to every subscriber, and how many sockets it holds. */
interface FanOut {
  readonly name: string;
  readonly url: string;
  readonly connections: () => number;
  publish(block: Block): void;
  close(): Promise<void>;
}

async function nodeFanOut(): Promise<FanOut> {
  const subs = new Subscriptions();
  const rpc = await startRpcServer({ host: "127.0.0.1", port: 0, logger: false }, {}, {}, subs);
  return {
    name: "node",
    url: rpc.url.replace(/^http/, "ws"),
    connections: () => subs.connections,
    publish: (block) => subs.publishBlock(block, { receipts: [], events: [] }),
    close: () => rpc.close(),
  };
}

/** The ceiling: plain `ws`, the same protocol and texts, no limits, no bookkeeping. */
async function bareFanOut(): Promise<FanOut> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const subscribed: { socket: WebSocket; prefix: string }[] = [];
  wss.on("connection", (socket) => {
    socket.once("message", (data) => {
      const { id } = JSON.parse(data.toString()) as { id: number };
      const sub = randomBytes(16).toString("hex");
      subscribed.push({ socket, prefix: `{"jsonrpc":"2.0","method":"chain_subscription","params":{"subscription":"${sub}","result":` });
      socket.send(JSON.stringify({ jsonrpc: "2.0", result: sub, id }));
    });
  });
  return {
    name: "bare",
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`,
    connections: () => [...wss.clients].filter((c) => c.readyState === WebSocket.OPEN).length,
    publish: (block) => {
      const json = JSON.stringify(headerJson(block.header, block.hash));
      for (const s of subscribed) s.socket.send(`${s.prefix}${json}}}`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

interface RunFigures {
  readonly deliveriesPerSec: number;
  readonly blocksPerSec: number;
}

async function fanOutRun(server: FanOut, blockAt: (h: number) => Block, seconds: number, window: number): Promise<RunFigures> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ["--client", server.url, "--sockets", String(SOCKETS)], { execArgv: ["--import", "tsx"] });
  try {
    let completed = 0;
    let ready = false;
    let total = -1;
    child.on("message", (m: FromClient) => {
      if ("ready" in m) ready = true;
      else if ("complete" in m) completed = Math.max(completed, m.complete);
      else total = m.total;
    });
    while (!ready) await tick();

    const started = performance.now();
    const until = started + seconds * 1000;
    let height = 0;
    while (performance.now() < until) {
      if (height - completed < window) server.publish(blockAt(++height));
      await tick();
    }
    while (completed < height) await tick();
    const elapsed = (performance.now() - started) / 1000;
    child.send({ report: true });
    while (total < 0) await tick();

    const expected = height * SOCKETS;
    const connected = server.connections();
    console.log(
      `  ${server.name}: ${height} blocks in ${elapsed.toFixed(2)} s, ${total} notifications delivered (expected ${expected}), ${connected} sockets still connected: ` +
        `${Math.round(total / elapsed).toLocaleString("en-US")} deliveries/s`,
    );
    if (total !== expected || connected !== SOCKETS) throw new Error(`${server.name}: lost notifications or sockets`);
    return { deliveriesPerSec: total / elapsed, blocksPerSec: height / elapsed };
  } finally {
    child.kill();
  }
}

async function runServer(): Promise<void> {
  const seconds = Number(values.seconds);
  const window = Number(values.window);
  const reps = Number(values.reps);
  const chain = newTestChain();
  const base = advance(chain, []).block;
  const blockAt = (h: number): Block => ({ ...base, header: { ...base.header, height: BigInt(h) } });

  console.log(`WebSocket fan-out: newHeads to ${SOCKETS} subscribers (one client process), ${seconds} s per run, window ${window} blocks, ${reps} pairs`);
  const runs: { node: RunFigures; bare: RunFigures }[] = [];
  try {
    for (let rep = 0; rep < reps; rep++) {
      const pair: Partial<{ node: RunFigures; bare: RunFigures }> = {};
      for (const make of [nodeFanOut, bareFanOut]) {
        const server = await make();
        try {
          pair[server.name as "node" | "bare"] = await fanOutRun(server, blockAt, seconds, window);
        } finally {
          await server.close();
        }
      }
      runs.push(pair as { node: RunFigures; bare: RunFigures });
    }
  } catch (err) {
    console.error(`BENCHMARK FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
    return;
  }
  const node = median(runs.map((r) => r.node.deliveriesPerSec));
  const bare = median(runs.map((r) => r.bare.deliveriesPerSec));
  const ratio = median(runs.map((r) => r.node.deliveriesPerSec / r.bare.deliveriesPerSec));
  console.log(`node (rpc/ws.ts Subscriptions):  ${Math.round(node).toLocaleString("en-US")} deliveries/s (${(node / SOCKETS).toFixed(0)} blocks/s to ${SOCKETS} subscribers)`);
  console.log(`ceiling (bare ws, same texts):   ${Math.round(bare).toLocaleString("en-US")} deliveries/s`);
  console.log(`ratio ${ratio.toFixed(2)} (median of ${reps} pairs)`);
}
