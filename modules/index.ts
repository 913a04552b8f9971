/**
 * The module list (docs/architecture.md): every service the chain runs, in the order their hooks
 * run. Adding a module or an op touches its folder and, for a new module, one line here. Importing
 * this file builds the registry (which refuses duplicate op codes, event kinds, key prefixes and
 * evidence codes) and installs it for the kernel.
 */
import { installRegistry, Registry, type ModuleSpec } from "../chain/registry.ts";
import { bank, BankOpCode } from "./bank/index.ts";
import { staking, StakingOpCode } from "./staking/index.ts";
import { paych, PaychOpCode } from "./paych/index.ts";
import { storage, StorageOpCode } from "./storage/index.ts";
import { bandwidth, BandwidthOpCode } from "./bandwidth/index.ts";
import { rewards } from "./rewards/index.ts";

export const MODULES: readonly ModuleSpec[] = [bank, staking, paych, storage, bandwidth, rewards];

export const registry = new Registry(MODULES);
installRegistry(registry);

/** Every op's wire code by name (for tests and tools that write raw ops). */
export const OpCode = { ...BankOpCode, ...StakingOpCode, ...PaychOpCode, ...StorageOpCode, ...BandwidthOpCode } as const;
