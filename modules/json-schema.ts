/**
 * The zod pieces every module's event and op JSON schemas are made of: hex for hashes and bytes,
 * cc1 addresses for account keys, decimal strings for amounts (u64), non-negative integers for
 * heights, epochs and counts.
 */
import { z } from "zod";

export const hash = z.string().regex(/^[0-9a-f]{64}$/);
export const address = z.string().startsWith("cc1");
export const decimal = z.string().regex(/^(0|[1-9][0-9]*)$/);
export const count = z.int().min(0);
