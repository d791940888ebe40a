/**
 * Reads a real SSE response with `eventsource-parser`, for tests.
 * @module
 */
import { type EventSourceMessage, EventSourceParserStream } from "eventsource-parser/stream";

/** One parsed SSE event plus the parsed JSON of its data. */
export interface SseEvent extends EventSourceMessage {
  json: Record<string, unknown>;
}

/** Reads every event of an SSE response body until the stream ends. */
export async function readSse(response: Response): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const event of sseEvents(response)) events.push(event);
  return events;
}

/** Iterates the events of an SSE response body. */
export async function* sseEvents(response: Response): AsyncGenerator<SseEvent> {
  if (!response.body) throw new Error("Response has no body");
  const stream = response.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream());
  for await (const event of stream) {
    yield { ...event, json: JSON.parse(event.data) };
  }
}
