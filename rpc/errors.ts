/**
 * JSON-RPC 2.0 error codes and the mapping from thrown values to wire error objects.
 *
 * Handlers signal failure by throwing:
 * - `RpcError`: sent as is (its numeric `rpcCode`, message and data);
 * - any other `CodedError` (primitives/errors.ts): SERVER_ERROR (-32000) with the error's message
 *   and `data: { ...err.data, code: err.code }`, so clients can match on the stable code;
 * - anything else: INTERNAL_ERROR (-32603) "internal error"; the cause is logged, never sent.
 */
import { CodedError } from "../primitives/errors.ts";

export const RpcErrorCode = {
  // Reserved by the JSON-RPC 2.0 specification (section 5.1).
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  // Implementation-defined server errors (-32000 to -32099).
  SERVER_ERROR: -32000,
  UNAUTHORIZED: -32001,
  RATE_LIMITED: -32005,
  /** The node takes no more of this work for now (e.g. transactions waiting to be checked); retry later. */
  BUSY: -32006,
} as const;
export type RpcErrorCode = (typeof RpcErrorCode)[keyof typeof RpcErrorCode];
export type RpcErrorName = keyof typeof RpcErrorCode;

/** The `error` member of a JSON-RPC response. */
export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

const NAME_BY_CODE = new Map<number, RpcErrorName>(
  Object.entries(RpcErrorCode).map(([name, code]) => [code, name as RpcErrorName]),
);

/**
 * An error carrying its JSON-RPC numeric code (`rpcCode`). The string `code` is the symbolic
 * name for the codes above ("INVALID_PARAMS", ...) and "APPLICATION_ERROR" for any other
 * number a handler chooses.
 */
export class RpcError extends CodedError<RpcErrorName | "APPLICATION_ERROR"> {
  readonly rpcCode: number;
  constructor(rpcCode: number, message: string, data?: Record<string, unknown>) {
    super(NAME_BY_CODE.get(rpcCode) ?? "APPLICATION_ERROR", message, data);
    this.rpcCode = rpcCode;
  }

  toJSON(): JsonRpcErrorObject {
    return errorObject(this.rpcCode, this.message, this.data);
  }
}

export interface RpcErrorLogger {
  warn(obj: object, msg: string): void;
}

export function errorObject(code: number, message: string, data?: unknown): JsonRpcErrorObject {
  return data === undefined ? { code, message } : { code, message, data };
}

/** Maps a value thrown by a handler to a wire error object (see the module comment). */
export function toErrorObject(err: unknown, log?: RpcErrorLogger, method?: string): JsonRpcErrorObject {
  if (err instanceof RpcError) return err.toJSON();
  if (err instanceof CodedError) {
    // The stable code goes last so `data` cannot shadow it.
    return errorObject(RpcErrorCode.SERVER_ERROR, err.message, { ...err.data, code: err.code });
  }
  log?.warn({ err, method }, "rpc handler failed");
  return errorObject(RpcErrorCode.INTERNAL_ERROR, "internal error");
}
