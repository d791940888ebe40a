/**
 * A local fake of an OpenAI-compatible `/v1/chat/completions` server that
 * speaks the real streaming wire format (SSE `data:` chunks, `[DONE]`).
 * The first turn of a conversation calls the calculator tool; once the tool
 * result is in the messages, it answers with text.
 * @module
 */

/** A running fake upstream. */
export interface FakeOpenAi {
  /** Base URL ending in `/v1`. */
  baseUrl: string;
  /** JSON bodies of every request received. */
  requests: Record<string, unknown>[];
  /** Stops the server. */
  close(): Promise<void>;
}

function chunk(
  delta: Record<string, unknown>,
  finish: string | null = null,
): string {
  return `data: ${
    JSON.stringify({
      id: "chatcmpl-fake",
      object: "chat.completion.chunk",
      created: 1,
      model: "fake-model",
      choices: [{ index: 0, delta, finish_reason: finish }],
    })
  }\n\n`;
}

/** Starts the fake on a free port. */
export function startFakeOpenAi(): FakeOpenAi {
  const requests: Record<string, unknown>[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      if (new URL(request.url).pathname !== "/v1/chat/completions") {
        return new Response("not found", { status: 404 });
      }
      const body = await request.json();
      requests.push(body);
      const messages = body.messages as { role: string }[];
      const parts = messages.at(-1)?.role === "tool"
        ? [
          chunk({ role: "assistant", content: "" }),
          chunk({ content: "The answer " }),
          chunk({ content: "is 42." }),
          chunk({}, "stop"),
        ]
        : [
          chunk({
            role: "assistant",
            content: null,
            tool_calls: [{
              index: 0,
              id: "call_fake_1",
              type: "function",
              function: { name: "calculator", arguments: "" },
            }],
          }),
          chunk({
            tool_calls: [{
              index: 0,
              function: { arguments: '{"expression":' },
            }],
          }),
          chunk({
            tool_calls: [{ index: 0, function: { arguments: '"6*7"}' } }],
          }),
          chunk({}, "tool_calls"),
        ];
      const text = parts.join("") + "data: [DONE]\n\n";
      return new Response(text, {
        headers: { "content-type": "text/event-stream" },
      });
    },
  );
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/v1`,
    requests,
    close: () => server.shutdown(),
  };
}
