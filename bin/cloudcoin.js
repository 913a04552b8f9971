#!/usr/bin/env node
// The `cloudcoin` command. The sources are TypeScript run through tsx, a runtime dependency,
// so an installed checkout needs no build step.
import { register } from "tsx/esm/api";

register();
await import("../node/cli.ts");
