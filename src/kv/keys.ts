/**
 * Keys are UTF-8 strings, stored as BLOBs so that SQLite orders them with memcmp, i.e. in the
 * byte order of their UTF-8 encoding (which is also code point order), and so that a prefix's
 * upper bound can be any byte string, valid UTF-8 or not.
 */
import { KEY_BYTES_MAX } from "../util/limits.js";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `text` cannot be a key or prefix, or undefined when it can. */
export function keyProblem(text: unknown, what: string, options: { emptyAllowed: boolean }): string | undefined {
  if (typeof text !== "string") return `${what} must be a string`;
  if (text.length === 0) return options.emptyAllowed ? undefined : `${what} must not be empty`;
  if (LONE_SURROGATE.test(text)) return `${what} is not valid Unicode (lone surrogate)`;
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > KEY_BYTES_MAX) return `${what} is ${bytes} bytes, more than the ${KEY_BYTES_MAX} allowed`;
  return undefined;
}

export function keyBytes(key: string): Buffer {
  return Buffer.from(key, "utf8");
}

export function keyFromBytes(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

/**
 * The smallest byte string greater than every string that starts with `prefix`, or undefined
 * when there is none (an empty prefix, or one made only of 0xFF bytes): the range is then
 * unbounded above. Same rule as etcd's GetPrefixRangeEnd.
 */
export function prefixUpperBound(prefix: Uint8Array): Buffer | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = prefix[i]! + 1;
      return end;
    }
  }
  return undefined;
}
