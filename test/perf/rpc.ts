/**
 * Figure 3: `state_getAccount` requests per second over HTTP on the node's real JSON-RPC server,
 * against a bare fastify JSON-RPC route (rpc-bare-server.ts), under the same load.
 * Figure 3b: `chain_getBlock` by height on the real server over a real BlockStore of RPC_BLOCKS
 * blocks of RPC_BLOCK_TXS transfers (rpc-block-server.ts), against the bare server answering the
 * same requests with a block-shaped answer of the same size (the ratio is the node's reading and
 * serializing of a block, not the size of the answer).
 *
 * A server and its load generator in one process would share one event loop and distort both,
 * so each server runs in its own child process (`node --import tsx <script>`, port read from its
 * stdout) and autocannon runs here, with identical settings for both servers. Runs alternate
 * (real, bare, real, bare, ...) and the ratio is taken per pair, which cancels slow drifts of a
 * shared machine; the median is reported.
 *
 * Every request asks for one of RPC_ADDRESSES different accounts (rotated), to both servers.
 * Before and after the load, a few responses are checked for the right account and balance; any
 * non-2xx answer, socket error or timeout under load fails the benchmark.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { READY_PREFIX } from "./child.ts";
import { RPC_ACCOUNT_BALANCE, RPC_ACCOUNTS, RPC_BLOCK_TXS, RPC_BLOCKS, rpcAccountAddress } from "./rpc-shared.ts";
import { median } from "./stats.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const REAL_SCRIPT = fileURLToPath(new URL("./rpc-real-server.ts", import.meta.url));
const BARE_SCRIPT = fileURLToPath(new URL("./rpc-bare-server.ts", import.meta.url));
const BLOCK_SCRIPT = fileURLToPath(new URL("./rpc-block-server.ts", import.meta.url));
const RPC_ADDRESSES = 1_000;

export interface LoadSettings {
  readonly connections: number;
  /** Seconds measured, after `warmupSeconds` not counted. */
  readonly seconds: number;
  readonly warmupSeconds: number;
}

export interface ServerFigures {
  readonly reqPerSec: number;
  readonly p99Ms: number;
  readonly samples: number[];
}

export interface RpcFigures {
  readonly reps: number;
  readonly settings: LoadSettings;
  readonly accounts: number;
  readonly addresses: number;
  readonly real: ServerFigures;
  readonly bare: ServerFigures;
  /** Median of per-pair real / bare req/s. */
  readonly ratio: number;
  /**
   * The real server once more with every request for a different account (all RPC_ACCOUNTS), so
   * the per-head account cache (rpc/views.ts) mostly misses: the figure for a cold head.
   */
  readonly cold: { readonly reqPerSec: number; readonly p99Ms: number; readonly ratio: number };
  /** Figure 3b: chain_getBlock by height, alternating with the bare server (its own load). */
  readonly block: {
    readonly blocks: number;
    readonly txsPerBlock: number;
    /** Bytes of one answer (tx hashes only / full transactions). */
    readonly answerBytes: number;
    readonly fullAnswerBytes: number;
    readonly real: ServerFigures;
    readonly bare: ServerFigures;
    /** Median of per-pair block / bare req/s. */
    readonly ratio: number;
    /** One run with `full: true` (whole transactions decoded and serialized), against the bare median. */
    readonly full: { readonly reqPerSec: number; readonly p99Ms: number; readonly ratio: number };
  };
}

// ---- child processes ----

/** Every child still running; killed outright if this process exits any other way. */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

interface ServerHandle {
  readonly name: string;
  readonly url: string;
  stop(): Promise<void>;
}

function spawnServer(name: string, script: string, readyTimeoutMs: number, args: readonly string[] = []): Promise<ServerHandle> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "inherit"] });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => live.delete(child));

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end(); // the child exits when its stdin closes ...
    child.kill("SIGTERM"); // ... or on SIGTERM
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };

  return new Promise<ServerHandle>((resolve, reject) => {
    let out = "";
    const fail = (why: string) => {
      clearTimeout(timer);
      child.off("exit", onEarlyExit);
      void stop().finally(() => reject(new Error(`${name} server: ${why}`)));
    };
    const onEarlyExit = (code: number | null, signal: string | null) => fail(`exited before it was ready (code ${code}, signal ${signal})`);
    const timer = setTimeout(() => fail(`not ready after ${readyTimeoutMs} ms`), readyTimeoutMs);
    child.once("exit", onEarlyExit);
    child.once("error", (e) => fail(e.message));
    child.stdout!.setEncoding("utf8");
    const onData = (chunk: string) => {
      out += chunk;
      const line = out.split("\n").find((l) => l.startsWith(READY_PREFIX));
      if (line === undefined) return;
      clearTimeout(timer);
      child.off("exit", onEarlyExit);
      child.stdout!.off("data", onData);
      child.stdout!.resume(); // keep draining: a full pipe must never block the child
      const { port } = JSON.parse(line.slice(READY_PREFIX.length)) as { port: number };
      resolve({ name, url: `http://127.0.0.1:${port}/`, stop });
    };
    child.stdout!.on("data", onData);
  });
}

