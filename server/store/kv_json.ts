/**
 * The form of Deno KV's history values (turns and session metas): UTF-8
 * JSON bytes. KV stores a `Uint8Array` as it is, where an object goes
 * through V8's serializer and costs more on both sides of a commit (about
 * half again for a turn and its meta). Values written as objects by
 * earlier versions read as they are.
 * @module
 */
import { turnBytes } from "./retention.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `json` as the value KV stores: its UTF-8 bytes. */
export function encodeJson(json: string): Uint8Array {
  return encoder.encode(json);
}

/** A stored value as it was written: bytes parsed as JSON, an object (written before) as it is. */
export function decodeJson<T>(value: unknown): T {
  return (value instanceof Uint8Array ? JSON.parse(decoder.decode(value)) : value) as T;
}

/** The UTF-8 bytes of a stored value's JSON ({@link turnBytes}), whichever its form. */
export function jsonBytes(value: unknown): number {
  return value instanceof Uint8Array ? value.byteLength : turnBytes(JSON.stringify(value) ?? "");
}
