// Lint is where the architecture of design.md is enforced: each layer may import only
// the layers its arrow points to, and the Raft core stays pure (no I/O, clock, timers or
// randomness of its own) so that the simulator can replay it exactly.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const LAYERS = ["raft", "storage", "transport", "kv", "node", "server", "client", "cli", "sim", "check", "util", "e2e", "bench", "torture"];

/** Which sibling layers each layer may import (util is shared by all). */
const ALLOWED = {
  raft: ["util"],
  storage: ["util", "raft"],
  transport: ["util", "raft"],
  kv: ["util", "raft"],
  node: ["util", "raft", "storage", "transport", "kv", "check"],
  server: ["util", "node", "raft", "kv"],
  client: ["util"],
  cli: ["util", "server", "node", "client", "sim", "check", "raft", "kv", "storage", "transport", "torture"],
  sim: ["util", "raft", "kv", "check"],
  check: ["util"],
  util: [],
  // Process tests drive real `flotilla start` processes through the public surface only.
  e2e: ["util", "client", "check"],
  // The benchmark harness drives real processes over HTTP with its own load generator.
  bench: ["util"],
  // The fault runner drives real processes under a nemesis and checks the history.
  torture: ["util", "client", "check", "e2e"],
};

function layerRules(layer) {
  const forbidden = LAYERS.filter((other) => other !== layer && !ALLOWED[layer].includes(other));
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: forbidden.map((other) => ({
            group: [`../${other}`, `../${other}/*`, `../../${other}`, `../../${other}/*`],
            message: `design.md: src/${layer} may not import src/${other}.`,
          })),
        },
      ],
    },
  };
}

const PURE_CORE_MESSAGE = "src/raft is a pure deterministic core: time, randomness and I/O come from its caller.";

export default tseslint.config(
  { ignores: ["dist/**", "packages/*/dist/**", "node_modules/**", "coverage/**", "bench/results/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", setImmediate: "readonly", URL: "readonly", TextEncoder: "readonly", TextDecoder: "readonly", AbortController: "readonly", AbortSignal: "readonly", fetch: "readonly", performance: "readonly", queueMicrotask: "readonly", structuredClone: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  ...LAYERS.filter((layer) => layer !== "raft").map(layerRules),
  {
    files: ["src/raft/**/*.ts"],
    ignores: ["src/raft/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*", "fs", "net", "http", "os", "crypto", "child_process", "worker_threads", "timers"], message: PURE_CORE_MESSAGE },
            ...LAYERS.filter((l) => l !== "raft" && l !== "util").map((other) => ({
              group: [`../${other}`, `../${other}/*`],
              message: `design.md: src/raft imports nothing but util (not ${other}).`,
            })),
          ],
        },
      ],
      "no-restricted-globals": [
        "error",
        ...["setTimeout", "setInterval", "setImmediate", "queueMicrotask", "process", "performance", "fetch", "Buffer"].map((name) => ({ name, message: PURE_CORE_MESSAGE })),
      ],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: PURE_CORE_MESSAGE },
        { object: "Math", property: "random", message: PURE_CORE_MESSAGE },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: "NewExpression[callee.name='Date']", message: PURE_CORE_MESSAGE },
        { selector: "AwaitExpression", message: "src/raft is synchronous: no await." },
        { selector: "FunctionDeclaration[async=true], ArrowFunctionExpression[async=true], FunctionExpression[async=true]", message: "src/raft is synchronous: no async functions." },
      ],
    },
  },
);
