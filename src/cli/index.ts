/** The `flotilla` command line as a function (main.ts binds it to the process). */
export { run } from "./run.js";
export { EXIT_OK, EXIT_FAILED, EXIT_USAGE, type Io, type OutputStream } from "./io.js";
export { planStart, parseBootstrap, type StartPlan } from "./start-command.js";
export { planDev, type DevNode } from "./dev-command.js";
export { USAGE } from "./help.js";
