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

export const CodecErrorCode = {
  MALFORMED: "CODEC_MALFORMED",
  NON_CANONICAL: "CODEC_NON_CANONICAL",
  WRONG_SHAPE: "CODEC_WRONG_SHAPE",
  OUT_OF_RANGE: "CODEC_OUT_OF_RANGE",
  TOO_LARGE: "CODEC_TOO_LARGE",
} as const;
export type CodecErrorCode = (typeof CodecErrorCode)[keyof typeof CodecErrorCode];

export class CodecError extends CodedError<CodecErrorCode> {}
