/**
 * A hub subscriber that collects what it is delivered, for tests of the
 * stream hub.
 * @module
 */
import type { Subscriber } from "../../server/streams/hub.ts";
import type { LoggedEvent } from "../../server/store/types.ts";

/** What {@link collector} returns. */
export interface Collector {
  /** Every event delivered, in order. */
  items: LoggedEvent[];
  /** Settles once a final event (`finish` or `error`) was delivered. */
  ended: Promise<void>;
  /** The subscriber to hand to the hub. */
  subscriber: Subscriber;
}

/** A subscriber that keeps every event and says when the answer ended. */
export function collector(): Collector {
  const items: LoggedEvent[] = [];
  const { promise: ended, resolve } = Promise.withResolvers<void>();
  const subscriber: Subscriber = {
    deliver(item) {
      items.push(item);
      if (item.event.type === "finish" || item.event.type === "error") resolve();
    },
  };
  return { items, ended, subscriber };
}
