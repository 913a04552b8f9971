/**
 * A typed JSON-RPC client. Method names, params and results are checked at compile time
 * against the server's method table (types only are imported: the client pulls in no server
 * code), so the client and the server cannot drift.
 */
import type { z } from "zod";
import { CodedError } from "../primitives/errors.ts";
import { RpcErrorCode } from "./errors.ts";
import type { Methods } from "./methods.ts";

export type MethodName = keyof Methods;
export type ParamsOf<M extends MethodName> = z.input<Methods[M]["params"]>;
export type ResultOf<M extends MethodName> = z.output<Methods[M]["result"]>;

const NAME_BY_CODE = new Map<number, string>(Object.entries(RpcErrorCode).map(([name, code]) => [code, name]));

/**
 * An error answer from the node: `rpcCode` is the JSON-RPC code; `code` the typed code (data.code)
 * if any, else the JSON-RPC error's name (RPC_UNAUTHORIZED, RPC_RATE_LIMITED, ...).
 */
export class RpcClientError extends CodedError<string> {
  readonly rpcCode: number;
  constructor(rpcCode: number, message: string, data?: Record<string, unknown>) {
    super(typeof data?.code === "string" ? data.code : `RPC_${NAME_BY_CODE.get(rpcCode) ?? "ERROR"}`, message, data);
    this.rpcCode = rpcCode;
  }
}

export interface RpcClientOptions {
  url: string;
  token?: string;
  timeoutMs?: number;
}

export class RpcClient {
  readonly #opts: RpcClientOptions;
  #nextId = 1;

  constructor(opts: RpcClientOptions | string) {
    this.#opts = typeof opts === "string" ? { url: opts } : opts;
  }

  async call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const id = this.#nextId++;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.#opts.token) headers.authorization = `Bearer ${this.#opts.token}`;
    let res: Response;
    try {
      res = await fetch(this.#opts.url, {
        method: "POST",
        headers,
        body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
        signal: AbortSignal.timeout(this.#opts.timeoutMs ?? 30_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new CodedError("RPC_UNREACHABLE", `cannot reach the node at ${this.#opts.url} (${cause}); is it running? (--rpc URL)`);
    }
    const text = await res.text();
    let body: { result?: unknown; error?: { code: number; message: string; data?: Record<string, unknown> } };
    try {
      body = JSON.parse(text);
    } catch {
      throw new RpcClientError(-32700, `node answered HTTP ${res.status} with a non-JSON body`);
    }
    if (body.error) {
      const rpcCode = typeof body.error.code === "number" ? body.error.code : -32603;
      const message = typeof body.error.message === "string" ? body.error.message : `node answered HTTP ${res.status} with an error without a message`;
      throw new RpcClientError(rpcCode, rpcCode === -32001 ? `${message} (this method needs a token: --token or CLOUDCOIN_RPC_TOKEN)` : message, body.error.data);
    }
    if (!res.ok || !("result" in body)) throw new RpcClientError(-32603, `node answered HTTP ${res.status} without a JSON-RPC result`);
    return body.result as ResultOf<M>;
  }
}
