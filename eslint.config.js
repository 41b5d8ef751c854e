// Lint is where the architecture of design.md is enforced: each layer may import only
// the layers its arrow points to, the Raft core stays pure (no I/O, clock, timers or
// randomness of its own) so that the simulator can replay it exactly, and the benchmark
// harness (bench/src) stays out of the product's way: neither imports the other.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const LAYERS = ["raft", "storage", "transport", "kv", "node", "server", "client", "cli", "sim", "check", "util", "e2e", "torture"];

/** Which sibling layers each layer may import (util is shared by all). */
const ALLOWED = {
  raft: ["util"],
  storage: ["util", "raft"],
  transport: ["util", "raft"],
  // kv takes its own input (kv/input.ts): it knows nothing of Raft.
  kv: ["util"],
  node: ["util", "raft", "storage", "transport", "kv", "check"],
  // The server translates HTTP onto node; kv's command language (types, key checks) is its vocabulary too.
  server: ["util", "node", "kv"],
  client: ["util"],
  cli: ["util", "server", "node", "client", "sim", "check", "raft", "kv", "storage", "transport", "torture"],
  // The simulator runs node's replica (the production driver) over its own twins of the ports.
  sim: ["util", "raft", "kv", "check", "node"],
  check: ["util"],
  util: [],
  // Process tests drive real `flotilla start` processes through the public surface only; the
  // network namespaces of the discovery tests are the fault runner's (src/torture/netns.ts).
  e2e: ["util", "client", "check", "torture"],
  // The fault runner drives real processes under a nemesis and checks the history. It is a
  // product feature (`flotilla torture`), so it imports no test support (src/e2e).
  torture: ["util", "client", "check"],
};

function layerRules(layer) {
  const forbidden = LAYERS.filter((other) => other !== layer && !ALLOWED[layer].includes(other));
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            ...forbidden.map((other) => ({
              group: [`../${other}`, `../${other}/*`, `../../${other}`, `../../${other}/*`],
              message: `design.md: src/${layer} may not import src/${other}.`,
            })),
            { group: ["**/bench/**"], message: BENCH_OUTSIDE_MESSAGE },
          ],
        },
      ],
    },
  };
}

const BENCH_OUTSIDE_MESSAGE = "design.md: the benchmark harness (bench/src) lives outside the product; the product does not import it, and it imports nothing of the product (it drives Flotilla through the CLI and HTTP).";

/** The harness talks to Flotilla like any outside tool; its one test of the product's settings reads src/util/limits.ts. */
const BENCH_RULES = [
  {
    files: ["bench/src/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ regex: "^(\\.\\./)+src/|^flotilla(/|$)", message: BENCH_OUTSIDE_MESSAGE }] }] },
  },
  {
    files: ["bench/src/**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ regex: "^(\\.\\./)+src/(?!util/limits\\.js$)|^flotilla(/|$)", message: BENCH_OUTSIDE_MESSAGE }] }] },
  },
];

const PURE_CORE_MESSAGE = "src/raft is a pure deterministic core: time, randomness and I/O come from its caller.";

export default tseslint.config(
  { ignores: ["dist/**", "packages/*/dist/**", "node_modules/**", "coverage/**", "bench/results/**", "bench/dist/**"] },
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
  ...BENCH_RULES,
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
            { group: ["**/bench/**"], message: BENCH_OUTSIDE_MESSAGE },
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
