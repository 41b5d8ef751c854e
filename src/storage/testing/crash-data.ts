/** The data of entry `index` in the SIGKILL test: derived from the index, of varying size. */
export function crashDataFor(index: number): Uint8Array {
  const text = `entry ${index};`;
  return new Uint8Array(Buffer.from(text.padEnd(text.length + ((index * 7919) % 1500), "#")));
}
