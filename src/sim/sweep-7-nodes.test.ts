// Seeds of the default test run for 7-node clusters with every fault. A failure prints the
// command that replays the seed.
import { describeSweep } from "./testing/sweep.js";

describeSweep(7);
