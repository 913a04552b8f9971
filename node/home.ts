/**
 * What the CLI needs before it knows its command: the node's version and its default home. Kept
 * apart from node.ts so that `cloudcoin --help` and the client commands load none of the node
 * (libp2p, fastify, the block store); the commands that run it import node.ts when they run.
 */
import { join } from "node:path";

export const NODE_VERSION = "0.1.0";

export function defaultHome(): string {
  return process.env.CLOUDCOIN_HOME ?? join(process.env.HOME ?? ".", ".cloudcoin");
}
