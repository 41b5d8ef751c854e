/**
 * The process the SIGKILL test kills: it opens the WAL in argv[2], then appends one entry at a
 * time from several concurrent appenders (so batches form) and prints "ack <index>" only after
 * each append resolved, i.e. once the entry is durable. Entry data is derived from the index
 * (crashDataFor), so the test can check content, not only presence.
 */
import { EntryType } from "../../raft/types.js";
import { Wal } from "../wal.js";
import { crashDataFor } from "./crash-data.js";

const APPENDERS = 8;

async function main(): Promise<void> {
  const [dir, segmentBytes, term] = process.argv.slice(2);
  if (dir === undefined || segmentBytes === undefined || term === undefined) throw new Error("usage: crash-child <dir> <segmentBytesMax> <term>");
  const { wal } = await Wal.open(dir, { segmentBytesMax: Number(segmentBytes) });
  let next = wal.lastIndex();
  process.stdout.write(`ready ${next}\n`);
  const appender = async (): Promise<void> => {
    for (;;) {
      const index = ++next;
      await wal.append([{ index, term: Number(term), type: EntryType.Normal, data: crashDataFor(index) }], { term: Number(term), vote: "n1", commit: index - 1 });
      process.stdout.write(`ack ${index}\n`);
    }
  };
  await Promise.all(Array.from({ length: APPENDERS }, appender));
}

main().catch((error: unknown) => {
  process.stderr.write(`crash-child failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
