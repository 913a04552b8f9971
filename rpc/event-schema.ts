/**
 * The JSON form of every chain event (rpc/json.ts eventJson) as a zod schema: what WebSocket
 * `events` subscribers receive (with the block `height` added) and what test/helpers/chain.ts
 * advanceChecked holds every event of every test block to. The kernel's `fee` event is here; every
 * other kind's schema is its module's (chain/registry.ts EventSpec.schema), joined from the
 * installed registry on first use.
 */
import { z } from "zod";
import { registry } from "../chain/registry.ts";

const hash = z.string().regex(/^[0-9a-f]{64}$/);
const address = z.string().startsWith("cc1");
const decimal = z.string().regex(/^(0|[1-9][0-9]*)$/);

const feeSchema = z.object({ kind: z.literal("fee"), txHash: hash, payer: address, burned: decimal, toProposer: decimal });

type EventObjectSchema = z.ZodObject<{ kind: z.ZodLiteral<string> }>;
let joined: z.ZodDiscriminatedUnion<EventObjectSchema[], "kind"> | undefined;

/** Every event kind's JSON schema, discriminated by `kind`. */
export function eventSchema(): z.ZodDiscriminatedUnion<EventObjectSchema[], "kind"> {
  joined ??= z.discriminatedUnion("kind", [feeSchema, ...registry().events().map((e) => e.schema as EventObjectSchema)] as [EventObjectSchema, ...EventObjectSchema[]]);
  return joined;
}
export type EventJson = { kind: string } & Record<string, unknown>;
