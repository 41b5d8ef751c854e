#!/usr/bin/env node
/** `node dist/bench/profile-cli.js FILE.cpuprofile... [--top N]`: where each profiled process spent its CPU time. */
import { parseArgs } from "node:util";
import { formatProfile, readProfile, summarizeProfile } from "./profile-summary.js";

const { values, positionals } = parseArgs({ options: { top: { type: "string" } }, allowPositionals: true });
const top = Number(values.top ?? 25);
if (positionals.length === 0 || !Number.isInteger(top) || top < 1) {
  process.stderr.write("usage: node dist/bench/profile-cli.js FILE.cpuprofile... [--top N]\n");
  process.exit(2);
}
for (const file of positionals) process.stdout.write(`${formatProfile(summarizeProfile(readProfile(file), file, top), top)}\n\n`);
