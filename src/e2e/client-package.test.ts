/**
 * The client alone, as a user gets it: `npm pack` of packages/client (built by `npm run build`),
 * installed from the tarball into an empty project with no network, then used from a plain
 * Node ESM script against a real `flotilla start` process. What a user would check: nothing but
 * the one package lands in node_modules (no SQLite build, no Fastify), `import { Client } from
 * "@flotilla/client"` works and talks to a node, its code reaches nothing outside itself but
 * node: builtins, and its types compile in a project without @types/node.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessCluster } from "./cluster.js";

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PACKAGE_DIR = path.join(ROOT, "packages/client");
const NAME = "@flotilla/client";
const TSC = path.join(ROOT, "node_modules/typescript/bin/tsc");

let tmp: string;
let app: string;
let installed: string;
let packedFiles: string[];
let cluster: ProcessCluster;

/** npm as a user runs it: none of the npm_* settings of the `npm test` that runs this file, a cache of its own. */
function npmEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith("npm_")));
  return { ...env, npm_config_cache: path.join(tmp, "npm-cache"), npm_config_update_notifier: "false" };
}

async function npm(args: readonly string[], cwd: string): Promise<string> {
  const { stdout } = await run("npm", [...args], { cwd, env: npmEnv(), maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function packAndInstall(): Promise<void> {
  if (!fs.existsSync(path.join(PACKAGE_DIR, "dist/client/index.js"))) throw new Error(`${PACKAGE_DIR}/dist is missing: run npm run build first`);
  const [packed] = JSON.parse(await npm(["pack", "--json", "--ignore-scripts", "--pack-destination", tmp], PACKAGE_DIR)) as { filename: string; files: { path: string }[] }[];
  packedFiles = packed!.files.map((file) => file.path).sort();
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "an-app", version: "1.0.0", private: true, type: "module" }));
  await npm(["install", "--omit=dev", "--no-audit", "--no-fund", "--offline", path.join(tmp, packed!.filename)], app);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "flotilla-client-package-"));
  app = path.join(tmp, "app");
  installed = path.join(app, "node_modules", NAME);
  const [started] = await Promise.all([ProcessCluster.start(1), packAndInstall()]);
  cluster = started;
});

afterAll(async () => {
  await cluster?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * Every module a built file reaches: static and dynamic imports, re-exports, require, and the
 * triple-slash references of declarations (`types="node"` would need @types/node). TypeScript's
 * own scanner reads them, so a specifier quoted in a comment does not count.
 */
function specifiers(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  return [...info.importedFiles, ...info.referencedFiles, ...info.typeReferenceDirectives].map((reference) => reference.fileName);
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((file) => path.join(dir, file)).filter((file) => fs.statSync(file).isFile());
}

describe(`${NAME}, installed alone from its tarball`, () => {
  it("is the one package in node_modules: no SQLite build, no Fastify, no dependencies at all", () => {
    const top = fs.readdirSync(path.join(app, "node_modules")).filter((entry) => entry !== ".package-lock.json");
    expect(top).toEqual(["@flotilla"]);
    expect(fs.readdirSync(path.join(app, "node_modules/@flotilla"))).toEqual(["client"]);
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8")) as Record<string, unknown>;
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.optionalDependencies ?? {}).toEqual({});
    expect(manifest.peerDependencies ?? {}).toEqual({});
    const root = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(manifest.version).toBe(root.version);
  });

  it("ships the client and the limits it reads, and nothing else", () => {
    const outside = packedFiles.filter((file) => !/^dist\/(client\/[a-z-]+|util\/(limits|assert))\.(js|d\.ts)$/.test(file) && !["package.json", "README.md"].includes(file));
    expect(outside).toEqual([]);
    expect(packedFiles).toContain("dist/client/index.js");
    expect(packedFiles).toContain("dist/client/index.d.ts");
    expect(packedFiles).toContain("README.md");
    expect(packedFiles.filter((file) => file.includes(".test."))).toEqual([]);
  });

  it("imports only node: builtins and its own files", () => {
    const files = filesUnder(path.join(installed, "dist")).filter((file) => file.endsWith(".js") || file.endsWith(".d.ts"));
    expect(files.length).toBeGreaterThan(5);
    const problems: string[] = [];
    for (const file of files) {
      for (const specifier of specifiers(fs.readFileSync(file, "utf8"))) {
        if (specifier.startsWith("node:")) continue;
        const target = path.resolve(path.dirname(file), specifier);
        const inside = specifier.startsWith(".") && target.startsWith(installed + path.sep);
        const exists = fs.existsSync(file.endsWith(".d.ts") ? target.replace(/\.js$/, ".d.ts") : target);
        if (!inside || !exists) problems.push(`${path.relative(installed, file)} imports ${specifier}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("works from a plain Node ESM script against a real node", async () => {
    const endpoint = cluster.node("n1").clientAddress;
    fs.writeFileSync(
      path.join(app, "main.js"),
      `import { Client, FlotillaError } from "${NAME}";
const db = new Client({ endpoints: [process.argv[2]] });
const put = await db.put("from-the-package", "hello");
const kv = await db.get("from-the-package");
const missing = await db.get("not-there").catch((error) => (error instanceof FlotillaError ? error.code : String(error)));
console.log(JSON.stringify({ put, text: kv.text, version: kv.version, missing, leader: (await db.status()).leader }));
`,
    );
    const { stdout } = await run(process.execPath, ["main.js", endpoint], { cwd: app });
    const answer = JSON.parse(stdout) as { put: { key: string; revision: number }; text: string; version: number; missing: string; leader: string };
    expect(answer).toMatchObject({ put: { key: "from-the-package" }, text: "hello", version: 1, missing: "not_found", leader: "n1" });
    // The write is really in the node, as the server's own client sees it.
    const stored = await cluster.client(["n1"]).get("from-the-package");
    expect(stored.text).toBe("hello");
    expect(stored.modRevision).toBe(answer.put.revision);
  });

  it("gives TypeScript its types, without @types/node", async () => {
    fs.writeFileSync(
      path.join(app, "typed.ts"),
      `import { Client, FlotillaError, type KeyValue } from "${NAME}";
const db: Client = new Client();
export async function text(key: string): Promise<string | undefined> {
  const kv: KeyValue | null = await db.find(key);
  return kv?.text;
}
export const isMissing = (error: unknown): boolean => error instanceof FlotillaError && error.code === "not_found";
`,
    );
    const compilerOptions = { strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", lib: ["ES2023"], types: [] };
    fs.writeFileSync(path.join(app, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["typed.ts"] }));
    const result = await run(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: app }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? String(error) }));
    expect(result.stdout).toBe("");
  });
});
