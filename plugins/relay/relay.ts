/**
 * A bandwidth relay (docs/protocol.md section 6) as a separate process: it runs a libp2p
 * probe host (p2p/probe.ts) that answers its witnesses' probes for its public key, and registers
 * on chain as a bandwidth provider if it is not registered.
 *
 *   identity      the relay key (--key, a `cloudcoin keys` file) signs its transactions and keys
 *                 the probe bytes; the libp2p identity is a separate key persisted in --p2p-key
 *                 (default: next to the relay key, <key>.p2p.key) so its peer id, and thus its
 *                 registered multiaddr, survive restarts.
 *   registration  provider.register kind bandwidth with multiaddr = the listen address (or
 *                 --announce) with /p2p/<peer id>, capacity --capacity (bytes per second; the chain
 *                 caps the credited throughput at it) and collateral --collateral base units
 *                 (default capacity x 1, the default params.collateralPerByte; the node refuses
 *                 less with PROVIDER_COLLATERAL_TOO_LOW). Skipped when provider_get shows it
 *                 registered; a registration under another multiaddr is kept and warned about
 *                 (witnesses probe the registered one), one of another kind or exiting is an error
 *                 or a warning. A relay is assigned witnesses from the first epoch that starts
 *                 after its registration block.
 *   reporting     every --poll-ms it reads bandwidth_getRelay; for each epoch that ended since, it
 *                 logs what it gave (bandwidth_getAttestations: witnesses, attestations, failed
 *                 probes attested, credited, judged and why not: with fewer than a quorum of
 *                 attestations, or no /ip4 or /ip6 address (noIp), a relay is not judged).
 *
 * Run: node --import tsx plugins/relay/relay.ts --rpc URL --key FILE --listen /ip4/127.0.0.1/tcp/PORT
 *        [--p2p-key FILE] [--announce MULTIADDR] [--capacity BYTES_PER_SEC] [--collateral UNITS]
 *        [--max-concurrent N] [--max-probe-bytes N] [--poll-ms MS] [--fee UNITS]
 * Logs JSON lines (pino): "registered" {hash, height}, "relay ready" {multiaddr, address, peerId},
 * "epoch" {epoch, attestations, credited, served}; exits on SIGINT/SIGTERM.
 */
import "../../modules/index.ts";
import { multiaddr as parseMultiaddr } from "@multiformats/multiaddr";
import { parseArgs } from "node:util";
import type { Logger } from "pino";
import { toAddress, type KeyPair } from "../../primitives/keys.ts";
import { ProviderKind } from "../../modules/storage/storage.ts";
import { relayIpGroup } from "../../proofs/bandwidth.ts";
import { readKeyFile } from "../shared/keyfile.ts";
import { createProbeHost, MAX_PROBE_BYTES, MIN_PROBE_BYTES, serveProbes, type ProbeHost, type ProbeServer } from "../../p2p/probe.ts";
import { RpcClient } from "../../rpc/client.ts";
import { sendAndWait } from "../storage-provider/deals.ts";
import { decimalFlag, errorCode, exitOnSignals, intFlag, isMain, pluginLogger, runMain, PluginArgsError } from "../shared/bandwidth.ts";
import { CodedError } from "../../primitives/errors.ts";
import { LOG_USAGE, logOptions, parseOrUsage, standardFlags } from "../shared/cli.ts";
import { negativeNumbersAsValues } from "../../common/args.ts";

export interface RelayOptions {
  readonly rpcUrl: string;
  readonly key: KeyPair;
  /** Listen multiaddr of the probe host, e.g. /ip4/127.0.0.1/tcp/4100. */
  readonly listen: string;
  readonly p2pKeyPath: string;
  /** Registered instead of the listen address (without /p2p/: it is appended). */
  readonly announce?: string;
  /** Bytes per second registered as capacity. */
  readonly capacity: bigint;
  /** Collateral (base units) to register with; default capacity x 1. */
  readonly collateral?: bigint;
  readonly maxConcurrent?: number;
  readonly maxProbeBytes?: number;
  readonly pollMs?: number;
  readonly fee?: bigint;
  readonly log: Logger;
}

export const defaultRelayOptions: { readonly capacity: bigint; readonly maxConcurrent: number; readonly pollMs: number; readonly fee: bigint } = {
  /** 1 Gbit/s */
  capacity: 125_000_000n,
  maxConcurrent: 8,
  pollMs: 2_000,
  fee: 1_000n,
};

export const RelayErrorCode = {
  /** The key is registered as a provider of another kind (storage): it cannot relay. */
  WRONG_KIND: "RELAY_WRONG_KIND",
  /** The account cannot pay the collateral and the fee. */
  CANNOT_PAY_COLLATERAL: "RELAY_CANNOT_PAY_COLLATERAL",
  /** No usable listen address to announce. */
  NO_ADDRESS: "RELAY_NO_ADDRESS",
} as const;
export type RelayErrorCode = (typeof RelayErrorCode)[keyof typeof RelayErrorCode];
export class RelayError extends CodedError<RelayErrorCode> {}

