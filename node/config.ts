/**
 * The node's start configuration, from four layers in this precedence (highest first):
 *
 *   1. command-line flags        --rpc-host, --rpc-port, --log-level, --service-key,
 *                                --p2p-listen ADDR[,ADDR], --bootstrap ADDR[,ADDR], --rpc-rate-limit N|off,
 *                                --rpc-cors ORIGIN[,ORIGIN] (CLOUDCOIN_RPC_CORS), --state-sync,
 *                                --trust-height N --trust-hash HEX (a checkpoint: the block hash at a height)
 *   2. environment variables     CLOUDCOIN_RPC_HOST, CLOUDCOIN_RPC_PORT, CLOUDCOIN_LOG_LEVEL,
 *                                CLOUDCOIN_SERVICE_KEY, CLOUDCOIN_RPC_TOKENS ("tok:sign,admin;tok2:sign"),
 *                                CLOUDCOIN_P2P_LISTEN, CLOUDCOIN_BOOTSTRAP (comma-separated multiaddrs),
 *                                CLOUDCOIN_RPC_RATE_LIMIT (HTTP requests per client IP, and messages per
 *                                WebSocket connection, per minute; or "off"),
 *                                CLOUDCOIN_STATE_CACHE_MIB, CLOUDCOIN_STATE_HISTORY, CLOUDCOIN_TRUST_HEIGHT,
 *                                CLOUDCOIN_TRUST_HASH
 *   3. the file <home>/config.json  {"rpcHost", "rpcPort", "logLevel", "serviceKey",
 *                                    "rpcTokens": [{"token", "permissions": [...]}],
 *                                    "p2pListen": [...], "bootstrap": [...], "rpcRateLimit": N | false,
 *                                    "stateCacheMiB": N, "stateHistory": N, "stateSync": true|false,
 *                                    "trustHeight": N, "trustHash": "<64 hex digits>"}
 *   4. defaults                  127.0.0.1, 8645, info, no service key, no tokens,
 *                                p2p on /ip4/127.0.0.1/tcp/8646, no bootstrap peers, the RPC's default limit,
 *                                the block store's state cache and history defaults (chain/store.ts), no state sync,
 *                                no checkpoint (the genesis set is the one trusted)
 *
 * Every layer is validated; a bad value is refused with the layer that gave it, never ignored. The
 * checkpoint's height and hash come together (from one layer or two), or neither is set.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { CodedError } from "../primitives/errors.ts";
import { PERMISSIONS, type Permission } from "../rpc/table.ts";
import type { RpcToken } from "../rpc/server.ts";

export const DEFAULT_RPC_PORT = 8645;
export const DEFAULT_P2P_LISTEN = "/ip4/127.0.0.1/tcp/8646";

export const ConfigErrorCode = { INVALID: "CONFIG_INVALID" } as const;
export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];
export class ConfigError extends CodedError<ConfigErrorCode> {}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
const multiaddrString = z.string().min(1).max(512).regex(/^\/[^\s]+$/, "a multiaddr such as /ip4/127.0.0.1/tcp/8646");
const permission = z.enum(PERMISSIONS as unknown as [Permission, ...Permission[]]);

const layerSchema = z.strictObject({
  rpcHost: z.string().min(1).max(255).optional(),
  rpcPort: z.int().min(0).max(65535).optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  serviceKey: z.string().min(1).max(64).optional(),
  rpcTokens: z.array(z.strictObject({ token: z.string().min(1), permissions: z.array(permission) })).optional(),
  p2pListen: z.array(multiaddrString).max(16).optional(),
  bootstrap: z.array(multiaddrString.refine((s) => /\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/.test(s), "a bootstrap address must end in /p2p/<peer id>")).max(256).optional(),
  /** HTTP requests per client IP, and messages per WebSocket connection, per minute; false: no limit */
  rpcRateLimit: z.union([z.int().min(1).max(10_000_000), z.literal(false)]).optional(),
  /** Browser origins allowed to call the RPC (CORS), e.g. "https://wallet.example"; "*" for any; empty: none (default). */
  rpcCors: z.array(z.string().regex(/^(\*|https?:\/\/[^\s/,]+)$/, 'an origin is "*" or scheme://host[:port]')).max(64).optional(),
  /** Bound of the block store's cache of state records and tree nodes, MiB (the state itself stays on disk). */
  stateCacheMiB: z.int().min(1).max(1_048_576).optional(),
  /** How many recent heights' state stays readable and provable (state_getAccount at a height). */
  stateHistory: z.int().min(1).max(10_000_000).optional(),
  /** A node with a fresh store fetches a recent state snapshot from its peers instead of replaying every block (p2p/state-sync.ts). */
  stateSync: z.boolean().optional(),
  /**
   * A checkpoint from a source the operator trusts (a block explorer, another operator): the
   * height of a recent block and its hash. State sync traces offers to that block's validator set
   * instead of the genesis set's, and the node refuses any other block at that height.
   */
  trustHeight: z.int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  trustHash: z.string().regex(/^[0-9a-fA-F]{64}$/, "a block hash: 64 hex digits").optional(),
});
type Layer = z.infer<typeof layerSchema>;

