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
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { name: string; version: string };
    process.stdout.write(`${pkg.name} ${pkg.version}\n`);
    process.exit(0);
  }
}
