/**
 * The `cloudcoin` command line: its commands and `main`, which runs one and returns the exit code
 * (node/cli.ts is the executable entry; tests call `main` in process).
 *
 *   cloudcoin start                       run a node (the embedded devnet unless <home>/genesis.json exists)
 *   cloudcoin init --validators N --out DIR
 *   cloudcoin keys new NAME | keys show NAME
 *   cloudcoin tx transfer --from NAME --to ADDRESS --amount CLC
 *   cloudcoin balance ADDRESS|NAME
 *   cloudcoin status
 *   cloudcoin paych open|fund|voucher|redeem|close|withdraw|list ...   payment channels (docs/protocol.md section 8)
 *   cloudcoin provider register|exit|show ...       storage providers and bandwidth relays (docs/protocol.md section 5)
 *   cloudcoin storage root FILE | storage deal ID    a file's deal root; a deal on chain
 *   cloudcoin storage order FILE ... | storage orders [--client ADDRESS|NAME]   storage orders (the network places them)
 *
 * `start` takes --service-key NAME (the key the node signs paych_redeem with) and reads RPC bearer
 * tokens from CLOUDCOIN_RPC_TOKENS ("token:sign,admin;token2:sign"). Client commands send
 * --token (or CLOUDCOIN_RPC_TOKEN) as a bearer token.
 *
 * Transaction commands sign locally with a key from the keyring and send through JSON-RPC.
 */
import "../modules/index.ts";
import { createReadStream, statSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { formatClc, parseClc } from "../primitives/amount.ts";
import { fromHex, toHex } from "../primitives/bytes.ts";
import { CodedError } from "../primitives/errors.ts";
import { fromAddress, generateKeyPair, isAddress, toAddress, type KeyPair } from "../primitives/keys.ts";
import { channelId, decodeVoucher, encodeVoucher, signVoucher } from "../modules/paych/paych.ts";
import { signTx, type Operation } from "../chain/tx.ts";
import { validateAndComplete, type GenesisFile } from "../genesis/schema.ts";
import { devnetGenesisFile } from "../genesis/devnet.ts";
import { RpcClient, type ResultOf } from "../rpc/client.ts";
import { Keyring, keyFileJson, type PassphraseSource } from "./keyring.ts";
import { keyFromMnemonic, newMnemonic } from "../primitives/mnemonic.ts";
import { defaultHome, NODE_VERSION } from "./home.ts";
import { LOG_FORMATS, type LogFormat } from "../common/logging.ts";
import { negativeNumbersAsValues } from "../common/args.ts";
import { DEFAULT_RPC_PORT, readConfigFile, resolveStartConfig } from "./config.ts";
import { ChunkedRootBuilder } from "../proofs/storage.ts";
import { ProviderKind } from "../modules/storage/storage.ts";

const COMMON = {
  home: { type: "string", default: defaultHome() },
  rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? `http://127.0.0.1:${DEFAULT_RPC_PORT}/` },
  token: { type: "string", default: process.env.CLOUDCOIN_RPC_TOKEN ?? "" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  /** The passphrase of encrypted key files: its first line (else CLOUDCOIN_PASSPHRASE, else a prompt on a terminal). */
  "passphrase-file": { type: "string" },
} as const;

/** Reads a passphrase without echoing it, from the terminal. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const write = (rl as unknown as { _writeToOutput?: (s: string) => void });
    process.stderr.write(question);
    write._writeToOutput = () => undefined;
    rl.question("", (answer) => {
      rl.close();
      process.stderr.write("\n");
      resolve(answer);
    });
  });
}

/** The first line of standard input (a mnemonic piped in or typed, not left in the shell history). */
async function firstLineOfStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("mnemonic (24 words): ");
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return "";
}

/** Where key passphrases come from: --passphrase-file, CLOUDCOIN_PASSPHRASE, or a prompt on a terminal. */
function passphraseSource(v: Record<string, string | boolean | undefined>): PassphraseSource {
  let cached: string | undefined;
  return async (why) => {
    if (typeof v["passphrase-file"] === "string") return (cached ??= (await readFile(v["passphrase-file"], "utf8")).split(/\r?\n/)[0]!);
    if (process.env.CLOUDCOIN_PASSPHRASE !== undefined) return process.env.CLOUDCOIN_PASSPHRASE;
    if (process.stdin.isTTY) return promptHidden(`${why}: `);
    return undefined;
  };
}

const keyring = (v: Record<string, string | boolean | undefined>): Keyring => new Keyring(str(v.home, "home"), { passphrase: passphraseSource(v) });

export interface Command {
  usage: string;
  summary: string;
  options: ParseArgsConfig["options"];
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<void>;
}

class UsageError extends Error {}

let jsonOutput = false;
function out(human: string, json: unknown): void {
  console.log(jsonOutput ? JSON.stringify(json, null, 2) : human);
}

const str = (v: unknown, name: string): string => {
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
  return v;
};

/** The RPC client of a client command: --rpc URL, and --token / CLOUDCOIN_RPC_TOKEN as a bearer token. */
function rpcClient(v: Record<string, string | boolean | undefined>): RpcClient {
  const token = typeof v.token === "string" && v.token !== "" ? v.token : undefined;
  return new RpcClient({ url: str(v.rpc, "rpc"), ...(token ? { token } : {}) });
}

/** CLOUDCOIN_RPC_TOKENS: "token:sign,admin;token2:sign" (whitespace around parts ignored). */
/**
 * An address, or the name of a key in the keyring. Anything that looks like an address (a
 * bech32 string with a "1" separator, or starting with "cc") is decoded as one, so a mistyped
 * address fails with the checksum or prefix problem instead of being looked up as a key name.
 */
async function resolveAddress(ring: Keyring, who: string): Promise<Uint8Array> {
  if (isAddress(who)) return fromAddress(who);
  if (/^[a-z]{1,83}1[02-9ac-hj-np-z]{6,}$/i.test(who) || /^cc1/i.test(who)) return fromAddress(who); // throws BAD_ADDRESS with the reason
  return (await ring.load(who)).publicKey;
}

