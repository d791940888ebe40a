/**
 * Clients that carry an answer across a rolling restart by themselves,
 * through the real fleet (redis-server, two Deno instances, HAProxy): the
 * browser page in real Chromium (WebSocket, then SSE through EventSource),
 * and the AI SDK's own `WebSocketChatTransport` (its `reconnectToStream`).
 * Both instances are restarted one after another mid-answer; the answer
 * must arrive whole, no character missing or repeated.
 * @module
 */
import { assertEquals } from "@std/assert";
import { type UIMessageChunk, WebSocketChatTransport } from "ai";
import type { Page } from "playwright-core";
import { type Fleet, startFleet } from "../ops/fleet.ts";
import { HAS_CHROMIUM, launchChromium, warnIfNoChromium } from "./helpers/chromium.ts";
import { FLEET_IGNORE } from "./helpers/fleet.ts";

const CHUNKS = 60;
const CHUNK_BYTES = 4;
const FULL = "x".repeat(CHUNKS * CHUNK_BYTES);
warnIfNoChromium("The fleet e2e tests are");
const ignore = FLEET_IGNORE || !HAS_CHROMIUM;

/** Restarts every instance, one after another. */
async function restartAll(fleet: Fleet): Promise<void> {
  for (const instance of fleet.instances) await fleet.restart(instance);
}

const lastAnswer = ".log li.turn:last-child .answer";

/** Asks on the page, waits for part of the answer, restarts the fleet, returns the final text. */
async function askThroughRestarts(page: Page, fleet: Fleet, question: string) {
  await page.fill("#chat-input", question);
  await page.press("#chat-input", "Enter");
  await page.waitForFunction(
    (sel) => (document.querySelector(sel)?.textContent ?? "").length >= 20,
    lastAnswer,
  );
  await restartAll(fleet);
  await page.waitForSelector('.log li.turn:last-child:not([data-state="streaming"])', {
    timeout: 60_000,
  });
  return {
    state: await page.getAttribute(".log li.turn:last-child", "data-state"),
    text: (await page.textContent(lastAnswer))?.trim(),
  };
}

Deno.test({
  name: "fleet e2e: the page and the AI SDK transport carry an answer across a rolling restart",
  ignore,
  async fn(t) {
    const fleet = await startFleet({
      deno: 2,
      bun: 0,
      env: {
        AGENT: "synthetic",
        SYNTHETIC_CHUNKS: String(CHUNKS),
        SYNTHETIC_CHUNK_BYTES: String(CHUNK_BYTES),
        SYNTHETIC_INTERVAL_MS: "50",
        SHUTDOWN_TIMEOUT_MS: "20000",
      },
    });
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${fleet.url}/`);

      await t.step("WebSocket: the page resumes after 1012 on another instance", async () => {
        const { state, text } = await askThroughRestarts(page, fleet, "over the socket");
        assertEquals(state, "stop");
        assertEquals(text, FULL, "every chunk once, in order");
      });

      await t.step("SSE: EventSource reconnects with Last-Event-ID elsewhere", async () => {
        await page.click('label:has(input[value="sse"])');
        await page.click("button.new-chat");
        const { state, text } = await askThroughRestarts(page, fleet, "over SSE");
        assertEquals(state, "stop");
        assertEquals(text, FULL, "every chunk once, in order");
      });

      await t.step(
        "AI SDK: reconnectToStream replays the whole answer after a restart",
        async () => {
          const transport = new WebSocketChatTransport({ url: fleet.wsUrl });
          try {
            const stream = await transport.sendMessages({
              trigger: "submit-message",
              chatId: "fleet-aisdk",
              messageId: undefined,
              messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "hello" }] }],
              abortSignal: undefined,
            });
            const reader = stream.getReader();
            await reader.read();
            const restarting = restartAll(fleet);
            // The socket closes with 1012: the stream errors (or ends) here.
            try {
              while (!(await reader.read()).done) { /* the first socket's share */ }
            } catch {
              // Expected: the connection went away mid-answer.
            }
            const resumed = await transport.reconnectToStream({ chatId: "fleet-aisdk" });
            const chunks: UIMessageChunk[] = [];
            for await (const chunk of resumed!) chunks.push(chunk);
            await restarting;
            const text = chunks.map((c) => c.type === "text-delta" ? c.delta : "").join("");
            assertEquals(chunks.at(-1)?.type, "finish");
            assertEquals(text, FULL, "the replay holds every chunk once, in order");
          } finally {
            transport.close();
          }
        },
      );
    } finally {
      await browser.close();
      await fleet.close();
    }
  },
});
