/** A local network of real node processes for e2e tests: `cloudcoin init`, then `cloudcoin start` per home. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePortRange } from "../../node/ports.ts";
import { rpc, runCli, startNode, waitFor, type NodeProcess } from "./process.ts";

export interface Member {
  readonly home: string;
  /** the libp2p listen address from its config.json */
  readonly listen: string;
  readonly validator: boolean;
  proc: NodeProcess | null;
}

export interface LocalNetwork {
  readonly dir: string;
  readonly members: Member[];
  readonly faucetKeyPath: string;
  start(i: number): Promise<NodeProcess>;
  /** SIGKILL: no shutdown, as a crash */
  kill(i: number): Promise<void>;
  stopAll(): Promise<void>;
  url(i: number): string;
}

export async function initNetwork(dir: string, validators: number, fullNodes = 0, params?: Record<string, unknown>): Promise<LocalNetwork> {
  const total = validators + fullNodes;
  const p2pBase = await freePortRange(total);
  const r = await runCli([
    "init", "--validators", String(validators), "--nodes", String(fullNodes), "--out", dir, "--chain-id", "e2e-net-1",
    "--p2p-base-port", String(p2pBase), "--json", ...(params ? ["--params", JSON.stringify(params)] : []),
  ]);
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  const members: Member[] = Array.from({ length: total }, (_, i) => {
    const home = join(dir, `node${i}`);
    const config = JSON.parse(readFileSync(join(home, "config.json"), "utf8")) as { p2pListen: string[] };
    return { home, listen: config.p2pListen[0]!, validator: i < validators, proc: null };
  });
  const net: LocalNetwork = {
    dir,
    members,
    faucetKeyPath: join(dir, "keys", "faucet.json"),
    async start(i) {
      const m = members[i]!;
      // the configured p2p port (its peers bootstrap to it), an ephemeral RPC port
      m.proc = await startNode(m.home, ["--p2p-listen", m.listen], 60_000);
      return m.proc;
    },
    async kill(i) {
      const m = members[i]!;
      await m.proc?.stop("SIGKILL");
      m.proc = null;
    },
    async stopAll() {
      await Promise.all(members.map((m) => m.proc?.stop()));
    },
    url(i) {
      const p = members[i]!.proc;
      if (!p) throw new Error(`node${i} is not running`);
      return p.url;
    },
  };
  return net;
}

export async function headHeight(url: string): Promise<number> {
  const r = await rpc(url, "node_status");
  return r.result.head.height as number;
}

/** Waits until the node at `url` has finalized at least `height`. */
export function waitForHeight(url: string, height: number, timeoutMs = 60_000): Promise<number> {
  return waitFor(`height ${height} at ${url}`, async () => {
    const h = await headHeight(url).catch(() => -1);
    return h >= height ? h : undefined;
  }, timeoutMs);
}
