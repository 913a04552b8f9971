/**
 * The node's whole JSON-RPC method table: the core methods (rpc/methods.ts) and each module's.
 * A module with methods adds one line here; its file adds their types to `Methods`
 * (rpc/methods.ts), which the typed client is checked against.
 */
import "./index.ts";
import { coreMethods, type Methods } from "../rpc/methods.ts";
import type { MethodTable } from "../rpc/table.ts";
import type { RpcContext } from "../rpc/context.ts";
import { paychMethods } from "./paych/rpc.ts";
import { storageMethods } from "./storage/rpc.ts";
import { bandwidthMethods } from "./bandwidth/rpc.ts";
import { rewardsMethods } from "./rewards/rpc.ts";
import { stakingMethods } from "./staking/rpc.ts";

export const methods: Methods & MethodTable<RpcContext> = { ...coreMethods, ...paychMethods, ...storageMethods, ...bandwidthMethods, ...rewardsMethods, ...stakingMethods };
