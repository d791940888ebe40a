/**
 * The chat protocol: frames, codes and helpers. See `frames.ts` for the
 * schemas and `codes.ts` for the zod-free constants.
 * @module
 */
export * from "./codes.ts";
export * from "./frames.ts";
