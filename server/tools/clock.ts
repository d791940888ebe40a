/**
 * The current-time tool.
 * @module
 */

/** What the clock tool returns. */
export interface ClockReading {
  /** ISO 8601 in UTC. */
  iso: string;
  /** A readable UTC date and time. */
  text: string;
}

/** Reads the clock (`now` is injectable for tests). */
export function readClock(now: Date = new Date()): ClockReading {
  return {
    iso: now.toISOString(),
    text: now.toLocaleString("en-GB", {
      timeZone: "UTC",
      dateStyle: "full",
      timeStyle: "long",
    }),
  };
}
