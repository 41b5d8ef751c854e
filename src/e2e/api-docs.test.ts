/**
 * docs/api.md against a real node: every route its table lists is served (none answers
 * route_not_found), and a route it does not list is not. What a reader of the reference would
 * find out by trying each one with curl.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessCluster } from "./cluster.js";

const API_MD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/api.md");

let cluster: ProcessCluster;
let base: string;

beforeAll(async () => {
  cluster = await ProcessCluster.start(1);
  base = `http://${cluster.node("n1").clientAddress}`;
});

afterAll(async () => {
  await cluster?.close();
});

/** The "METHOD /path" of every row of the route table (`| [`PUT /v1/kv/{key}`](#...) | ...`). */
function documentedRoutes(): { method: string; path: string }[] {
  const text = fs.readFileSync(API_MD, "utf8");
  const routes = [...text.matchAll(/^\| \[`(GET|PUT|POST|DELETE) (\/[^`]*)`\]\(#[^)]*\) \|/gm)].map((match) => ({ method: match[1]!, path: match[2]! }));
  return routes;
}

async function codeOf(method: string, route: string): Promise<{ status: number; code: unknown }> {
  const url = base + route.replace("{key}", "doc-check").replace("{id}", "n9");
  const body = method === "PUT" ? "v" : method === "POST" ? "{}" : undefined;
  const response = await fetch(url, { method, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  let code: unknown;
  try {
    code = (JSON.parse(text) as { code?: unknown }).code;
  } catch {
    code = undefined;
  }
  return { status: response.status, code };
}

describe("docs/api.md", () => {
  it("lists every route a node serves, and each one is served", async () => {
    const routes = documentedRoutes();
    expect(routes.map((route) => `${route.method} ${route.path}`)).toEqual([
      "PUT /v1/kv/{key}",
      "GET /v1/kv/{key}",
      "DELETE /v1/kv/{key}",
      "GET /v1/kv",
      "POST /v1/txn",
      "GET /v1/status",
      "GET /v1/members",
      "POST /v1/members",
      "DELETE /v1/members/{id}",
      "POST /v1/members/{id}/promote",
      "POST /v1/leader/transfer",
      "GET /healthz",
      "GET /readyz",
      "GET /metrics",
    ]);
    const unserved: string[] = [];
    for (const route of routes) {
      const answer = await codeOf(route.method, route.path);
      if (answer.code === "route_not_found") unserved.push(`${route.method} ${route.path}: ${answer.status}`);
    }
    expect(unserved).toEqual([]);
  });

  it("says what an unknown route answers", async () => {
    expect(await codeOf("GET", "/v1/nothing")).toEqual({ status: 404, code: "route_not_found" });
    expect(await codeOf("POST", "/v1/members/n9/demote")).toEqual({ status: 404, code: "route_not_found" });
  });
});
