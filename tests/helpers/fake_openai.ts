/**
 * A local fake of an OpenAI-compatible `/v1/chat/completions` server that
 * speaks the real streaming wire format (SSE `data:` chunks, `[DONE]`).
 * The first turn of a conversation calls the calculator tool; once the tool
 * result is in the messages, it answers with text. Options make it hostile:
 * thousands of parallel tool calls, or one call with a huge argument.
 * Scripted questions: one containing `[long]` streams words for a long time
 * (about 125 a second), one containing `[code]` answers with
 * {@link CODE_ANSWER}. It counts the streams it has open, so a test can see
 * the model stream close.
 * @module
 */

/** How the fake's first answer misbehaves. */
export interface FakeOpenAiOptions {
  /** Parallel calculator calls in the first answer (default 1). */
  toolCalls?: number;
  /** Pads the calculator expression with this many spaces (a huge argument). */
  argumentPadding?: number;
}

/** The `[code]` answer: a fenced TypeScript block, a numbered list and a quote. */
export const CODE_ANSWER = "Here is the code:\n\n```ts\nconst answer: number = 42;\n" +
  'console.log("answer", answer);\n```\n\n1. first step\n2. second step\n\n> a quoted line\n';

/** A running fake upstream. */
export interface FakeOpenAi {
  /** Base URL ending in `/v1`. */
  baseUrl: string;
  /** JSON bodies of every request received. */
  requests: Record<string, unknown>[];
  /** Streams still open (a `[long]` answer until its client goes away). */
  readonly open: number;
  /** Words sent by `[long]` answers so far. */
  readonly words: number;
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

const encoder = new TextEncoder();

/** A `[long]` answer: a word every `intervalMs` until `maxWords` or the client leaves. */
function longStream(
  counters: { open: number; words: number },
  { intervalMs = 8, maxWords = 5_000 } = {},
): ReadableStream<Uint8Array> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sent = 0;
  let closed = false;
  const finish = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    counters.open--;
  };
  counters.open++;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode(chunk({ role: "assistant", content: "" })));
      const tick = () => {
        if (closed) return;
        if (sent >= maxWords) {
          controller.enqueue(encoder.encode(chunk({}, "stop") + "data: [DONE]\n\n"));
          controller.close();
          return finish();
        }
        sent++;
        counters.words++;
        const line = sent % 12 === 0 ? "\n\n" : " ";
        controller.enqueue(encoder.encode(chunk({ content: `word${sent}${line}` })));
        timer = setTimeout(tick, intervalMs);
      };
      tick();
    },
    cancel: finish,
  });
}

/** Starts the fake on a free port. */
export function startFakeOpenAi(options: FakeOpenAiOptions = {}): FakeOpenAi {
  const requests: Record<string, unknown>[] = [];
  const counters = { open: 0, words: 0 };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      if (new URL(request.url).pathname !== "/v1/chat/completions") {
        return new Response("not found", { status: 404 });
      }
      const body = await request.json();
      requests.push(body);
      const messages = body.messages as { role: string; content?: unknown }[];
      const last = messages.at(-1);
      const asked = last?.role === "user" ? JSON.stringify(last.content) : "";
      const headers = { "content-type": "text/event-stream" };
      if (asked.includes("[long]")) return new Response(longStream(counters), { headers });
      if (asked.includes("[code]")) {
        const parts = [
          chunk({ role: "assistant", content: "" }),
          chunk({ content: CODE_ANSWER }),
          chunk({}, "stop"),
        ];
        return new Response(parts.join("") + "data: [DONE]\n\n", { headers });
      }
      const parts = last?.role === "tool"
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
    get open() {
      return counters.open;
    },
    get words() {
      return counters.words;
    },
    close: () => server.shutdown(),
  };
}
