/**
 * Typed errors. Every error that crosses a module boundary carries a stable string `code`
 * (tests, metrics and the RPC layer match on it, never on message text) and optional
 * structured `data`.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  readonly data: Record<string, unknown> | undefined;
  constructor(code: C, message: string, data?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.data = data;
  }
}

/**
 * `make()`, with no stack captured for errors it constructs. For refusals that are expected and
 * frequent (a busy node refusing thousands of submissions a second), where capturing a stack cost
 * more than the rest of the refusal and says nothing anyone reads.
 */
export function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export const CodecErrorCode = {
  MALFORMED: "CODEC_MALFORMED",
  NON_CANONICAL: "CODEC_NON_CANONICAL",
  WRONG_SHAPE: "CODEC_WRONG_SHAPE",
  OUT_OF_RANGE: "CODEC_OUT_OF_RANGE",
  TOO_LARGE: "CODEC_TOO_LARGE",
} as const;
export type CodecErrorCode = (typeof CodecErrorCode)[keyof typeof CodecErrorCode];

export class CodecError extends CodedError<CodecErrorCode> {}
