/**
 * Values are bytes; JSON carries them as UTF-8 strings, or as base64 when the request says
 * `encoding=base64` (api.md). A value that is not valid UTF-8, asked for without base64, is
 * sent as base64 with `"encoding": "base64"` in its kv: a string with replacement characters
 * would silently lose the bytes.
 */
import type { KeyValue } from "../kv/index.js";
import { VALUE_BYTES_MAX } from "../util/limits.js";
import { badInput, tooLarge } from "./errors.js";
import type { ValueEncoding } from "./input.js";

/** fatal: invalid UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a leading BOM is kept, not eaten. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export interface KeyValueJson {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
  /** Present only when the value is base64 although the request did not ask for it. */
  readonly encoding?: "base64";
}

/** The value as JSON text, and whether it fell back to base64. */
export function valueText(value: Uint8Array, encoding: ValueEncoding): { text: string; fellBack: boolean } {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (encoding === "base64") return { text: bytes.toString("base64"), fellBack: false };
  try {
    return { text: strictUtf8.decode(bytes), fellBack: false };
  } catch {
    return { text: bytes.toString("base64"), fellBack: true };
  }
}

export function keyValueJson(kv: KeyValue, encoding: ValueEncoding): KeyValueJson {
  const { text, fellBack } = valueText(kv.value, encoding);
  const json: { -readonly [K in keyof KeyValueJson]: KeyValueJson[K] } = { key: kv.key, value: text, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease };
  if (fellBack) json.encoding = "base64";
  return json;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A value inside a JSON body: a UTF-8 string, or strict base64 when `encoding` says so. */
export function valueFromJson(raw: unknown, encoding: ValueEncoding, what: string): Uint8Array {
  if (typeof raw !== "string") throw badInput("invalid_argument", `${what} must be a string${encoding === "base64" ? " of base64" : ""}`);
  let bytes: Buffer;
  if (encoding === "base64") {
    if (!BASE64.test(raw)) throw badInput("invalid_argument", `${what} is not valid base64 (encoding=base64 was asked for)`);
    bytes = Buffer.from(raw, "base64");
  } else {
    if (LONE_SURROGATE.test(raw)) throw badInput("invalid_argument", `${what} is not valid Unicode (lone surrogate); send bytes with encoding=base64`);
    bytes = Buffer.from(raw, "utf8");
  }
  return checkValueSize(bytes, what);
}

export function checkValueSize<T extends Uint8Array>(bytes: T, what: string): T {
  if (bytes.byteLength > VALUE_BYTES_MAX) throw tooLarge("value_too_large", `${what} is ${bytes.byteLength} bytes, more than the ${VALUE_BYTES_MAX} allowed`);
  return bytes;
}
