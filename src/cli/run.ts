/**
 * The CLI as a function: run(argv, io) → exit status. main.ts binds it to the process; tests
 * call it in-process with captured output. Commands that need the server, the node or the
 * simulator load them on demand, so `flotilla get` starts fast and loads no database code.
 */
import { CLIENT_COMMANDS, runClientCommand } from "./client-commands.js";
import { COMMAND_USAGE, USAGE } from "./help.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, type Io } from "./io.js";

export async function run(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    return await dispatch(command, rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      const pointer = command !== undefined && Object.hasOwn(COMMAND_USAGE, command) && command !== "help" ? `flotilla ${command} --help` : "flotilla help";
      io.stderr.write(`flotilla${command === undefined ? "" : ` ${command}`}: ${error.message} (see ${pointer})\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`flotilla${command === undefined ? "" : ` ${command}`}: unexpected error: ${String((error as Error).message ?? error).split("\n")[0]}\n`);
    return EXIT_FAILED;
  }
}

async function dispatch(command: string | undefined, argv: readonly string[], io: Io): Promise<number> {
  if (command === undefined) {
    io.stderr.write(USAGE);
    return EXIT_USAGE;
  }
  if (command === "help" || command === "--help" || command === "-h") return help(argv[0], io);
  const beforeDashes = argv.indexOf("--") === -1 ? argv : argv.slice(0, argv.indexOf("--"));
  if (beforeDashes.includes("--help") || beforeDashes.includes("-h")) {
    if (command === "sim") return runSim(argv, io);
    if (command === "torture") return runTorture(argv, io);
    return help(command, io);
  }
  if (Object.hasOwn(CLIENT_COMMANDS, command)) return runClientCommand(command, argv, io);
  switch (command) {
    case "start":
      return (await import("./start-command.js")).runStart(argv, io);
    case "dev":
      return (await import("./dev-command.js")).runDev(argv, io);
    case "sim":
      return runSim(argv, io);
    case "torture":
      return runTorture(argv, io);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** The usage of every command, or of one (sim and torture print their own). */
async function help(asked: string | undefined, io: Io): Promise<number> {
  const command = asked === "--help" || asked === "-h" ? "help" : asked;
  if (command === undefined) {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (command === "sim") return runSim(["--help"], io);
  if (command === "torture") return runTorture(["--help"], io);
  if (!Object.hasOwn(COMMAND_USAGE, command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  io.stdout.write(COMMAND_USAGE[command]!);
  return EXIT_OK;
}

async function runSim(argv: readonly string[], io: Io): Promise<number> {
  const { runSimCommand } = await import("../sim/index.js");
  return runSimCommand(argv, { stdout: (text: string) => io.stdout.write(text), stderr: (text: string) => io.stderr.write(text) });
}

async function runTorture(argv: readonly string[], io: Io): Promise<number> {
  const { runTortureCommand } = await import("../torture/index.js");
  return runTortureCommand(argv, {
    stdout: (text: string) => io.stdout.write(text),
    stderr: (text: string) => io.stderr.write(text),
    stderrIsTTY: io.stderr.isTTY === true,
    waitForStop: () => io.waitForStop(),
  });
}