const channelArg = (v: unknown): Uint8Array => {
  const c = str(v, "channel");
  if (!/^[0-9a-fA-F]{64}$/.test(c)) throw new UsageError("--channel must be 32 bytes of hex");
  return fromHex(c);
};

/** Signs `op` with `key` at the account's next nonce, sends it, and (unless noWait) waits for finality. */
async function sendOp(client: RpcClient, key: KeyPair, op: Operation, feeArg: unknown, noWait: boolean): Promise<{ hash: string; nonce: bigint; result: ResultOf<"tx_get"> | null }> {
  const [status, account] = await Promise.all([client.call("node_status", {}), client.call("state_getAccount", { address: toAddress(key.publicKey) })]);
  // the fee is in CLC like every amount on the command line; the default is the devnet minimum, 0.000001 CLC
  const fee = typeof feeArg === "string" && feeArg !== "" ? parseClc(feeArg) : 1000n;
  const nonce = BigInt(account.nonce);
  const tx = signTx({ chainId: status.chainId, nonce, fee, op }, key);
  const { hash } = await client.call("tx_send", { tx: toHex(tx.bytes) });
  if (noWait) return { hash, nonce, result: null };
  for (let i = 0; i < 120; i++) {
    const r = await client.call("tx_get", { hash });
    if (r.status === "finalized") return { hash, nonce, result: r };
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new CodedError("TX_NOT_FINALIZED", `transaction ${hash} not finalized within 30 s`);
}

/** Set when a command's transaction failed in its block: the command then exits 1. */
let failedReceipt = false;

function txOut(sent: { hash: string; result: ResultOf<"tx_get"> | null }, extra: Record<string, unknown> = {}): void {
  const r = sent.result;
  const more = Object.entries(extra).map(([k, x]) => `, ${k} ${String(x)}`).join("");
  if (!r) return out(`sent ${sent.hash}${more}`, { hash: sent.hash, status: "pending", ...extra });
  out(`finalized ${sent.hash} in block ${r.height}: ${r.receipt?.ok ? "ok" : `failed (${r.receipt?.code})`}${more}`, { ...r, ...extra });
  if (r.receipt && !r.receipt.ok) {
    failedReceipt = true;
    // the error line every failure prints (stderr, JSON with --json): the code and what it means for the sender
    const message = `transaction ${sent.hash} failed in block ${r.height} with ${r.receipt.code}: its fee was paid and its operation changed nothing`;
    console.error(jsonOutput ? JSON.stringify({ error: { code: r.receipt.code, message } }) : `error [${r.receipt.code}]: ${message}`);
  }
}

/** A file's deal root (read as a stream, with a progress line on a terminal), as `storage root` and `storage order` compute it. */
async function storageRoot(file: string, chunkSizeArg: unknown): Promise<{ d: { root: Uint8Array; size: bigint; chunkCount: bigint }; chunkSize: number }> {
  const chunkSize = Number(chunkSizeArg);
  let builder: ChunkedRootBuilder;
  try {
    builder = new ChunkedRootBuilder(chunkSize);
  } catch {
    throw new UsageError("--chunk-size must be a power of two from 256 to 65536");
  }
  // a progress line on a terminal (stderr) every half second: bytes read, rate, time left
  const total = statSync(file).size;
  const started = Date.now();
  let shown = 0;
  const progress = process.stderr.isTTY && !jsonOutput;
  for await (const piece of createReadStream(file, { highWaterMark: 1 << 20 })) {
    builder.update(piece as Buffer);
    const now = Date.now();
    if (progress && now - shown >= 500) {
      shown = now;
      const done = Number(builder.size);
      const rate = done / Math.max(0.001, (now - started) / 1000);
      process.stderr.write(`\r${(done / 2 ** 20).toFixed(0)} of ${(total / 2 ** 20).toFixed(0)} MiB, ${(rate / 2 ** 20).toFixed(0)} MiB/s, ${Math.ceil((total - done) / rate)} s left   `);
    }
  }
  if (progress && shown > 0) process.stderr.write("\r\x1b[K");
  if (builder.size === 0n) throw new CodedError("EMPTY_FILE", `${file} is empty: a deal needs at least one byte`);
  return { d: builder.digest(), chunkSize };
}

/** One line of a storage order. */
function orderLine(o: NonNullable<ResultOf<"storage_getOrder">>): string {
  return `order ${o.id} (${o.status}): ${o.client}, ${o.size} bytes, root ${o.root}; ${o.accepted}/${o.replicas} replicas accepted, ${o.pending} pending; ` +
    `${formatClc(BigInt(o.pricePerEpoch))} CLC per replica-epoch for ${o.durationEpochs} epochs, escrow held ${formatClc(BigInt(o.escrow))} CLC, ` +
    `placement bond ${formatClc(BigInt(o.bond))} CLC (${formatClc(BigInt(o.burned))} CLC burned by declines); ` +
    `placed from epoch ${o.firstPlacementEpoch}, closes after epoch ${o.closeEpoch}`;
}

export const commands: Record<string, Command> = {
  start: {
    usage:
      "cloudcoin start [--home DIR] [--rpc-host HOST] [--rpc-port PORT] [--log-level LEVEL] [--log-format json|pretty] [--service-key NAME] " +
      "[--p2p-listen MULTIADDR,...] [--bootstrap MULTIADDR/p2p/ID,...] [--rpc-rate-limit N|off] [--rpc-cors ORIGIN,...] [--resync] [--state-sync] [--trust-height N --trust-hash HEX]",
    summary:
      "Run a node. Without <home>/genesis.json it runs the embedded single-validator devnet. " +
      "Settings come from flags, then CLOUDCOIN_* environment variables, then <home>/config.json, then defaults " +
      "(see node/config.ts); --service-key NAME: the keyring key that signs paych_redeem; " +
      "CLOUDCOIN_RPC_TOKENS=\"token:sign,admin;t2:sign\" sets the RPC bearer tokens. " +
      "--p2p-listen: libp2p listen addresses (default /ip4/127.0.0.1/tcp/8646); --bootstrap: peers to stay connected to; " +
      "--rpc-rate-limit: RPC requests per client IP per minute, or off; " +
      "--resync: a damaged block store is cut back to its last good height (an unreadable one moved aside) and the rest synced from peers, instead of refusing to start; " +
      "--state-sync: a node with a fresh data directory fetches a recent state snapshot from its peers (verified against a committed header) " +
      "and syncs only the blocks after it, instead of replaying every block from genesis (also \"stateSync\": true in config.json); " +
      "--trust-height N --trust-hash HEX: a checkpoint, the hash of block N from a source you trust: state sync traces its snapshot to that block's validators " +
      "instead of the genesis set's (a snapshot below N is refused), and the node refuses any other block at height N.",
    options: {
      resync: { type: "boolean" },
      "state-sync": { type: "boolean" },
      "trust-height": { type: "string" },
      "trust-hash": { type: "string" },
      home: COMMON.home, "passphrase-file": COMMON["passphrase-file"],
      "service-key": { type: "string" },
      "rpc-host": { type: "string" },
      "rpc-port": { type: "string" },
      "log-level": { type: "string" },
      "log-format": { type: "string" },
      "p2p-listen": { type: "string" },
      bootstrap: { type: "string" },
      "rpc-cors": { type: "string" },
      "rpc-rate-limit": { type: "string" },
      help: COMMON.help,
    },
    async run(v) {
      const home = str(v.home, "home");
      const flag = (k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined);
      const config = resolveStartConfig({
        file: await readConfigFile(home),
        env: process.env,
        flags: {
          rpcHost: flag("rpc-host"), rpcPort: flag("rpc-port"), logLevel: flag("log-level"), serviceKey: flag("service-key"),
          p2pListen: flag("p2p-listen"), bootstrap: flag("bootstrap"), rpcRateLimit: flag("rpc-rate-limit"), rpcCors: flag("rpc-cors"),
          stateSync: v["state-sync"] === true, trustHeight: flag("trust-height"), trustHash: flag("trust-hash"),
        },
      });
      const serviceKey = config.serviceKey !== undefined ? await new Keyring(home, { passphrase: passphraseSource(v) }).load(config.serviceKey) : undefined;
      const logFormat = v["log-format"];
      if (logFormat !== undefined && !LOG_FORMATS.includes(logFormat as LogFormat)) throw new UsageError("--log-format must be json or pretty");
      const { CloudcoinNode } = await import("./node.ts");
      const node = await CloudcoinNode.start({
        ...(logFormat !== undefined ? { logFormat: logFormat as LogFormat } : {}),
        passphrase: passphraseSource(v),
        home, rpcHost: config.rpcHost, rpcPort: config.rpcPort, logLevel: config.logLevel, rpcCheckResults: process.env.CLOUDCOIN_RPC_CHECK_RESULTS === "1",
        rpcTokens: config.rpcTokens, ...(serviceKey ? { serviceKey } : {}),
        p2pListen: config.p2pListen, bootstrap: config.bootstrap, rpcCors: config.rpcCors, resync: v.resync === true, stateSync: config.stateSync,
        ...(config.trust !== undefined ? { trust: { height: config.trust.height, hash: fromHex(config.trust.hash) } } : {}),
        ...(config.stateCacheMiB !== undefined ? { stateCacheBytes: config.stateCacheMiB * 1024 * 1024 } : {}),
        ...(config.stateHistory !== undefined ? { stateHistory: config.stateHistory } : {}),
        ...(config.rpcRateLimit !== undefined ? { rpcRateLimit: config.rpcRateLimit === false ? false : { max: config.rpcRateLimit, timeWindowMs: 60_000 } } : {}),
      });
      node.log.info({ sources: config.sources }, "configuration");
      if (serviceKey) node.log.info({ address: toAddress(serviceKey.publicKey) }, "service key loaded (signs paych_redeem)");
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        node.log.info({ signal }, "shutting down");
        node.stop().then(
          () => process.exit(0),
          (e) => {
            node.log.error({ err: e }, "error while stopping");
            process.exit(1);
          },
        );
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    },
  },

  init: {
    usage: "cloudcoin init --validators N --out DIR [--nodes K] [--chain-id ID] [--rpc-base-port P] [--p2p-base-port P] [--params JSON]",
    summary:
      "Write a genesis and fresh keys for a local network: DIR/genesis.json, DIR/node<i>/ homes (validators, then K full nodes), " +
      "DIR/keys/faucet.json. Each home gets a peer key (p2p.key) and a config.json: RPC on 127.0.0.1:<rpc-base-port + i> (default base 8745, clear of a quick-start node on 8645), " +
      "libp2p on 127.0.0.1:<p2p-base-port + i>, every validator as a bootstrap peer. --params overrides chain parameters.",
    options: {
      validators: { type: "string", default: "1" }, nodes: { type: "string", default: "0" }, out: { type: "string" },
      "chain-id": { type: "string", default: "cloudcoin-local-1" }, "rpc-base-port": { type: "string", default: String(DEFAULT_RPC_PORT + 100) },
      "p2p-base-port": { type: "string", default: "26656" }, params: { type: "string" }, json: COMMON.json, help: COMMON.help,
    },
    async run(v) {
      const n = Number(v.validators);
      if (!Number.isInteger(n) || n < 1 || n > 100) throw new UsageError("--validators must be 1-100");
      const full = Number(v.nodes);
      if (!Number.isInteger(full) || full < 0 || full > 100) throw new UsageError("--nodes must be 0-100");
      const rpcBase = Number(v["rpc-base-port"]);
      const p2pBase = Number(v["p2p-base-port"]);
      for (const [name, base] of [["rpc-base-port", rpcBase], ["p2p-base-port", p2pBase]] as const) {
        if (!Number.isInteger(base) || base < 1024 || base + n + full > 65535) throw new UsageError(`--${name} must leave room for ${n + full} ports below 65536`);
      }
      let paramOverrides: Record<string, unknown> = {};
      if (typeof v.params === "string") {
        try {
          paramOverrides = JSON.parse(v.params) as Record<string, unknown>;
        } catch {
          throw new UsageError("--params must be a JSON object");
        }
      }
      const dir = str(v.out, "out");
      const validators = Array.from({ length: n }, () => generateKeyPair());
      const faucet = generateKeyPair();
      const base = devnetGenesisFile();
      const file: GenesisFile = {
        chainId: str(v["chain-id"], "chain-id"),
        genesisTime: new Date().toISOString(),
        validators: validators.map((k, i) => ({ name: `validator-${i}`, address: toAddress(k.publicKey), power: "1000000000000000" })),
        balances: [{ address: toAddress(faucet.publicKey), amount: "1000000000000000000" }, ...validators.map((k) => ({ address: toAddress(k.publicKey), amount: "1000000000000000" }))],
        params: { ...base.params, ...paramOverrides } as GenesisFile["params"],
      };
      const genesis = validateAndComplete(file); // the file we write is one the node accepts
      await mkdir(join(dir, "keys"), { recursive: true, mode: 0o700 });
      const text = JSON.stringify(file, null, 2) + "\n";
      await writeFile(join(dir, "genesis.json"), text, { flag: "wx" });
      await writeFile(join(dir, "keys", "faucet.json"), keyFileJson("faucet", faucet), { mode: 0o600, flag: "wx" });
      const homes: { home: string; rpc: string; p2p: string; validator: string | null }[] = [];
      for (let i = 0; i < n + full; i++) {
        const home = join(dir, `node${i}`);
        await mkdir(home, { recursive: true, mode: 0o700 });
        await writeFile(join(home, "genesis.json"), text, { flag: "wx" });
        const k = validators[i];
        if (k) await writeFile(join(home, "validator.key.json"), keyFileJson(`validator-${i}`, k), { mode: 0o600, flag: "wx" });
        const { writeNewPeerKey } = await import("../p2p/peer-key.ts");
        const peerId = await writeNewPeerKey(join(home, "p2p.key"));
        homes.push({ home, rpc: `http://127.0.0.1:${rpcBase + i}/`, p2p: `/ip4/127.0.0.1/tcp/${p2pBase + i}/p2p/${peerId}`, validator: k ? toAddress(k.publicKey) : null });
      }
      const validatorAddrs = homes.slice(0, n).map((h) => h.p2p);
      for (const [i, h] of homes.entries()) {
        const config = { rpcPort: rpcBase + i, p2pListen: [`/ip4/127.0.0.1/tcp/${p2pBase + i}`], bootstrap: validatorAddrs.filter((a) => a !== h.p2p) };
        await writeFile(join(h.home, "config.json"), JSON.stringify(config, null, 2) + "\n", { flag: "wx" });
      }
      out(
        `wrote ${dir}/genesis.json (chain ${genesis.chainId}, genesis ${toHex(genesis.hash)}), ${n} validator and ${full} full node home(s) ${dir}/node0..${n + full - 1}, faucet key ${dir}/keys/faucet.json (${toAddress(faucet.publicKey)})`,
        { chainId: genesis.chainId, genesisHash: toHex(genesis.hash), homes: homes.map((h) => h.home), nodes: homes, faucet: toAddress(faucet.publicKey) },
      );
    },
  },

  keys: {
    usage:
      "cloudcoin keys new NAME [--mnemonic] | show NAME | list | export NAME | import NAME (--seed HEX | --file KEYFILE | --mnemonic)   [--home DIR] [--passphrase-file FILE]",
    summary:
      "Keys in <home>/keys: create, show, list, export (the file as stored) or import one. With a passphrase (--passphrase-file, CLOUDCOIN_PASSPHRASE, " +
      "or the prompt on a terminal) a key file is encrypted (scrypt + AES-256-GCM). --mnemonic: new prints 24 BIP-39 words that recreate the key " +
      "(SLIP-0010 m/44'/8645'/0'/0'/0'); import reads them from CLOUDCOIN_MNEMONIC or the first line of standard input (never the command line). 'devnet-faucet' is the devnet's funded (INSECURE) key.",
    options: { home: COMMON.home, "passphrase-file": COMMON["passphrase-file"], seed: { type: "string" }, file: { type: "string" }, mnemonic: { type: "boolean", default: false }, json: COMMON.json, help: COMMON.help },
    async run(v, pos) {
      const [sub, name] = pos;
      const ring = keyring(v);
      if (sub === "list") {
        const keys = await ring.list();
        return out(keys.length === 0 ? `no keys in ${ring.dir}` : keys.map((k) => `${k.name.padEnd(20)} ${k.address}${k.encrypted ? "  (encrypted)" : ""}`).join("\n"), { keys });
      }
      if (!name || !["new", "show", "export", "import"].includes(sub ?? "")) throw new UsageError("expected: keys new|show|export|import NAME, or keys list");
      if (sub === "export") return void process.stdout.write(await ring.export(name));
      let key: KeyPair;
      let words: string | undefined;
      if (sub === "import") {
        const given = [typeof v.seed === "string", typeof v.file === "string", v.mnemonic === true].filter(Boolean).length;
        if (given !== 1) throw new UsageError("give exactly one of --seed HEX, --file KEYFILE and --mnemonic");
        if (typeof v.seed === "string" && !/^[0-9a-fA-F]{64}$/.test(v.seed)) throw new UsageError("--seed must be 32 bytes of hex");
        const source = typeof v.seed === "string" ? { seed: fromHex(v.seed) }
          : v.mnemonic === true ? { seed: keyFromMnemonic(process.env.CLOUDCOIN_MNEMONIC ?? (await firstLineOfStdin())).seed }
          : { fileText: await readFile(v.file as string, "utf8") };
        key = await ring.import(name, source);
      } else if (sub === "new" && v.mnemonic === true) {
        words = newMnemonic();
        key = await ring.import(name, { seed: keyFromMnemonic(words).seed });
      } else key = sub === "new" ? await ring.create(name) : await ring.load(name);
      const saved = sub === "new" || sub === "import";
      const human = `${name}: ${toAddress(key.publicKey)}${saved ? `  (saved in ${ring.dir})` : ""}` +
        (words ? `\n\nWrite these 24 words down and keep them offline: they recreate this key (cloudcoin keys import NAME --mnemonic "...").\n\n  ${words}\n` : "");
      out(human, { name, address: toAddress(key.publicKey), publicKey: toHex(key.publicKey), ...(words ? { mnemonic: words } : {}) });
    },
  },

  tx: {
    usage:
      "cloudcoin tx <transfer|stake|unstake|register-validator|unjail> --from NAME [--to ADDRESS] [--amount CLC] [--name NAME] [--fee CLC] [--no-wait] [--rpc URL] [--home DIR]",
    summary:
      "Sign a transaction locally and send it; waits until it is finalized unless --no-wait. " +
      "transfer --to --amount; stake --amount; unstake --amount; register-validator --name; unjail.",
    options: {
      home: COMMON.home, "passphrase-file": COMMON["passphrase-file"], rpc: COMMON.rpc, token: COMMON.token, json: COMMON.json, help: COMMON.help,
      from: { type: "string" }, to: { type: "string" }, amount: { type: "string" }, fee: { type: "string" }, name: { type: "string" },
      "no-wait": { type: "boolean", default: false },
    },
    async run(v, pos) {
      const ring = keyring(v);
      const key = await ring.load(str(v.from, "from"));
      let op: Operation;
      switch (pos[0]) {
        case "transfer": {
          const toArg = str(v.to, "to");
          const to = await resolveAddress(ring, toArg);
          op = { type: "transfer", to, amount: parseClc(str(v.amount, "amount")) };
          break;
        }
        case "stake":
          op = { type: "stake", amount: parseClc(str(v.amount, "amount")) };
          break;
        case "unstake":
          op = { type: "unstake", amount: parseClc(str(v.amount, "amount")) };
          break;
        case "register-validator":
          op = { type: "validator.register", name: str(v.name, "name") };
          break;
        case "unjail":
          op = { type: "validator.unjail" };
          break;
        default:
          throw new UsageError("expected: tx transfer|stake|unstake|register-validator|unjail ...");
      }
      txOut(await sendOp(rpcClient(v), key, op, v.fee, v["no-wait"] === true));
    },
  },

  paych: {
    usage: [
      "cloudcoin paych open --from NAME --to ADDRESS|NAME --deposit CLC [--settle-delay BLOCKS]",
      "cloudcoin paych fund --from NAME --channel HEX --amount CLC",
      "cloudcoin paych voucher --from NAME --channel HEX --amount CLC --nonce N [--chain-id ID]   (prints the voucher hex; signed locally)",
      "cloudcoin paych redeem --from NAME --voucher HEX     (the payee redeems a voucher it holds)",
      "cloudcoin paych redeem --channel HEX --token TOKEN   (the node redeems the best submitted voucher with its service key)",
      "cloudcoin paych close --from NAME --channel HEX | paych withdraw --from NAME --channel HEX",
      "cloudcoin paych list --payer ADDRESS|NAME | --payee ADDRESS|NAME [--cursor HEX] [--limit N]",
      "  common: [--fee CLC] [--no-wait] [--rpc URL] [--token TOKEN] [--home DIR] [--json]",
    ].join("\n       "),
    summary: "Payment channels: open, fund, sign vouchers, redeem, close, withdraw, list.",
    options: {
      home: COMMON.home, "passphrase-file": COMMON["passphrase-file"], rpc: COMMON.rpc, token: COMMON.token, json: COMMON.json, help: COMMON.help,
      from: { type: "string" }, to: { type: "string" }, deposit: { type: "string" }, "settle-delay": { type: "string", default: "100" },
      channel: { type: "string" }, amount: { type: "string" }, nonce: { type: "string" }, voucher: { type: "string" }, "chain-id": { type: "string" },
      payer: { type: "string" }, payee: { type: "string" }, cursor: { type: "string" }, limit: { type: "string" },
      fee: { type: "string" }, "no-wait": { type: "boolean", default: false },
    },
    async run(v, pos) {
      const ring = keyring(v);
      const noWait = v["no-wait"] === true;
      const sub = pos[0];
      switch (sub) {
        case "open": {
          const key = await ring.load(str(v.from, "from"));
          const payee = await resolveAddress(ring, str(v.to, "to"));
          const delayText = str(v["settle-delay"], "settle-delay");
          if (!/^(0|[1-9][0-9]{0,18})$/.test(delayText)) throw new UsageError("--settle-delay must be a number of blocks");
          const settleDelay = BigInt(delayText);
          const client = rpcClient(v);
          const sent = await sendOp(client, key, { type: "paych.open", payee, deposit: parseClc(str(v.deposit, "deposit")), settleDelay }, v.fee, noWait);
          // The channel id is H(PAYCH, [payer, nonce of the opening tx]) (chain/paych.ts).
          return txOut(sent, { channel: toHex(channelId(key.publicKey, sent.nonce)) });
        }
        case "fund": {
          const key = await ring.load(str(v.from, "from"));
          return txOut(await sendOp(rpcClient(v), key, { type: "paych.fund", channel: channelArg(v.channel), amount: parseClc(str(v.amount, "amount")) }, v.fee, noWait));
        }
        case "voucher": {
          const key = await ring.load(str(v.from, "from"));
          const nonceText = str(v.nonce, "nonce");
          if (!/^(0|[1-9][0-9]{0,19})$/.test(nonceText)) throw new UsageError("--nonce must be a non-negative integer");
          const chainId = typeof v["chain-id"] === "string" && v["chain-id"] !== "" ? v["chain-id"] : (await rpcClient(v).call("node_status", {})).chainId;
          const channel = channelArg(v.channel);
          const amount = parseClc(str(v.amount, "amount"));
          const voucher = toHex(encodeVoucher(signVoucher(chainId, key, { channel, amount, nonce: BigInt(nonceText) })));
          return out(voucher, { voucher, channel: toHex(channel), amount: amount.toString(), nonce: nonceText, chainId });
        }
        case "redeem": {
          if (typeof v.voucher === "string" && v.voucher !== "") {
            const key = await ring.load(str(v.from, "from"));
            if (!/^([0-9a-fA-F]{2})+$/.test(v.voucher)) throw new UsageError("--voucher must be hex");
            return txOut(await sendOp(rpcClient(v), key, { type: "paych.redeem", voucher: decodeVoucher(fromHex(v.voucher)) }, v.fee, noWait));
          }
          const client = rpcClient(v);
          const { hash } = await client.call("paych_redeem", { channel: toHex(channelArg(v.channel)) });
          if (noWait) return out(`sent ${hash}`, { hash, status: "pending" });
          for (let i = 0; i < 120; i++) {
            const r = await client.call("tx_get", { hash });
            if (r.status === "finalized") return txOut({ hash, result: r });
            await new Promise((res) => setTimeout(res, 250));
          }
          throw new CodedError("TX_NOT_FINALIZED", `transaction ${hash} not finalized within 30 s`);
        }
        case "close":
        case "withdraw": {
          const key = await ring.load(str(v.from, "from"));
          const channel = channelArg(v.channel);
          const op: Operation = sub === "close" ? { type: "paych.close", channel } : { type: "paych.withdraw", channel };
          return txOut(await sendOp(rpcClient(v), key, op, v.fee, noWait));
        }
        case "list": {
          if ((typeof v.payer === "string") === (typeof v.payee === "string")) throw new UsageError("give exactly one of --payer and --payee");
          const params: { payer?: string; payee?: string; cursor?: string; limit?: number } = {};
          if (typeof v.payer === "string") params.payer = toAddress(await resolveAddress(ring, v.payer));
          if (typeof v.payee === "string") params.payee = toAddress(await resolveAddress(ring, v.payee));
          if (typeof v.cursor === "string") params.cursor = v.cursor;
          if (typeof v.limit === "string") params.limit = Number(v.limit);
          const r = await rpcClient(v).call("paych_list", params);
          const human =
            r.channels.length === 0
              ? "no channels"
              : r.channels
                  .map((c) => `${c.id} ${c.state}: ${formatClc(BigInt(c.redeemed))} of ${formatClc(BigInt(c.deposit))} CLC redeemed, ${formatClc(BigInt(c.remaining))} CLC left; ` +
                    `${c.payer} -> ${c.payee}; settle delay ${c.settleDelay} blocks${c.closingAt ? `, withdraw from height ${c.closingAt}` : ""}` +
                    `${c.bestVoucher ? `; best voucher ${formatClc(BigInt(c.bestVoucher.amount))} CLC (nonce ${c.bestVoucher.nonce})` : ""}`)
                  .join("\n");
          return out(human + (r.nextCursor ? `\nnext: --cursor ${r.nextCursor}` : ""), r);
        }
        default:
          throw new UsageError("expected: paych open|fund|voucher|redeem|close|withdraw|list ...");
      }
    },
  },

  provider: {
    usage: [
      "cloudcoin provider register --from NAME --kind storage|bandwidth --collateral CLC --capacity BYTES (a relay: BYTES per second) --multiaddr ADDR",
      "cloudcoin provider exit --from NAME",
      "cloudcoin provider show ADDRESS|NAME",
      "  common: [--fee CLC] [--no-wait] [--rpc URL] [--token TOKEN] [--home DIR] [--json]",
    ].join("\n       "),
    summary:
      "Storage providers and bandwidth relays: register (locks CLC collateral, at least capacity x collateralPerByte), exit (collateral back " +
      "once no deal is active), show (provider_get).",
    options: {
      home: COMMON.home, "passphrase-file": COMMON["passphrase-file"], rpc: COMMON.rpc, token: COMMON.token, json: COMMON.json, help: COMMON.help,
      from: { type: "string" }, kind: { type: "string", default: "storage" }, collateral: { type: "string" }, capacity: { type: "string" },
      multiaddr: { type: "string" }, fee: { type: "string" }, "no-wait": { type: "boolean", default: false },
    },
    async run(v, pos) {
      const ring = keyring(v);
      const noWait = v["no-wait"] === true;
      switch (pos[0]) {
        case "register": {
          const key = await ring.load(str(v.from, "from"));
          const kind = v.kind === "storage" ? ProviderKind.STORAGE : v.kind === "bandwidth" ? ProviderKind.BANDWIDTH : undefined;
          if (kind === undefined) throw new UsageError("--kind must be storage or bandwidth");
          const capacityText = str(v.capacity, "capacity");
          if (!/^[1-9][0-9]{0,19}$/.test(capacityText)) throw new UsageError("--capacity must be a positive number of bytes");
          const op: Operation = { type: "provider.register", kind, collateral: parseClc(str(v.collateral, "collateral")), capacity: BigInt(capacityText), multiaddr: str(v.multiaddr, "multiaddr") };
          return txOut(await sendOp(rpcClient(v), key, op, v.fee, noWait), { provider: toAddress(key.publicKey) });
        }
        case "exit": {
          const key = await ring.load(str(v.from, "from"));
          return txOut(await sendOp(rpcClient(v), key, { type: "provider.exit" }, v.fee, noWait), { provider: toAddress(key.publicKey) });
        }
        case "show": {
          const who = pos[1];
          if (!who) throw new UsageError("expected: provider show ADDRESS|NAME");
          const address = toAddress(await resolveAddress(ring, who));
          const p = await rpcClient(v).call("provider_get", { address });
          if (!p) return out(`${address} is not a provider`, null);
          return out(
            `${p.address}: ${p.kind} provider, ${p.status}${p.banned ? ` (banned until epoch ${p.bannedUntil})` : ""}; collateral ${formatClc(BigInt(p.collateral))} CLC ` +
              // a relay's capacity is a rate (bytes per second) and it has no deals
              `(${formatClc(BigInt(p.locked))} locked); ${p.kind === "bandwidth" ? `capacity ${p.capacity} B/s` : `${p.used}/${p.capacity} bytes in ${p.activeDeals} active deal(s)`}; ` +
              `reputation ${p.reputationBps / 100}%; ${p.multiaddr}`,
            p,
          );
        }
        default:
          throw new UsageError("expected: provider register|exit|show ...");
      }
    },
  },

  storage: {
    usage: [
      "cloudcoin storage root FILE [--chunk-size BYTES]   (the file's deal root, read as a stream; no node needed)",
      "cloudcoin storage deal ID [--rpc URL]              (a deal on chain: storage_getDeal)",
      "cloudcoin storage order FILE --from NAME --replicas N --price CLC --epochs E [--chunk-size BYTES] [--fee CLC] [--no-wait]",
      "                                                   (a storage order: price per replica-epoch; escrow price x epochs x replicas, plus a",
      "                                                   placement bond the chain sets: a provider drawn that declines burns a share of it)",
      "cloudcoin storage orders [ID] [--client ADDRESS|NAME] [--open] [--cursor ID] [--limit N]",
      "                                                   (one order with its placements; a client's orders; without either every open order)",
      "  common: [--rpc URL] [--token TOKEN] [--home DIR] [--json]",
      "  direct deals are made with plugins/storage-provider/client.ts (the provider signs the terms); an order's data is served",
      "  to the providers the network places it on by `client.ts order --order ID --file FILE`",
    ].join("\n       "),
    summary:
      "Proof of storage: a file's RFC 6962 deal root, size, chunk size and chunk count (same chunking as deals); a deal's state on chain; " +
      "storage orders (the network draws the providers; only such network deals earn the storage pool) and their placements.",
    options: {
      home: COMMON.home, "passphrase-file": COMMON["passphrase-file"], rpc: COMMON.rpc, token: COMMON.token, json: COMMON.json, help: COMMON.help,
      "chunk-size": { type: "string", default: "4096" }, from: { type: "string" }, replicas: { type: "string" }, price: { type: "string" }, epochs: { type: "string" },
      fee: { type: "string" }, "no-wait": { type: "boolean", default: false }, client: { type: "string" }, open: { type: "boolean", default: false },
      cursor: { type: "string" }, limit: { type: "string" },
    },
    async run(v, pos) {
      switch (pos[0]) {
        case "root": {
          const file = pos[1];
          if (!file) throw new UsageError("expected: storage root FILE");
          const { d, chunkSize } = await storageRoot(file, v["chunk-size"]);
          const r = { file, root: toHex(d.root), size: d.size.toString(), chunkSize, chunkCount: d.chunkCount.toString() };
          return out(`root ${r.root}\nsize ${r.size} bytes, chunk size ${chunkSize}, ${r.chunkCount} chunks`, r);
        }
        case "order": {
          const file = pos[1];
          if (!file) throw new UsageError("expected: storage order FILE --from NAME --replicas N --price CLC --epochs E");
          const replicasText = str(v.replicas, "replicas");
          if (!/^[1-9][0-9]{0,2}$/.test(replicasText)) throw new UsageError("--replicas must be a positive integer");
          const epochsText = str(v.epochs, "epochs");
          if (!/^[1-9][0-9]{0,18}$/.test(epochsText)) throw new UsageError("--epochs must be a positive integer");
          const price = parseClc(str(v.price, "price"));
          const key = await keyring(v).load(str(v.from, "from"));
          const { d, chunkSize } = await storageRoot(file, v["chunk-size"]);
          const replicas = Number(replicasText);
          const epochs = BigInt(epochsText);
          const op: Operation = { type: "storage.order", root: d.root, size: d.size, chunkSize: BigInt(chunkSize), pricePerEpoch: price, durationEpochs: epochs, replicas };
          const client = rpcClient(v);
          const sent = await sendOp(client, key, op, v.fee, v["no-wait"] === true);
          // the placement bond is set by the chain when the order lands: shown once it is in a block
          const posted = sent.result?.receipt?.ok ? await client.call("storage_getOrder", { id: sent.hash }) : null;
          return txOut(sent, {
            order: sent.hash, root: toHex(d.root), size: d.size.toString(), chunkSize, replicas, pricePerEpoch: price.toString(), epochs: Number(epochs),
            escrow: (price * epochs * BigInt(replicas)).toString(), ...(posted ? { bond: posted.bond, failureCharge: posted.failureCharge } : {}),
          });
        }
        case "orders": {
          const client = rpcClient(v);
          const id = pos[1];
          if (id !== undefined) {
            if (!/^[0-9a-fA-F]{64}$/.test(id)) throw new UsageError("expected: storage orders [ID] (32 bytes of hex)");
            const o = await client.call("storage_getOrder", { id });
            if (!o) return out(`no order ${id}`, null);
            return out([orderLine(o), ...o.placements.map((p) => `  ${p.provider} drawn in epoch ${p.epoch}: ${p.status}${p.deal ? ` (deal ${p.deal})` : p.status === "pending" ? ` until epoch ${p.deadline}` : ""}`)].join("\n"), o);
          }
          const params: { client?: string; openOnly: boolean; cursor?: string; limit?: number } = { openOnly: v.open === true };
          if (typeof v.client === "string") params.client = toAddress(await resolveAddress(keyring(v), v.client));
          if (typeof v.cursor === "string") params.cursor = v.cursor;
          if (typeof v.limit === "string") {
            if (!/^[1-9][0-9]{0,2}$/.test(v.limit) || Number(v.limit) > 100) throw new UsageError("--limit must be 1-100");
            params.limit = Number(v.limit);
          }
          const r = await client.call("storage_listOrders", params);
          const human = r.orders.length === 0 ? "no orders" : r.orders.map(orderLine).join("\n");
          return out(human + (r.nextCursor ? `\nnext: --cursor ${r.nextCursor}` : ""), r);
        }
        case "deal": {
          const id = pos[1];
          if (!id || !/^[0-9a-fA-F]{64}$/.test(id)) throw new UsageError("expected: storage deal ID (32 bytes of hex)");
          const d = await rpcClient(v).call("storage_getDeal", { id });
          if (!d) return out(`no deal ${id}`, null);
          return out(
            `deal ${d.id} (${d.status}): ${d.client} -> ${d.provider}, ${d.size} bytes, root ${d.root}; ${d.challenged}/${d.durationEpochs} epochs, ` +
              `${d.misses} missed, escrow ${formatClc(BigInt(d.escrow))} CLC, collateral left ${formatClc(BigInt(d.collateralLeft))} CLC`,
            d,
          );
        }
        default:
          throw new UsageError("expected: storage root FILE | storage deal ID | storage order FILE ... | storage orders [ID]");
      }
    },
  },

  balance: {
    usage: "cloudcoin balance ADDRESS|NAME [--rpc URL] [--home DIR]",
    summary: "Show an account at the head: balance, stake, unbonding, nonce, and its standing as a validator (jailed, in the set, missed blocks).",
    options: { home: COMMON.home, "passphrase-file": COMMON["passphrase-file"], rpc: COMMON.rpc, token: COMMON.token, json: COMMON.json, help: COMMON.help },
    async run(v, pos) {
      const who = pos[0];
      if (!who) throw new UsageError("expected: balance ADDRESS|NAME");
      const address = toAddress(await resolveAddress(keyring(v), who)); // a mistyped address is refused as one, never looked up as a key name
      const client = rpcClient(v);
      const [a, validator] = await Promise.all([client.call("state_getAccount", { address }), client.call("staking_getValidator", { address })]);
      const unbonding = a.unbonding.reduce((sum, u) => sum + BigInt(u.amount), 0n);
      const next = a.unbonding.length > 0 ? Math.min(...a.unbonding.map((u) => u.releaseHeight)) : null;
      const lines = [
        `${address} at height ${a.height}`,
        `  balance    ${formatClc(BigInt(a.balance))} CLC`,
        `  staked     ${formatClc(BigInt(a.staked))} CLC`,
        `  unbonding  ${formatClc(unbonding)} CLC${next !== null ? ` (next release at height ${next})` : ""}`,
        `  nonce      ${a.nonce}`,
      ];
      if (validator) {
        const standing = validator.tombstoned ? "TOMBSTONED for double-signing: it can never rejoin the set" : validator.jailed ? `JAILED until height ${validator.jailedUntil} (then send: cloudcoin tx unjail)` : validator.inSet ? "in the validator set" : validator.eligible ? "eligible, not in the set" : "not eligible";
        lines.push(`  validator  ${validator.name}: ${standing}; missed ${validator.missed} of the last ${validator.downtimeWindow} blocks (jailed above ${validator.downtimeMaxMissed})`);
      }
      out(lines.join("\n"), { ...a, validator });
    },
  },

  params: {
    usage: "cloudcoin params [--rpc URL]",
    summary: "Show the chain's parameters (fees, epoch length, minimum validator stake, slashing, emission, storage and bandwidth rules).",
    options: { rpc: COMMON.rpc, token: COMMON.token, json: COMMON.json, help: COMMON.help },
    async run(v) {
      const p = await rpcClient(v).call("chain_getParams", {});
      out([`${p.chainId}`, ...Object.entries(p.params).map(([k, x]) => `  ${k.padEnd(24)} ${x}`)].join("\n"), p);
    },
  },

  "verify-store": {
    usage: "cloudcoin verify-store [--home DIR] [--json]",
    summary:
      "Check the whole block store of a stopped node: every height's block, link to its parent, body, commit (against the stored validator set) " +
      "and receipts, and the state replayed from genesis (on a store installed by state sync: from its base, and the head state's records against the head's root). Exits 1 naming the first bad height.",
    options: { home: COMMON.home, json: COMMON.json, help: COMMON.help },
    async run(v) {
      const { verifyStore } = await import("./node.ts");
      const r = await verifyStore(str(v.home, "home"));
      // A store installed by state sync holds blocks from its base on: its state cannot be replayed from genesis.
      if (r.base > 1n) {
        out(`block store ok: heights ${r.base}..${r.height} verified, and the head state's records against its state root; installed by state sync at ${r.base}, so the state was not replayed from genesis (${r.ms} ms)`, {
          ok: true, height: r.height.toString(), base: r.base.toString(), replayed: false, ms: r.ms,
        });
      } else out(`block store ok: heights 0..${r.height} verified (${r.ms} ms)`, { ok: true, height: r.height.toString(), ms: r.ms });
    },
  },

  status: {
    usage: "cloudcoin status [--rpc URL]",
    summary: "Show the node's chain, head and consensus position.",
    options: { rpc: COMMON.rpc, token: COMMON.token, json: COMMON.json, help: COMMON.help },
    async run(v) {
      const s = await rpcClient(v).call("node_status", {});
      out(`${s.chainId} height ${s.head.height} (${s.head.hash})${s.validator ? `, validator ${s.validator}` : ""}, mempool ${s.mempool.size}${s.error ? `, ERROR: ${s.error}` : ""}`, s);
    },
  },
};

function help(): string {
  return ["usage: cloudcoin <command> [options]   (--help on any command)", "", ...Object.entries(commands).map(([n, c]) => `  ${n.padEnd(8)} ${c.summary}`)].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  failedReceipt = false;
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-v" || name === "version") {
    console.log(`cloudcoin ${NODE_VERSION}`);
    return 0;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(help());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    // "--amount -3": a negative number after an option is its value (then refused with a reason), not an unknown flag
    const args = negativeNumbersAsValues(rest);
    const { values, positionals } = parseArgs({ args, options: cmd.options ?? {}, allowPositionals: true, strict: true });
    jsonOutput = values.json === true;
    if (values.help) {
      console.log(`${cmd.usage}\n\n${cmd.summary}`);
      return 0;
    }
    await cmd.run(values as Record<string, string | boolean | undefined>, positionals);
    // a transaction that failed in its block (the fee was paid, the op did nothing) is a failure
    return failedReceipt ? 1 : 0;
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`${(e as Error).message}\nusage: ${cmd.usage}`);
      return 2;
    }
    const code = (e as { code?: string }).code;
    const data = (e as { data?: unknown }).data;
    if (jsonOutput) console.error(JSON.stringify({ error: { code: code ?? "ERROR", message: (e as Error).message, ...(data !== undefined ? { data } : {}) } }));
    else console.error(`error${code ? ` [${code}]` : ""}: ${(e as Error).message}`);
    return 1;
  }
}
