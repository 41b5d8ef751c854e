// `node --import ./register-ts.mjs child.ts`: runs the project's TypeScript sources directly,
// for child processes in tests (SIGKILL) and the throughput script, without a build step.
import { register } from "node:module";

register("./ts-hooks.mjs", import.meta.url);
