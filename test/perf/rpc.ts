/**
 * Figure 3: `state_getAccount` requests per second over HTTP on the node's real JSON-RPC server,
 * against a bare node:http JSON-RPC server (rpc-bare-server.ts), under the same load.
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
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { CPU_PREFIX, READY_PREFIX } from "./child.ts";
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
  /** Median server CPU time per request (µs). */
  readonly cpuUsPerReq: number;
}

/** A measured server against its ceiling, repetitions alternating. */
export interface Comparison {
  readonly real: ServerFigures;
  readonly bare: ServerFigures;
  /** Median of per-pair real / bare req/s. */
  readonly ratio: number;
  /** Median of per-pair bare / real CPU per request: the same direction (1 = as cheap as the ceiling). */
  readonly cpuRatio: number;
}

export interface RpcFigures extends Comparison {
  readonly reps: number;
  readonly settings: LoadSettings;
  readonly accounts: number;
  readonly addresses: number;
  /**
   * The real server once more with every request for a different account (all RPC_ACCOUNTS), so
   * the address-decoding cache (primitives/keys.ts) mostly misses: the figure for many accounts.
   */
  readonly cold: { readonly reqPerSec: number; readonly p99Ms: number; readonly ratio: number };
  /** Figure 3b: chain_getBlock by height, alternating with the bare server (its own load). */
  readonly block: Comparison & {
    readonly blocks: number;
    readonly txsPerBlock: number;
    /** Bytes of one answer (tx hashes only / full transactions). */
    readonly answerBytes: number;
    readonly fullAnswerBytes: number;
    /**
     * The same real samples against the bare server writing an answer text it made in advance
     * (bench_blockText): the framework alone, the ceiling of a node that serves blocks from text.
     */
    readonly prebuilt: Comparison;
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

export interface ServerHandle {
  readonly name: string;
  readonly url: string;
  readonly pid: number | undefined;
  /** CPU time (user + system, µs) the server process has used so far. */
  cpuUs(): Promise<number>;
  stop(): Promise<void>;
}

/** `wrap`: turns the command into another that runs it (e.g. inside a memory cgroup). */
export function spawnServer(
  name: string,
  script: string,
  readyTimeoutMs: number,
  args: readonly string[] = [],
  wrap: (cmd: string, args: readonly string[]) => [string, readonly string[]] = (cmd, a) => [cmd, a],
): Promise<ServerHandle> {
  const [cmd, argv] = wrap(process.execPath, ["--import", "tsx", script, ...args]);
  const child = spawn(cmd, argv, { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "inherit"] });
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
    const fail = (why: string) => {
      clearTimeout(timer);
      child.off("exit", onEarlyExit);
      void stop().finally(() => reject(new Error(`${name} server: ${why}`)));
    };
    const onEarlyExit = (code: number | null, signal: string | null) => fail(`exited before it was ready (code ${code}, signal ${signal})`);
    const timer = setTimeout(() => fail(`not ready after ${readyTimeoutMs} ms`), readyTimeoutMs);
    child.once("exit", onEarlyExit);
    child.once("error", (e) => fail(e.message));
    // Read line by line for as long as the child runs (a full pipe must never block it): READY once, then CPU answers.
    const waiting: ((us: number) => void)[] = [];
    const cpuUs = (): Promise<number> =>
      new Promise<number>((res, rej) => {
        if (child.exitCode !== null || child.signalCode !== null) return rej(new Error(`${name} server has exited`));
        waiting.push(res);
        child.stdin!.write("cpu\n");
      });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith(CPU_PREFIX)) {
        waiting.shift()?.((JSON.parse(line.slice(CPU_PREFIX.length)) as { us: number }).us);
      } else if (line.startsWith(READY_PREFIX)) {
        clearTimeout(timer);
        child.off("exit", onEarlyExit);
        const { port } = JSON.parse(line.slice(READY_PREFIX.length)) as { port: number };
        resolve({ name, url: `http://127.0.0.1:${port}/`, pid: child.pid, cpuUs, stop });
      }
    });
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

/** The real servers run with the node's metrics: the load must show in /metrics as calls of `method`. */
async function checkObserved(server: ServerHandle, method: string): Promise<void> {
  const text = await (await fetch(new URL("/metrics", server.url))).text();
  const m = new RegExp(`^cloudcoin_rpc_request_duration_seconds_count\\{method="${method}"\\} (\\d+)`, "m").exec(text);
  if (m === null || Number(m[1]) < 1000) throw new Error(`${server.name} server: /metrics does not count the ${method} calls (${m?.[1] ?? "no series"})`);
}

function blockBodies(full: boolean, method = "chain_getBlock"): string[] {
  return Array.from({ length: RPC_BLOCKS }, (_, k) =>
    JSON.stringify({ jsonrpc: "2.0", id: k, method, params: full ? { height: k + 1, full: true } : { height: k + 1 } }));
}

/**
 * A few chain_getBlock answers checked: the asked height, RPC_BLOCK_TXS transactions (hashes, or
 * whole transfers with `full`), and each block's parentHash the previous block's hash. Returns
 * the size of the answer for the last height.
 */
async function checkBlockAnswers(server: ServerHandle, full: boolean, method = "chain_getBlock"): Promise<number> {
  let previous: string | undefined;
  let bytes = 0;
  for (const height of [1, 2, 3, RPC_BLOCKS - 1, RPC_BLOCKS]) {
    const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: height, method, params: { height, full } }) });
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

