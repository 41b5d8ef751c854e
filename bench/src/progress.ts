/**
 * One progress line on stderr per workload: rewritten in place on a terminal, printed once
 * when it is done otherwise (a CI log gets one line per workload, not hundreds).
 */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #label: string;
  readonly #live: boolean;

  constructor(label: string, stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#label = label;
    this.#live = stream.isTTY === true;
  }

  update(text: string): void {
    if (this.#live) this.#stream.write(`\r${this.#label}  ${text}\x1b[K`);
  }

  done(text: string): void {
    this.#stream.write(this.#live ? `\r${this.#label}  ${text}\x1b[K\n` : `${this.#label}  ${text}\n`);
  }
}

/** "[#########-----------]  45%" */
export function bar(fraction: number, width = 24): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(clamped * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(Math.round(clamped * 100)).padStart(3)}%`;
}