export interface StartConfig {
  readonly rpcHost: string;
  readonly rpcPort: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly serviceKey: string | undefined;
  readonly rpcTokens: RpcToken[];
  readonly p2pListen: string[];
  readonly bootstrap: string[];
  /** undefined: the RPC server's default */
  readonly rpcRateLimit: number | false | undefined;
  readonly rpcCors: string[];
  /** undefined: the store's default */
  readonly stateCacheMiB: number | undefined;
  readonly stateHistory: number | undefined;
  readonly stateSync: boolean;
  /** The checkpoint (--trust-height, --trust-hash), if one was given. */
  readonly trust: { readonly height: bigint; readonly hash: string } | undefined;
  /** Where each value came from, for the startup log. */
  readonly sources: Readonly<Record<keyof Layer, "flag" | "env" | "file" | "default">>;
}

export interface StartFlags {
  readonly rpcHost?: string | undefined;
  readonly rpcPort?: string | undefined;
  readonly logLevel?: string | undefined;
  readonly serviceKey?: string | undefined;
  readonly p2pListen?: string | undefined;
  readonly bootstrap?: string | undefined;
  readonly rpcRateLimit?: string | undefined;
  readonly rpcCors?: string | undefined;
  /** --state-sync: true when given (a boolean flag cannot say false) */
  readonly stateSync?: boolean | undefined;
  readonly trustHeight?: string | undefined;
  readonly trustHash?: string | undefined;
}

const list = (s: string | undefined): string[] | undefined => (s === undefined ? undefined : s.split(",").map((x) => x.trim()).filter((x) => x !== ""));
function rateLimit(source: string, s: string | undefined): number | false | undefined {
  if (s === undefined) return undefined;
  if (s === "off") return false;
  if (!/^[0-9]{1,8}$/.test(s)) invalid(source, `"${s}" is not a number of requests per minute or "off"`);
  return Number(s);
}

function invalid(source: string, message: string): never {
  throw new ConfigError(ConfigErrorCode.INVALID, `${source}: ${message}`, { source });
}

function check(source: string, raw: unknown): Layer {
  const r = layerSchema.safeParse(raw);
  if (!r.success) invalid(source, r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "));
  return r.data;
}

function count(source: string, s: string): number {
  if (!/^[0-9]{1,8}$/.test(s)) invalid(source, `"${s}" is not a whole number`);
  return Number(s);
}

function height(source: string, s: string): number {
  if (!/^[0-9]{1,15}$/.test(s) || Number(s) < 1) invalid(source, `"${s}" is not a block height (a whole number from 1)`);
  return Number(s);
}

function port(source: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(s)) invalid(source, `"${s}" is not a port number`);
  return Number(s);
}