interface LoadSample {
  readonly reqPerSec: number;
  readonly p99Ms: number;
  /** The server's CPU time (user + system) per answered request over the measured seconds. */
  readonly cpuUsPerReq: number;
}

async function load(server: ServerHandle, bodies: readonly string[], s: LoadSettings): Promise<LoadSample> {
  let next = 0;
  const run = async (seconds: number) => {
    const result = await autocannon({
      url: server.url,
      connections: s.connections,
      duration: seconds,
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
    return result;
  };
  await run(s.warmupSeconds); // not counted: JIT, caches, connections
  const cpuBefore = await server.cpuUs();
  const result = await run(s.seconds);
  const cpuAfter = await server.cpuUs();
  return { reqPerSec: result.requests.average, p99Ms: result.latency.p99, cpuUsPerReq: (cpuAfter - cpuBefore) / result.requests.total };
}

function describe(x: LoadSample): string {
  return `${x.reqPerSec.toFixed(0)} req/s (p99 ${x.p99Ms} ms, ${x.cpuUsPerReq.toFixed(1)} µs CPU/req)`;
}

function figures(xs: readonly LoadSample[]): ServerFigures {
  return {
    reqPerSec: median(xs.map((x) => x.reqPerSec)),
    p99Ms: median(xs.map((x) => x.p99Ms)),
    samples: xs.map((x) => x.reqPerSec),
    cpuUsPerReq: median(xs.map((x) => x.cpuUsPerReq)),
  };
}

/** Pairs are taken in order: sample i of `real` ran right before sample i of `bare`. */
function compare(real: readonly LoadSample[], bare: readonly LoadSample[]): Comparison {
  return {
    real: figures(real),
    bare: figures(bare),
    ratio: median(real.map((r, i) => r.reqPerSec / bare[i]!.reqPerSec)),
    cpuRatio: median(real.map((r, i) => bare[i]!.cpuUsPerReq / r.cpuUsPerReq)),
  };
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

    const samples = { real: [] as LoadSample[], bare: [] as LoadSample[] };
    for (let rep = 1; rep <= opts.reps; rep++) {
      const r = await load(real, bodies, opts.settings);
      const b = await load(bare, bodies, opts.settings);
      samples.real.push(r);
      samples.bare.push(b);
      log(`  repetition ${rep}/${opts.reps}: real ${describe(r)}, bare ${describe(b)}`);
    }
    const coldBodies = requestBodies(RPC_ACCOUNTS);
    const cold = await load(real, coldBodies, opts.settings);
    log(`  cold cache: real ${describe(cold)} over ${RPC_ACCOUNTS.toLocaleString("en-US")} distinct addresses`);
    await checkAnswers(real, bodies, true);
    await checkAnswers(real, coldBodies, true);
    await checkObserved(real, "state_getAccount");
    await checkAnswers(bare, bodies, false);

    // 3b: chain_getBlock, alternating with the bare server answering the same requests with a
    // block-shaped answer of the same size, made per request (bare) or made in advance (prebuilt).
    const blockBodiesHashes = blockBodies(false);
    const blockBodiesFull = blockBodies(true);
    const blockBodiesPrebuilt = blockBodies(false, "bench_blockText");
    const answerBytes = await checkBlockAnswers(blockServer, false);
    const fullAnswerBytes = await checkBlockAnswers(blockServer, true);
    const bareBytes = await checkBlockAnswers(bare, false);
    const prebuiltBytes = await checkBlockAnswers(bare, false, "bench_blockText");
    for (const b of [bareBytes, prebuiltBytes]) {
      if (Math.abs(b - answerBytes) > answerBytes * 0.02) {
        throw new Error(`a bare block answer of ${b} bytes, the real one ${answerBytes}: the ceiling must answer the same size`);
      }
    }
    const blockSamples = { real: [] as LoadSample[], bare: [] as LoadSample[], prebuilt: [] as LoadSample[] };
    for (let rep = 1; rep <= opts.reps; rep++) {
      const r = await load(blockServer, blockBodiesHashes, opts.settings);
      const b = await load(bare, blockBodiesHashes, opts.settings);
      const p = await load(bare, blockBodiesPrebuilt, opts.settings);
      blockSamples.real.push(r);
      blockSamples.bare.push(b);
      blockSamples.prebuilt.push(p);
      log(`  chain_getBlock repetition ${rep}/${opts.reps}: real ${describe(r)}, bare ${describe(b)}, bare prebuilt ${describe(p)}`);
    }
    const full = await load(blockServer, blockBodiesFull, opts.settings);
    log(`  chain_getBlock full=true: ${describe(full)}`);
    await checkBlockAnswers(blockServer, false);
    await checkObserved(blockServer, "chain_getBlock");

    const account = compare(samples.real, samples.bare);
    const block = compare(blockSamples.real, blockSamples.bare);
    return {
      reps: opts.reps,
      settings: opts.settings,
      accounts: RPC_ACCOUNTS,
      addresses: RPC_ADDRESSES,
      ...account,
      cold: { reqPerSec: cold.reqPerSec, p99Ms: cold.p99Ms, ratio: cold.reqPerSec / account.bare.reqPerSec },
      block: {
        blocks: RPC_BLOCKS,
        txsPerBlock: RPC_BLOCK_TXS,
        answerBytes,
        fullAnswerBytes,
        ...block,
        prebuilt: compare(blockSamples.real, blockSamples.prebuilt),
        full: { reqPerSec: full.reqPerSec, p99Ms: full.p99Ms, ratio: full.reqPerSec / block.bare.reqPerSec },
      },
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}
