/** A worker thread of `flotilla sim`: runs the seeds it is sent, one at a time. */
import { parentPort } from "node:worker_threads";
import { runSeedJob, type SeedJob } from "./seed-job.js";

const port = parentPort;
if (port === null) throw new Error("src/sim/worker.js runs only as a worker thread of `flotilla sim`");
// One seed at a time: a simulation owns the thread's event loop while it runs.
let queue = Promise.resolve();
port.on("message", (job: SeedJob) => {
  queue = queue.then(async () => port.postMessage(await runSeedJob(job)));
});
