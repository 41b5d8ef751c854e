#!/usr/bin/env node
/** `node bench/dist/profile-cli.js FILE.cpuprofile... [--top N]`: where each profiled process spent its CPU time. */
import { parseArgs } from "node:util";
import { formatProfile, readProfile, summarizeProfile } from "./profile-summary.js";

const USAGE = "usage: node bench/dist/profile-cli.js FILE.cpuprofile... [--top N]\n";
let parsed;
try {
  parsed = parseArgs({ options: { top: { type: "string" }, help: { type: "boolean", short: "h" } }, allowPositionals: true });
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const top = Number(values.top ?? 25);
if (positionals.length === 0 || !Number.isInteger(top) || top < 1) {
  process.stderr.write(USAGE);
  process.exit(2);
}
for (const file of positionals) process.stdout.write(`${formatProfile(summarizeProfile(readProfile(file), file, top), top)}\n\n`);
