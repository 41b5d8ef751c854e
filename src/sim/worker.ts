/** A worker thread of `flotilla sim`: runs the seeds it is sent, one at a time. */
import { parentPort } from "node:worker_threads";
import { runSeedJob, type SeedJob } from "./seed-job.js";

const port = parentPort;
if (port === null) throw new Error("src/sim/worker.js runs only as a worker thread of `flotilla sim`");
port.on("message", (job: SeedJob) => port.postMessage(runSeedJob(job)));