// ---- requests ----

function requestBodies(count = RPC_ADDRESSES): string[] {
  return Array.from({ length: count }, (_, k) => {
    const account = (k * 97) % RPC_ACCOUNTS; // spread over the whole state (97 is coprime with it)
    return JSON.stringify({ jsonrpc: "2.0", id: k, method: "state_getAccount", params: { address: rpcAccountAddress(account) } });
  });
}

/** A few real requests with their answers checked: the load test only counts HTTP statuses. */
async function checkAnswers(server: ServerHandle, bodies: readonly string[], isReal: boolean): Promise<void> {
  for (const body of [bodies[0]!, bodies[1]!, bodies[bodies.length - 1]!]) {
    const sent = JSON.parse(body) as { id: number; params: { address: string } };
    const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body });
    const text = await res.text();
    let reply: { id?: unknown; result?: { address?: unknown; balance?: unknown; stateRoot?: unknown } };
    try {
      reply = JSON.parse(text) as typeof reply;
    } catch {
      throw new Error(`${server.name} server answered non-JSON: ${text.slice(0, 200)}`);
    }
    const r = reply.result;
    const ok =
      res.status === 200 &&
      reply.id === sent.id &&
      r?.address === sent.params.address &&
      (!isReal || (r.balance === RPC_ACCOUNT_BALANCE && typeof r.stateRoot === "string" && r.stateRoot.length === 64));
    if (!ok) throw new Error(`${server.name} server gave a wrong answer (HTTP ${res.status}): ${text.slice(0, 300)}`);
  }
}

function blockBodies(full: boolean): string[] {
  return Array.from({ length: RPC_BLOCKS }, (_, k) =>
    JSON.stringify({ jsonrpc: "2.0", id: k, method: "chain_getBlock", params: full ? { height: k + 1, full: true } : { height: k + 1 } }));
}

/**
 * A few chain_getBlock answers checked: the asked height, RPC_BLOCK_TXS transactions (hashes, or
 * whole transfers with `full`), and each block's parentHash the previous block's hash. Returns
 * the size of the answer for the last height.
 */
async function checkBlockAnswers(server: ServerHandle, full: boolean): Promise<number> {
  let previous: string | undefined;
  let bytes = 0;
  for (const height of [1, 2, 3, RPC_BLOCKS - 1, RPC_BLOCKS]) {
    const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: height, method: "chain_getBlock", params: { height, full } }) });
    const text = await res.text();
    bytes = Buffer.byteLength(text);
    let r: { header?: { height?: unknown; hash?: unknown; parentHash?: unknown }; txs?: unknown[] } | undefined;
    try {
      r = (JSON.parse(text) as { result?: typeof r }).result;
    } catch {
      throw new Error(`${server.name} server answered non-JSON: ${text.slice(0, 200)}`);
    }
    const txsOk = Array.isArray(r?.txs) && r.txs.length === RPC_BLOCK_TXS && r.txs.every((x) => (full ? (x as { op?: { type?: unknown } }).op?.type === "transfer" : typeof x === "string" && x.length === 64));
    const ok =
      res.status === 200 && r?.header?.height === height && typeof r.header.hash === "string" && /^[0-9a-f]{64}$/.test(r.header.hash) && txsOk &&
      (previous === undefined || r.header.parentHash === previous);
    if (!ok) throw new Error(`${server.name} server gave a wrong block ${height} (HTTP ${res.status}): ${text.slice(0, 300)}`);
    previous = height === 3 ? undefined : (r!.header!.hash as string);
  }
  return bytes;
}

async function load(server: ServerHandle, bodies: readonly string[], s: LoadSettings): Promise<{ reqPerSec: number; p99Ms: number }> {
  let next = 0;
  const result = await autocannon({
    url: server.url,
    connections: s.connections,
    duration: s.seconds,
    warmup: { connections: s.connections, duration: s.warmupSeconds },
    timeout: 10,
    method: "POST",
    headers: { "content-type": "application/json" },
    requests: [
      {
        setupRequest: (req) => {
          req.body = bodies[next++ % bodies.length]!;
          return req;
        },
      },
    ],
  });
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(`${server.name} server under load: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`);
  }
  if (result.requests.total === 0) throw new Error(`${server.name} server answered no request`);
  return { reqPerSec: result.requests.average, p99Ms: result.latency.p99 };
}

