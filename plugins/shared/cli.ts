/**
 * What every plugin entry point answers before parsing its own options: `--help` (or `-h`) prints
 * its usage and `--version` the package version, both exiting 0. Call it first thing in main.
 */
import { readFileSync } from "node:fs";

export function standardFlags(argv: readonly string[], usage: string): void {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  if (argv.includes("--version")) {
    // ../../ from plugins/shared/, ../../../ from its compiled copy in dist/plugins/shared/
    const path = new URL(import.meta.url.endsWith(".ts") ? "../../package.json" : "../../../package.json", import.meta.url);
    const pkg = JSON.parse(readFileSync(path, "utf8")) as { name: string; version: string };
    process.stdout.write(`${pkg.name} ${pkg.version}\n`);
    process.exit(0);
  }
}