export interface Relay {
  readonly address: string;
  readonly peerId: string;
  /** What this relay announces (with /p2p/<peer id>). */
  readonly multiaddr: string;
  /** What the chain holds for it (differs from `multiaddr` if it registered elsewhere before). */
  readonly registeredMultiaddr: string;
  readonly host: ProbeHost;
  readonly server: ProbeServer;
  close(): Promise<void>;
}

/** The default --p2p-key of a relay key file: `relay.json` -> `relay.p2p.key`. */
export function defaultP2pKeyPath(keyPath: string): string {
  return keyPath.replace(/\.json$/, "") + ".p2p.key";
}

/** The multiaddr to announce: `announce` or the bound address matching `listen` (its port resolved), with /p2p/<peer id>. */
export function announcedMultiaddr(listen: string, bound: readonly string[], peerId: string, announce?: string): string | undefined {
  const withPeer = (a: string): string => (a.includes("/p2p/") ? a : `${a}/p2p/${peerId}`);
  if (announce !== undefined) return withPeer(announce);
  const l = parseMultiaddr(listen).getComponents();
  const host = l[0]?.value;
  const port = l[1]?.value;
  for (const b of bound) {
    const c = parseMultiaddr(b).getComponents();
    if (c[0]?.name !== l[0]?.name || c[1]?.name !== l[1]?.name) continue;
    if (host !== "0.0.0.0" && host !== "::" && c[0]?.value !== host) continue;
    if (port !== "0" && c[1]?.value !== port) continue;
    return withPeer(b);
  }
  return undefined;
}

export async function startRelay(opts: RelayOptions): Promise<Relay> {
  const o = { ...defaultRelayOptions, ...opts };
  const log = o.log;
  const rpc = new RpcClient(o.rpcUrl);
  const address = toAddress(o.key.publicKey);
  const chainId = (await rpc.call("node_status", {})).chainId;

  // the probe host first: witnesses may probe as soon as the registration is in a block
  const host = await createProbeHost({ keyPath: o.p2pKeyPath, listen: [o.listen] });
  let server: ProbeServer | undefined;
  try {
    server = await serveProbes(host, chainId, o.key.publicKey, {
      maxConcurrent: o.maxConcurrent, ...(o.maxProbeBytes !== undefined ? { maxBytes: o.maxProbeBytes } : {}), log: log.child({ module: "probe" }),
    });
    const multiaddr = announcedMultiaddr(o.listen, host.listenAddresses(), host.peerId, o.announce);
    if (!multiaddr) throw new RelayError(RelayErrorCode.NO_ADDRESS, `no bound address matches --listen ${o.listen} (bound: ${host.listenAddresses().join(", ")}); give --announce`);
    const registeredMultiaddr = await ensureRegistered(rpc, chainId, o, address, multiaddr, log);
    if (relayIpGroup(registeredMultiaddr) === undefined) {
      log.warn(
        { registered: registeredMultiaddr },
        "registered without an /ip4 or /ip6 address: the chain cannot resolve names, so it assigns this relay no witnesses (noIp) and never judges or pays it; register with --announce /ip4/... (provider.update)",
      );
    }

    // ---- reporting: what each epoch gave ----
    let lastEpoch: number | undefined;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const report = async (): Promise<void> => {
      const r = await rpc.call("bandwidth_getRelay", { address });
      const epoch = r?.current?.epoch;
      if (epoch === undefined) return;
      // every epoch that ended since the last look (the state keeps the last few)
      for (let e = Math.max(lastEpoch ?? epoch, epoch - 3); e < epoch; e++) {
        const a = await rpc.call("bandwidth_getAttestations", { relay: address, epoch: e });
        if (!a.known) continue;
        log.info({
          epoch: e, witnesses: a.witnesses.length, attestations: a.attestations.length, quorum: a.quorum,
          // failures attested as throughput 0 count; fewer than a quorum of attestations: not judged (reason)
          failed: a.attestations.filter((x) => x.throughput === "0").length,
          judged: a.judged, reason: a.reason, credited: a.credited, reputationBps: r!.reputationBps, banned: r!.banned, served: server!.stats(),
        }, "epoch");
      }
      lastEpoch = epoch;
    };
    const loop = (): void => {
      if (stopped) return;
      report().catch((e: unknown) => log.debug({ code: errorCode(e), message: (e as Error).message }, "report failed")).finally(() => {
        if (!stopped) timer = setTimeout(loop, o.pollMs);
      });
    };
    loop();

    const s = server;
    return {
      address, peerId: host.peerId, multiaddr, registeredMultiaddr, host, server: s,
      close: async () => {
        stopped = true;
        clearTimeout(timer);
        await s.stop();
        await host.stop();
      },
    };
  } catch (e) {
    await server?.stop().catch(() => undefined);
    await host.stop().catch(() => undefined);
    throw e;
  }
}

