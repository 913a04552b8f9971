/**
 * The `cloudcoin` command line.
 *
 *   cloudcoin start                       run a node (the embedded devnet unless <home>/genesis.json exists)
 *   cloudcoin init --validators N --out DIR
 *   cloudcoin keys new NAME | keys show NAME
 *   cloudcoin tx transfer --from NAME --to ADDRESS --amount CLC
 *   cloudcoin balance ADDRESS|NAME
 *   cloudcoin status
 *
 * Transaction commands sign locally with a key from the keyring and send through JSON-RPC.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { formatClc, parseClc, parseUnits } from "../chain/amount.ts";
import { toHex } from "../chain/bytes.ts";
import { CodedError } from "../chain/errors.ts";
import { fromAddress, generateKeyPair, isAddress, toAddress } from "../chain/keys.ts";
import { signTx, type Operation } from "../chain/tx.ts";
import { validateAndComplete, type GenesisFile } from "../genesis/schema.ts";
import { devnetGenesisFile } from "../genesis/devnet.ts";
import { RpcClient } from "../rpc/client.ts";
import { Keyring, keyFileJson } from "./keyring.ts";
import { CloudcoinNode, DEFAULT_RPC_PORT, defaultHome } from "./node.ts";

const COMMON = {
  home: { type: "string", default: defaultHome() },
  rpc: { type: "string", default: process.env.CLOUDCOIN_RPC ?? `http://127.0.0.1:${DEFAULT_RPC_PORT}/` },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

interface Command {
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

const commands: Record<string, Command> = {
  start: {
    usage: "cloudcoin start [--home DIR] [--rpc-host HOST] [--rpc-port PORT] [--log-level LEVEL]",
    summary: "Run a node. Without <home>/genesis.json it runs the embedded single-validator devnet.",
    options: {
      home: COMMON.home,
      "rpc-host": { type: "string", default: "127.0.0.1" },
      "rpc-port": { type: "string", default: String(DEFAULT_RPC_PORT) },
      "log-level": { type: "string", default: process.env.CLOUDCOIN_LOG_LEVEL ?? "info" },
      help: COMMON.help,
    },
    async run(v) {
      const port = Number(v["rpc-port"]);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError("--rpc-port must be 0-65535");
      const node = await CloudcoinNode.start({ home: str(v.home, "home"), rpcHost: str(v["rpc-host"], "rpc-host"), rpcPort: port, logLevel: str(v["log-level"], "log-level"), rpcCheckResults: process.env.CLOUDCOIN_RPC_CHECK_RESULTS === "1" });
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
    usage: "cloudcoin init --validators N --out DIR [--chain-id ID]",
    summary: "Write a genesis and fresh keys for a local network: DIR/genesis.json, DIR/node<i>/ homes, DIR/keys/faucet.json.",
    options: { validators: { type: "string", default: "1" }, out: { type: "string" }, "chain-id": { type: "string", default: "cloudcoin-local-1" }, json: COMMON.json, help: COMMON.help },
    async run(v) {
      const n = Number(v.validators);
      if (!Number.isInteger(n) || n < 1 || n > 100) throw new UsageError("--validators must be 1-100");
      const dir = str(v.out, "out");
      const validators = Array.from({ length: n }, () => generateKeyPair());
      const faucet = generateKeyPair();
      const base = devnetGenesisFile();
      const file: GenesisFile = {
        chainId: str(v["chain-id"], "chain-id"),
        genesisTime: new Date().toISOString(),
        validators: validators.map((k, i) => ({ name: `validator-${i}`, address: toAddress(k.publicKey), power: "1000000000000000" })),
        balances: [{ address: toAddress(faucet.publicKey), amount: "1000000000000000000" }, ...validators.map((k) => ({ address: toAddress(k.publicKey), amount: "1000000000000000" }))],
        params: base.params,
      };
      const genesis = validateAndComplete(file); // the file we write is one the node accepts
      await mkdir(join(dir, "keys"), { recursive: true, mode: 0o700 });
      const text = JSON.stringify(file, null, 2) + "\n";
      await writeFile(join(dir, "genesis.json"), text, { flag: "wx" });
      await writeFile(join(dir, "keys", "faucet.json"), keyFileJson("faucet", faucet), { mode: 0o600, flag: "wx" });
      for (const [i, k] of validators.entries()) {
        const home = join(dir, `node${i}`);
        await mkdir(home, { recursive: true, mode: 0o700 });
        await writeFile(join(home, "genesis.json"), text, { flag: "wx" });
        await writeFile(join(home, "validator.key.json"), keyFileJson(`validator-${i}`, k), { mode: 0o600, flag: "wx" });
      }
      out(
        `wrote ${dir}/genesis.json (chain ${genesis.chainId}, genesis ${toHex(genesis.hash)}), ${n} node home(s) ${dir}/node0..${n - 1}, faucet key ${dir}/keys/faucet.json (${toAddress(faucet.publicKey)})`,
        { chainId: genesis.chainId, genesisHash: toHex(genesis.hash), homes: validators.map((_, i) => join(dir, `node${i}`)), faucet: toAddress(faucet.publicKey) },
      );
    },
  },

  keys: {
    usage: "cloudcoin keys new NAME | cloudcoin keys show NAME   [--home DIR]",
    summary: "Create a key in <home>/keys, or show its address. 'devnet-faucet' is the devnet's funded (INSECURE) key.",
    options: { home: COMMON.home, json: COMMON.json, help: COMMON.help },
    async run(v, pos) {
      const [sub, name] = pos;
      if ((sub !== "new" && sub !== "show") || !name) throw new UsageError("expected: keys new NAME | keys show NAME");
      const ring = new Keyring(str(v.home, "home"));
      const key = sub === "new" ? await ring.create(name) : await ring.load(name);
      out(`${name}: ${toAddress(key.publicKey)}${sub === "new" ? `  (saved in ${ring.dir})` : ""}`, { name, address: toAddress(key.publicKey), publicKey: toHex(key.publicKey) });
    },
  },

  tx: {
    usage:
      "cloudcoin tx <transfer|stake|unstake|register-validator|unjail> --from NAME [--to ADDRESS] [--amount CLC] [--name NAME] [--fee UNITS] [--no-wait] [--rpc URL] [--home DIR]",
    summary:
      "Sign a transaction locally and send it; waits until it is finalized unless --no-wait. " +
      "transfer --to --amount; stake --amount; unstake --amount; register-validator --name; unjail.",
    options: {
      home: COMMON.home, rpc: COMMON.rpc, json: COMMON.json, help: COMMON.help,
      from: { type: "string" }, to: { type: "string" }, amount: { type: "string" }, fee: { type: "string" }, name: { type: "string" },
      "no-wait": { type: "boolean", default: false },
    },
    async run(v, pos) {
      const ring = new Keyring(str(v.home, "home"));
      const key = await ring.load(str(v.from, "from"));
      let op: Operation;
      switch (pos[0]) {
        case "transfer": {
          const toArg = str(v.to, "to");
          const to = isAddress(toArg) ? fromAddress(toArg) : (await ring.load(toArg)).publicKey;
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
      const client = new RpcClient(str(v.rpc, "rpc"));
      const [status, account] = await Promise.all([client.call("node_status", {}), client.call("state_getAccount", { address: toAddress(key.publicKey) })]);
      const fee = typeof v.fee === "string" ? parseUnits(v.fee) : 1000n;
      const tx = signTx({ chainId: status.chainId, nonce: BigInt(account.nonce), fee, op }, key);
      const { hash } = await client.call("tx_send", { tx: toHex(tx.bytes) });
      if (v["no-wait"]) return out(`sent ${hash}`, { hash, status: "pending" });
      for (let i = 0; i < 120; i++) {
        const r = await client.call("tx_get", { hash });
        if (r.status === "finalized") {
          return out(`finalized ${hash} in block ${r.height}: ${r.receipt?.ok ? "ok" : `failed (${r.receipt?.code})`}`, r);
        }
        await new Promise((res) => setTimeout(res, 250));
      }
      throw new CodedError("TX_NOT_FINALIZED", `transaction ${hash} not finalized within 30 s`);
    },
  },

  balance: {
    usage: "cloudcoin balance ADDRESS|NAME [--rpc URL] [--home DIR]",
    summary: "Show an account's balance, stake and nonce at the head.",
    options: { home: COMMON.home, rpc: COMMON.rpc, json: COMMON.json, help: COMMON.help },
    async run(v, pos) {
      const who = pos[0];
      if (!who) throw new UsageError("expected: balance ADDRESS|NAME");
      const address = isAddress(who) ? who : toAddress((await new Keyring(str(v.home, "home")).load(who)).publicKey);
      const a = await new RpcClient(str(v.rpc, "rpc")).call("state_getAccount", { address });
      out(`${address}: ${formatClc(BigInt(a.balance))} CLC (staked ${formatClc(BigInt(a.staked))}, nonce ${a.nonce}) at height ${a.height}`, a);
    },
  },

  status: {
    usage: "cloudcoin status [--rpc URL]",
    summary: "Show the node's chain, head and consensus position.",
    options: { rpc: COMMON.rpc, json: COMMON.json, help: COMMON.help },
    async run(v) {
      const s = await new RpcClient(str(v.rpc, "rpc")).call("node_status", {});
      out(`${s.chainId} height ${s.head.height} (${s.head.hash})${s.validator ? `, validator ${s.validator}` : ""}, mempool ${s.mempool.size}${s.error ? `, ERROR: ${s.error}` : ""}`, s);
    },
  },
};

function help(): string {
  return ["usage: cloudcoin <command> [options]   (--help on any command)", "", ...Object.entries(commands).map(([n, c]) => `  ${n.padEnd(8)} ${c.summary}`)].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
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
    const { values, positionals } = parseArgs({ args: rest, options: cmd.options ?? {}, allowPositionals: true, strict: true });
    jsonOutput = values.json === true;
    if (values.help) {
      console.log(`${cmd.usage}\n\n${cmd.summary}`);
      return 0;
    }
    await cmd.run(values as Record<string, string | boolean | undefined>, positionals);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`${(e as Error).message}\nusage: ${cmd.usage}`);
      return 2;
    }
    const code = (e as { code?: string }).code;
    if (jsonOutput) console.error(JSON.stringify({ error: { code: code ?? "ERROR", message: (e as Error).message } }));
    else console.error(`error${code ? ` [${code}]` : ""}: ${(e as Error).message}`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// `start` keeps running until a signal; every other command ends here.
if (process.argv[2] !== "start" || code !== 0) process.exitCode = code;

