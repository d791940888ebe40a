/**
 * A local fake of an OpenAI-compatible `/v1/chat/completions` server that
 * speaks the real streaming wire format (SSE `data:` chunks, `[DONE]`).
 * The first turn of a conversation calls the calculator tool; once the tool
 * result is in the messages, it answers with text. Options make it hostile:
 * thousands of parallel tool calls, or one call with a huge argument.
 * @module
 */

/** How the fake's first answer misbehaves. */
export interface FakeOpenAiOptions {
  /** Parallel calculator calls in the first answer (default 1). */
  toolCalls?: number;
  /** Pads the calculator expression with this many spaces (a huge argument). */
  argumentPadding?: number;
}

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

/** The first answer: `count` parallel calculator calls, streamed in pieces like OpenAI does. */
function toolCallParts(count: number, padding: number): string[] {
  const parts = [chunk({ role: "assistant", content: null })];
  for (let index = 0; index < count; index++) {
    const id = `call_fake_${index + 1}`;
    parts.push(
      chunk({
        tool_calls: [{
          index,
          id,
          type: "function",
          function: { name: "calculator", arguments: "" },
        }],
      }),
      chunk({ tool_calls: [{ index, function: { arguments: '{"expression":' } }] }),
      chunk({ tool_calls: [{ index, function: { arguments: `"6*7${" ".repeat(padding)}"}` } }] }),
    );
  }
  parts.push(chunk({}, "tool_calls"));
  return parts;
}

/** Starts the fake on a free port. */
export function startFakeOpenAi(options: FakeOpenAiOptions = {}): FakeOpenAi {
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
        : toolCallParts(options.toolCalls ?? 1, options.argumentPadding ?? 0);
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