/** Registers the relay unless it is registered; returns the multiaddr the chain holds for it. */
async function ensureRegistered(rpc: RpcClient, chainId: string, o: RelayOptions & { readonly fee: bigint }, address: string, multiaddr: string, log: Logger): Promise<string> {
  const existing = await rpc.call("provider_get", { address });
  if (existing && existing.status !== "exited") {
    if (existing.kind !== "bandwidth") {
      throw new RelayError(RelayErrorCode.WRONG_KIND, `${address} is registered as a ${existing.kind} provider; a relay needs a key of its own (provider.exit first, or another --key)`);
    }
    if (existing.status === "exiting") log.warn({ address }, "this relay is exiting: it is no longer assigned witnesses");
    if (existing.banned) log.warn({ address, bannedUntil: existing.bannedUntil }, "this relay is banned: it is probed but earns nothing until the ban ends");
    if (existing.multiaddr !== multiaddr) {
      log.warn(
        { registered: existing.multiaddr, listening: multiaddr },
        "registered with a different multiaddr: witnesses probe the registered one and will fail unless it reaches this process (same --p2p-key and address?)",
      );
    }
    log.info({ address, multiaddr: existing.multiaddr, capacity: existing.capacity, collateral: existing.collateral, registeredAt: existing.registeredAt }, "already registered");
    return existing.multiaddr;
  }
  const collateral = o.collateral ?? o.capacity; // params.collateralPerByte = 1 by default
  const balance = BigInt((await rpc.call("state_getAccount", { address })).balance);
  if (balance < collateral + o.fee) {
    throw new RelayError(RelayErrorCode.CANNOT_PAY_COLLATERAL, `${address} holds ${balance} base units; registering needs ${collateral} of collateral plus a ${o.fee} fee`, {
      balance: balance.toString(), collateral: collateral.toString(),
    });
  }
  const r = await sendAndWait(rpc, chainId, o.key, { type: "provider.register", kind: ProviderKind.BANDWIDTH, collateral, capacity: o.capacity, multiaddr }, o.fee);
  log.info({ address, multiaddr, capacity: o.capacity.toString(), collateral: collateral.toString(), hash: r.hash, height: r.height }, "registered");
  return multiaddr;
}

async function main(): Promise<void> {
  if (process.argv.slice(2).includes("--version")) standardFlags(["--version"], "");
  const usage =
    "usage: relay.ts --rpc URL --key FILE --listen /ip4/127.0.0.1/tcp/PORT [--p2p-key FILE] [--announce MULTIADDR] [--capacity BYTES_PER_SEC] " +
    `[--collateral UNITS] [--max-concurrent N] [--max-probe-bytes N] [--poll-ms MS] [--fee UNITS] ${LOG_USAGE}`;
  const { values: v } = parseOrUsage("relay", usage, () =>
    parseArgs({
      args: negativeNumbersAsValues(process.argv.slice(2)),
      options: {
        rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? "http://127.0.0.1:8645/" },
        key: { type: "string" },
        listen: { type: "string" },
        "p2p-key": { type: "string" },
        announce: { type: "string" },
        capacity: { type: "string", default: String(defaultRelayOptions.capacity) },
        collateral: { type: "string" },
        "max-concurrent": { type: "string", default: String(defaultRelayOptions.maxConcurrent) },
        "max-probe-bytes": { type: "string", default: String(MAX_PROBE_BYTES) },
        "poll-ms": { type: "string", default: String(defaultRelayOptions.pollMs) },
        fee: { type: "string", default: String(defaultRelayOptions.fee) },
        help: { type: "boolean", default: false },
        ...logOptions,
      },
    }),
  );
  if (v.help) {
    process.stdout.write(usage + "\n");
    return;
  }
  if (!v.key || !v.listen) throw new PluginArgsError("BAD_ARGS", usage);
  const maxProbeBytes = intFlag("max-probe-bytes", v["max-probe-bytes"], MIN_PROBE_BYTES);
  if (maxProbeBytes > MAX_PROBE_BYTES) throw new PluginArgsError("BAD_ARGS", `--max-probe-bytes must be at most ${MAX_PROBE_BYTES}`);
  const capacity = decimalFlag("capacity", v.capacity);
  if (capacity === 0n) throw new PluginArgsError("BAD_ARGS", "--capacity must be positive");
  const log = pluginLogger("relay", v);
  const relay = await startRelay({
    rpcUrl: v.rpc, key: await readKeyFile(v.key), listen: v.listen, p2pKeyPath: v["p2p-key"] ?? defaultP2pKeyPath(v.key),
    ...(v.announce ? { announce: v.announce } : {}), capacity, ...(v.collateral !== undefined ? { collateral: decimalFlag("collateral", v.collateral) } : {}),
    maxConcurrent: intFlag("max-concurrent", v["max-concurrent"]), maxProbeBytes, pollMs: intFlag("poll-ms", v["poll-ms"]), fee: decimalFlag("fee", v.fee), log,
  });
  log.info({ multiaddr: relay.multiaddr, address: relay.address, peerId: relay.peerId, registered: relay.registeredMultiaddr }, "relay ready");
  exitOnSignals(log, async () => {
    const served = relay.server.stats();
    await relay.close();
    log.info({ served }, "relay totals");
  });
}

if (isMain(import.meta.url)) runMain(main);
