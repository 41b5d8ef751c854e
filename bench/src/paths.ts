/**
 * Where the harness finds the product it measures and puts its results. The harness runs from
 * bench/src (its tests, under vitest) or from its build in bench/dist: both two folders below
 * the repository's root.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The product's own build (`npm run build`), which the harness runs as any user would. */
export const PRODUCT_DIST = path.join(REPO_ROOT, "dist");
export const CLI_PATH = path.join(PRODUCT_DIST, "cli/main.js");
export const RESULTS_DIR = path.join(REPO_ROOT, "bench/results");