/** "tok:sign,admin;tok2:sign" as in CLOUDCOIN_RPC_TOKENS. */
export function parseRpcTokens(spec: string | undefined, source = "CLOUDCOIN_RPC_TOKENS"): RpcToken[] | undefined {
  if (spec === undefined || spec.trim() === "") return undefined;
  return spec
    .split(";")
    .filter((part) => part.trim() !== "")
    .map((part) => {
      const colon = part.indexOf(":");
      const token = (colon < 0 ? part : part.slice(0, colon)).trim();
      if (token === "") invalid(source, 'empty token (expected "token:perm,perm;token2:perm")');
      const perms = colon < 0 ? [] : part.slice(colon + 1).split(",").map((p) => p.trim()).filter((p) => p !== "");
      for (const p of perms) if (!PERMISSIONS.includes(p as Permission)) invalid(source, `unknown permission "${p}" (one of ${PERMISSIONS.join(", ")})`);
      return { token, permissions: perms as Permission[] };
    });
}

/** Reads and parses <home>/config.json; undefined if there is none. */
export async function readConfigFile(home: string): Promise<unknown> {
  const path = join(home, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    invalid(path, `not valid JSON: ${(e as Error).message}`);
  }
}

/** Merges the layers: flags over environment over file over defaults. Pure. */
export function resolveStartConfig(layers: { file?: unknown; env: Readonly<Record<string, string | undefined>>; flags: StartFlags }): StartConfig {
  const file = layers.file === undefined ? {} : check("config.json", layers.file);
  const e = layers.env;
  const env = check("environment", {
    ...(e.CLOUDCOIN_RPC_HOST ? { rpcHost: e.CLOUDCOIN_RPC_HOST } : {}),
    ...(e.CLOUDCOIN_RPC_PORT ? { rpcPort: port("CLOUDCOIN_RPC_PORT", e.CLOUDCOIN_RPC_PORT) } : {}),
    ...(e.CLOUDCOIN_LOG_LEVEL ? { logLevel: e.CLOUDCOIN_LOG_LEVEL } : {}),
    ...(e.CLOUDCOIN_SERVICE_KEY ? { serviceKey: e.CLOUDCOIN_SERVICE_KEY } : {}),
    ...(e.CLOUDCOIN_RPC_TOKENS ? { rpcTokens: parseRpcTokens(e.CLOUDCOIN_RPC_TOKENS) } : {}),
    ...(e.CLOUDCOIN_P2P_LISTEN ? { p2pListen: list(e.CLOUDCOIN_P2P_LISTEN) } : {}),
    ...(e.CLOUDCOIN_BOOTSTRAP !== undefined ? { bootstrap: list(e.CLOUDCOIN_BOOTSTRAP) } : {}),
    ...(e.CLOUDCOIN_RPC_RATE_LIMIT ? { rpcRateLimit: rateLimit("CLOUDCOIN_RPC_RATE_LIMIT", e.CLOUDCOIN_RPC_RATE_LIMIT) } : {}),
    ...(e.CLOUDCOIN_RPC_CORS !== undefined ? { rpcCors: list(e.CLOUDCOIN_RPC_CORS) } : {}),
    ...(e.CLOUDCOIN_STATE_CACHE_MIB ? { stateCacheMiB: count("CLOUDCOIN_STATE_CACHE_MIB", e.CLOUDCOIN_STATE_CACHE_MIB) } : {}),
    ...(e.CLOUDCOIN_STATE_HISTORY ? { stateHistory: count("CLOUDCOIN_STATE_HISTORY", e.CLOUDCOIN_STATE_HISTORY) } : {}),
    ...(e.CLOUDCOIN_TRUST_HEIGHT ? { trustHeight: height("CLOUDCOIN_TRUST_HEIGHT", e.CLOUDCOIN_TRUST_HEIGHT) } : {}),
    ...(e.CLOUDCOIN_TRUST_HASH ? { trustHash: e.CLOUDCOIN_TRUST_HASH } : {}),
  });
  const f = layers.flags;
  const flags = check("flags", {
    ...(f.rpcHost !== undefined ? { rpcHost: f.rpcHost } : {}),
    ...(f.rpcPort !== undefined ? { rpcPort: port("--rpc-port", f.rpcPort) } : {}),
    ...(f.logLevel !== undefined ? { logLevel: f.logLevel } : {}),
    ...(f.serviceKey !== undefined ? { serviceKey: f.serviceKey } : {}),
    ...(f.p2pListen !== undefined ? { p2pListen: list(f.p2pListen) } : {}),
    ...(f.bootstrap !== undefined ? { bootstrap: list(f.bootstrap) } : {}),
    ...(f.rpcRateLimit !== undefined ? { rpcRateLimit: rateLimit("--rpc-rate-limit", f.rpcRateLimit) } : {}),
    ...(f.rpcCors !== undefined ? { rpcCors: list(f.rpcCors) } : {}),
    ...(f.stateSync === true ? { stateSync: true } : {}),
    ...(f.trustHeight !== undefined ? { trustHeight: height("--trust-height", f.trustHeight) } : {}),
    ...(f.trustHash !== undefined ? { trustHash: f.trustHash } : {}),
  });
  const pick = <K extends keyof Layer>(k: K, fallback: Layer[K]): [Layer[K], "flag" | "env" | "file" | "default"] =>
    flags[k] !== undefined ? [flags[k], "flag"] : env[k] !== undefined ? [env[k], "env"] : file[k] !== undefined ? [file[k], "file"] : [fallback, "default"];
  const [rpcHost, sHost] = pick("rpcHost", "127.0.0.1");
  const [rpcPort, sPort] = pick("rpcPort", DEFAULT_RPC_PORT);
  const [logLevel, sLog] = pick("logLevel", "info");
  const [serviceKey, sKey] = pick("serviceKey", undefined);
  const [rpcTokens, sTok] = pick("rpcTokens", []);
  const [p2pListen, sListen] = pick("p2pListen", [DEFAULT_P2P_LISTEN]);
  const [bootstrap, sBoot] = pick("bootstrap", []);
  const [rpcRateLimit, sRate] = pick("rpcRateLimit", undefined);
  const [rpcCors, sCors] = pick("rpcCors", []);
  const [stateCacheMiB, sCache] = pick("stateCacheMiB", undefined);
  const [stateHistory, sHistory] = pick("stateHistory", undefined);
  const [stateSync, sStateSync] = pick("stateSync", false);
  const [trustHeight, sTrustHeight] = pick("trustHeight", undefined);
  const [trustHash, sTrustHash] = pick("trustHash", undefined);
  if ((trustHeight === undefined) !== (trustHash === undefined)) {
    invalid(trustHeight === undefined ? `trustHash (${sTrustHash})` : `trustHeight (${sTrustHeight})`, "a checkpoint needs both its height and its block hash (--trust-height and --trust-hash)");
  }
  return {
    rpcHost: rpcHost!,
    rpcPort: rpcPort!,
    logLevel: logLevel!,
    serviceKey,
    rpcTokens: rpcTokens ?? [],
    p2pListen: p2pListen ?? [DEFAULT_P2P_LISTEN],
    bootstrap: bootstrap ?? [],
    rpcRateLimit,
    rpcCors: rpcCors ?? [],
    stateCacheMiB,
    stateHistory,
    stateSync: stateSync === true,
    trust: trustHeight !== undefined && trustHash !== undefined ? { height: BigInt(trustHeight), hash: trustHash.toLowerCase() } : undefined,
    sources: { rpcHost: sHost, rpcPort: sPort, logLevel: sLog, serviceKey: sKey, rpcTokens: sTok, p2pListen: sListen, bootstrap: sBoot, rpcRateLimit: sRate, rpcCors: sCors, stateCacheMiB: sCache, stateHistory: sHistory, stateSync: sStateSync, trustHeight: sTrustHeight, trustHash: sTrustHash },
  };
}