export async function benchRpc(opts: { reps: number; settings: LoadSettings; tmpDir?: string }, log: (s: string) => void): Promise<RpcFigures> {
  const bodies = requestBodies();
  const servers: ServerHandle[] = [];
  try {
    // Started together (their setup overlaps); all idle until their turn under load.
    const started = await Promise.allSettled([
      spawnServer("real", REAL_SCRIPT, 120_000),
      spawnServer("bare", BARE_SCRIPT, 120_000),
      spawnServer("block", BLOCK_SCRIPT, 180_000, opts.tmpDir !== undefined ? [opts.tmpDir] : []),
    ]);
    for (const s of started) if (s.status === "fulfilled") servers.push(s.value);
    for (const s of started) if (s.status === "rejected") throw s.reason;
    const [real, bare, blockServer] = servers as [ServerHandle, ServerHandle, ServerHandle];
    log(`  servers ready: real ${real.url}, bare ${bare.url}, block ${blockServer.url}`);
    await checkAnswers(real, bodies, true);
    await checkAnswers(bare, bodies, false);

    const samples = { real: [] as { reqPerSec: number; p99Ms: number }[], bare: [] as { reqPerSec: number; p99Ms: number }[] };
    for (let rep = 1; rep <= opts.reps; rep++) {
      const r = await load(real, bodies, opts.settings);
      const b = await load(bare, bodies, opts.settings);
      samples.real.push(r);
      samples.bare.push(b);
      log(`  repetition ${rep}/${opts.reps}: real ${r.reqPerSec.toFixed(0)} req/s (p99 ${r.p99Ms} ms), bare ${b.reqPerSec.toFixed(0)} req/s (p99 ${b.p99Ms} ms)`);
    }
    const coldBodies = requestBodies(RPC_ACCOUNTS);
    const cold = await load(real, coldBodies, opts.settings);
    log(`  cold cache: real ${cold.reqPerSec.toFixed(0)} req/s (p99 ${cold.p99Ms} ms) over ${RPC_ACCOUNTS.toLocaleString("en-US")} distinct addresses`);
    await checkAnswers(real, bodies, true);
    await checkAnswers(real, coldBodies, true);
    await checkAnswers(bare, bodies, false);

    // 3b: chain_getBlock, alternating with the bare server answering the same requests with a block-shaped answer of the same size
    const blockBodiesHashes = blockBodies(false);
    const blockBodiesFull = blockBodies(true);
    const answerBytes = await checkBlockAnswers(blockServer, false);
    const fullAnswerBytes = await checkBlockAnswers(blockServer, true);
    const blockSamples = { real: [] as { reqPerSec: number; p99Ms: number }[], bare: [] as { reqPerSec: number; p99Ms: number }[] };
    for (let rep = 1; rep <= opts.reps; rep++) {
      const r = await load(blockServer, blockBodiesHashes, opts.settings);
      const b = await load(bare, blockBodiesHashes, opts.settings);
      blockSamples.real.push(r);
      blockSamples.bare.push(b);
      log(`  chain_getBlock repetition ${rep}/${opts.reps}: real ${r.reqPerSec.toFixed(0)} req/s (p99 ${r.p99Ms} ms), bare ${b.reqPerSec.toFixed(0)} req/s (p99 ${b.p99Ms} ms)`);
    }
    const full = await load(blockServer, blockBodiesFull, opts.settings);
    log(`  chain_getBlock full=true: ${full.reqPerSec.toFixed(0)} req/s (p99 ${full.p99Ms} ms)`);
    await checkBlockAnswers(blockServer, false);

    const figures = (xs: { reqPerSec: number; p99Ms: number }[]): ServerFigures => ({
      reqPerSec: median(xs.map((x) => x.reqPerSec)),
      p99Ms: median(xs.map((x) => x.p99Ms)),
      samples: xs.map((x) => x.reqPerSec),
    });
    return {
      reps: opts.reps,
      settings: opts.settings,
      accounts: RPC_ACCOUNTS,
      addresses: RPC_ADDRESSES,
      real: figures(samples.real),
      bare: figures(samples.bare),
      ratio: median(samples.real.map((r, i) => r.reqPerSec / samples.bare[i]!.reqPerSec)),
      cold: { ...cold, ratio: cold.reqPerSec / median(samples.bare.map((b) => b.reqPerSec)) },
      block: {
        blocks: RPC_BLOCKS,
        txsPerBlock: RPC_BLOCK_TXS,
        answerBytes,
        fullAnswerBytes,
        real: figures(blockSamples.real),
        bare: figures(blockSamples.bare),
        ratio: median(blockSamples.real.map((r, i) => r.reqPerSec / blockSamples.bare[i]!.reqPerSec)),
        full: { ...full, ratio: full.reqPerSec / median(blockSamples.bare.map((b) => b.reqPerSec)) },
      },
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}
