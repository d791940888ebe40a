/**
 * The browser's SSE pipe against a real server over the answer budget
 * (issue 15): the server refuses with a 429 before any stream starts,
 * which a native EventSource cannot read; the pipe's
 * {@link FetchEventSource} can, so the user sees the `rate_limited`
 * error with its wait, not "connection lost". In Deno, then on the page
 * in real Chromium.
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { ServerFrame } from "../protocol/frames.ts";
import { ensureClientBuild } from "../client/build.ts";
import { FetchEventSource } from "../client/transport/fetch_event_source.ts";
import { SseTransport } from "../client/transport/sse.ts";
import { EventSourceState } from "../client/transport/types.ts";
import { HAS_CHROMIUM, launchChromium } from "./helpers/chromium.ts";
import { startServer } from "./helpers/server.ts";

/** One answer asked over `transport`: its frames, or the lost message. */
function askOnce(transport: SseTransport, requestId: string): Promise<ServerFrame[] | string> {
  const frames: ServerFrame[] = [];
  return new Promise((resolve) => {
    transport.ask({ query: "hi", requestId }, {
      frame: (frame) => {
        frames.push(frame);
        if (frame.type === "done" || frame.type === "error") resolve(frames);
      },
      lost: (message) => resolve(message),
    });
  });
}

Deno.test("FetchEventSource reads a real stream like EventSource, and a refusal's status and body", async () => {
  const server = await startServer({ KEY_ANSWERS_PER_MINUTE: "1" });
  try {
    const url = `${server.url}/agent_chat_stream?query=hi&request_id=fes-1`;
    const source = new FetchEventSource(url);
    const messages: MessageEvent[] = [];
    await new Promise<void>((resolve) => {
      source.onmessage = (event) => {
        messages.push(event);
        if (JSON.parse(event.data).type === "done") resolve();
      };
    });
    assertEquals(source.readyState, EventSourceState.Open);
    source.close();
    assertEquals(messages.at(-1)?.lastEventId, `fes-1:${JSON.parse(messages.at(-1)!.data).seq}`);
    assertEquals(source.refusal, undefined);

    const refused = new FetchEventSource(`${server.url}/agent_chat_stream?query=hi`);
    await new Promise<void>((resolve) => (refused.onerror = () => resolve()));
    assertEquals(refused.readyState, EventSourceState.Closed);
    assertEquals(refused.refusal?.status, 429);
    assertEquals(refused.refusal?.code, "rate_limited");
    assert((refused.refusal?.retryAfter ?? 0) >= 1);
    assertStringIncludes(refused.refusal?.message ?? "", "Too many answers");
  } finally {
    await server.close();
  }
});

Deno.test("SseTransport over the answer budget ends the answer with rate_limited and its wait, not as lost", async () => {
  const server = await startServer({ KEY_ANSWERS_PER_MINUTE: "1" });
  const transport = new SseTransport({ baseUrl: server.url, EventSource: FetchEventSource });
  try {
    const first = await askOnce(transport, "ok-1");
    assert(typeof first !== "string", `the first answer was lost: ${first}`);
    assertEquals(first.at(-1)?.type, "done");
    const second = await askOnce(transport, "refused-1");
    assert(typeof second !== "string", `the refusal was reported as lost: ${second}`);
    const error = second.at(-1);
    assert(error?.type === "error");
    assertEquals(error.code, "rate_limited");
    assertEquals(error.request_id, "refused-1");
    assert((error.retry_after ?? 0) >= 1);
    assertStringIncludes(error.message, `try again in ${error.retry_after} s`);
    assertEquals(transport.state, "idle", "no probe: the server is up");
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test({
  name: "e2e: over the answer budget the page shows the rate limit on SSE (Chromium)",
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await ensureClientBuild();
    const server = await startServer({ KEY_ANSWERS_PER_MINUTE: "1" });
    const browser = await launchChromium();
    try {
      const page = browser.context.pages()[0] ?? await browser.context.newPage();
      await page.goto(`${server.url}/`);
      await page.waitForSelector('[data-island="Chat"][data-hydrated]');
      await page.click('label:has(input[value="sse"])');
      await page.waitForSelector("[data-testid=connection]:has-text('Ready')");
      const turn = ".log li.turn:last-child";
      for (const question of ["first", "second"]) {
        await page.fill("#chat-input", question);
        await page.press("#chat-input", "Enter");
        await page.waitForSelector(`${turn}:not([data-state="streaming"])`);
      }
      assertEquals(await page.getAttribute(turn, "data-state"), "error");
      const note = await page.textContent(`${turn} [role=alert]`) ?? "";
      assertStringIncludes(note, "Too many answers");
      assertStringIncludes(note, "try again in");
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
