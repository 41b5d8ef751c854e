/**
 * One process per data directory: two nodes writing one WAL would corrupt it. The lock file
 * holds the owner's pid; a lock whose process is gone (a SIGKILL) is taken over.
 */
import fs from "node:fs";
import path from "node:path";
import { NodeError } from "./api.js";
import { isProcessAlive } from "../util/process.js";

const LOCK_FILE = "LOCK";

export class DataDirLock {
  readonly #file: string;
  #held = false;

  private constructor(file: string) {
    this.#file = file;
  }

  static acquire(dataDir: string): DataDirLock {
    const lock = new DataDirLock(path.join(dataDir, LOCK_FILE));
    lock.#take();
    return lock;
  }

  #take(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.#file, `${process.pid}\n`, { flag: "wx" });
        this.#held = true;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const owner = Number.parseInt(fs.readFileSync(this.#file, "utf8"), 10);
      if (Number.isSafeInteger(owner) && owner !== process.pid && isProcessAlive(owner)) {
        throw new NodeError("conflict", `the data directory ${path.dirname(this.#file)} is in use by process ${owner}`);
      }
      fs.rmSync(this.#file, { force: true }); // stale: its owner is gone
    }
    throw new NodeError("conflict", `could not lock the data directory ${path.dirname(this.#file)}`);
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    fs.rmSync(this.#file, { force: true });
  }
}

