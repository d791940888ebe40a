/**
 * End-to-end tests of the chat page in real Chromium (Debian's
 * `/usr/bin/chromium` driven by `playwright-core`; no browser is ever
 * downloaded). Ignored, with a message, when Chromium is not installed.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type { Page } from "playwright-core";
import { ensureClientBuild } from "../client/build.ts";
import type { Agent, AgentEvent } from "../server/agents/types.ts";
import { HAS_CHROMIUM, launchChromium, warnIfNoChromium } from "./helpers/chromium.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

warnIfNoChromium("E2E browser tests are");

const ARTIFACTS = new URL("./artifacts/", import.meta.url);

/** Answers with hostile HTML mixed into markdown. */
function xssAgent(): Agent {
  const chunks = [
    "Here is **bold** text ",
    '<img src=x onerror="window.__xss=1">',
    " and <script>window.__xss=2<",
    "/script> and [a link](javascript:window.__xss=3) ",
    '<a href="javascript:window.__xss=4">click</a> ',
    '<svg onload="window.__xss=5"></svg> done.',
  ];
  return {
    name: "xss",
    async *stream(): AsyncIterable<AgentEvent> {
      for (const delta of chunks) {
        await new Promise((r) => setTimeout(r, 5));
        yield { type: "text-delta", delta };
      }
    },
  };
}

const launch = () => launchChromium();

/** Loads the page and waits until the islands are hydrated and connected. */
async function open(page: Page, url: string, connected = /Connected|Ready/): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('[data-island="Chat"][data-hydrated]');
  await page.waitForFunction(
    (pattern) =>
      new RegExp(pattern).test(
        document.querySelector("[data-testid=connection]")?.textContent ?? "",
      ),
    connected.source,
  );
}

async function ask(page: Page, question: string): Promise<void> {
  await page.fill("#chat-input", question);
  await page.press("#chat-input", "Enter");
}

const lastTurn = ".log li.turn:last-child";

async function waitEnded(page: Page): Promise<string> {
  await page.waitForSelector(`${lastTurn}:not([data-state="streaming"])`);
  return await page.getAttribute(lastTurn, "data-state") ?? "";
}

Deno.test({
  name: "e2e: chat page in Chromium",
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await ensureClientBuild();
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const server: TestServer = await startServer({ DEMO_DELAY_MS: "30" });
    const hostile: TestServer = await startServer({}, { agent: xssAgent() });
    const browser = await launch();
    let hostileClosed = false;
    const errors: string[] = [];
    const page = browser.context.pages()[0] ?? await browser.context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("dialog", (d) => {
      errors.push(`dialog: ${d.message()}`);
      d.dismiss();
    });
    try {
      await t.step("the server-rendered page works before JavaScript", async () => {
        const res = await fetch(`${server.url}/`);
        const html = await res.text();
        assertStringIncludes(html, 'data-island="Chat"');
        assertStringIncludes(html, "No messages yet");
        assertMatch(html, /<script type="module" src="\/static\/boot-[0-9a-f]+\.js">/);
      });

      await t.step("load /, ask over WebSocket and see the answer stream in", async () => {
        await open(page, `${server.url}/`);
        assertEquals(await page.textContent("[data-testid=connection]"), "Connected");
        await ask(page, "what is 2+3*4");
        // Seen mid-stream: some text and still streaming.
        await page.waitForFunction((sel) => {
          const li = document.querySelector(sel);
          return li?.getAttribute("data-state") === "streaming" &&
            (li.querySelector(".answer")?.textContent ?? "").length > 0;
        }, lastTurn);
        assertEquals(await page.textContent(".send"), "Stop");
        assertEquals(await waitEnded(page), "stop");
        assertStringIncludes(await page.textContent(`${lastTurn} .answer`) ?? "", "14");
        assertEquals(await page.textContent(`${lastTurn} .tool .tool-name`), "calculator");
        assertEquals(await page.textContent(".send"), "Send");
        assertEquals(await page.evaluate(() => document.activeElement?.id), "chat-input");
        await page.waitForSelector(`${lastTurn} .answer.md`);
        assertMatch(
          await page.textContent('.metric[data-transport="ws"]') ?? "",
          /first chunk \d+ ms/,
        );
      });

      await t.step("Stop ends the answer mid-stream", async () => {
        await ask(page, "hello, who are you?");
        await page.waitForFunction(
          (sel) => (document.querySelector(`${sel} .answer`)?.textContent ?? "").length > 0,
          lastTurn,
        );
        await page.click("button.stop");
        assertEquals(await waitEnded(page), "cancelled");
        assertEquals(await page.textContent(`${lastTurn} [data-testid=stopped]`), "Stopped");
        const text = await page.textContent(`${lastTurn} .answer`) ?? "";
        assert(!text.includes("remember what you asked"), "the answer was cut short");
        // A next question still works on the same socket.
        await ask(page, "what is 6*7");
        assertEquals(await waitEnded(page), "stop");
        assertStringIncludes(await page.textContent(`${lastTurn} .answer`) ?? "", "42");
      });

      await t.step("switch to SSE and get an answer", async () => {
        await page.click('label:has(input[value="sse"])');
        await page.waitForSelector("[data-testid=connection]:has-text('Ready')");
        await ask(page, "what is 10-3");
        assertEquals(await waitEnded(page), "stop");
        assertStringIncludes(await page.textContent(`${lastTurn} .answer`) ?? "", "7");
        assertMatch(
          await page.textContent('.metric[data-transport="sse"]') ?? "",
          /first chunk \d+ ms/,
        );
        assertEquals(await page.evaluate(() => localStorage.getItem("chat.transport")), "sse");
        await page.screenshot({ path: new URL("chat.png", ARTIFACTS).pathname });
      });

      await t.step("reload restores the history and the transport", async () => {
        const session = await page.evaluate(() => localStorage.getItem("chat.session_id"));
        assert(session);
        await page.reload();
        // Rendered by the server: present before hydration.
        const html = await page.content();
        assertStringIncludes(html, "what is 2+3*4");
        await page.waitForSelector('[data-island="Chat"][data-hydrated]');
        assertEquals(await page.locator(".log li.turn").count(), 4);
        assertEquals(
          await page.getAttribute(".log li.turn:nth-child(2)", "data-state"),
          "cancelled",
        );
        assert(await page.isChecked('input[value="sse"]'));
        assertEquals(
          await page.evaluate(() => localStorage.getItem("chat.session_id")),
          session,
        );
        // localStorage is the source of truth: without the cookie, the page
        // restores it and reloads once to get the history rendered.
        await browser.context.clearCookies();
        await page.reload();
        await page.waitForFunction(() => document.querySelectorAll(".log li.turn").length === 4);
        await page.waitForSelector('[data-island="Chat"][data-hydrated]');
        const cookies = await browser.context.cookies(server.url);
        assertEquals(cookies.find((c) => c.name === "session_id")?.value, session);
      });

      await t.step("Shift+Enter adds a new line, Enter sends", async () => {
        await page.fill("#chat-input", "what is 1+1");
        await page.press("#chat-input", "Shift+Enter");
        await page.keyboard.type("please");
        assertEquals(await page.inputValue("#chat-input"), "what is 1+1\nplease");
        assertEquals(await page.locator(".log li.turn").count(), 4);
        await page.press("#chat-input", "Enter");
        assertEquals(await waitEnded(page), "stop");
        assertEquals(await page.inputValue("#chat-input"), "");
        assertEquals(await page.locator(".log li.turn").count(), 5);
      });

      await t.step("New chat starts an empty session that survives reload", async () => {
        await page.click("button.new-chat");
        assertEquals(await page.locator(".log li.turn").count(), 0);
        assertEquals(await page.evaluate(() => document.activeElement?.id), "chat-input");
        await page.reload();
        await page.waitForSelector('[data-island="Chat"][data-hydrated]');
        assertEquals(await page.locator(".log li.turn").count(), 0);
      });

      await t.step("a narrow screen keeps the composer in view", async () => {
        await page.setViewportSize({ width: 360, height: 640 });
        await page.click('label:has(input[value="ws"])');
        await ask(page, "what time is it");
        assertEquals(await waitEnded(page), "stop");
        const box = await page.locator(".composer").boundingBox();
        assert(box && box.y + box.height <= 640 && box.width <= 360);
        const overflow = await page.evaluate(() =>
          document.documentElement.scrollWidth > document.documentElement.clientWidth
        );
        assert(!overflow, "no horizontal scroll");
        await page.screenshot({ path: new URL("chat-narrow.png", ARTIFACTS).pathname });
        await page.setViewportSize({ width: 900, height: 760 });
      });

      await t.step("model HTML never executes (XSS)", async () => {
        await browser.context.clearCookies();
        await open(page, `${hostile.url}/`);
        await ask(page, "show me something nasty");
        assertEquals(await waitEnded(page), "stop");
        await page.waitForSelector(`${lastTurn} .answer.md strong`);
        const check = () =>
          page.evaluate((sel) => {
            const answer = document.querySelector(`${sel} .answer`)!;
            return {
              xss: (window as unknown as { __xss?: number }).__xss,
              handlers: answer.querySelectorAll("[onerror],[onload],script,svg").length,
              jsLinks: [...answer.querySelectorAll("a")].filter((a) =>
                a.getAttribute("href")?.startsWith("javascript:")
              ).length,
              text: answer.textContent,
            };
          }, lastTurn);
        const live = await check();
        assertEquals(live.xss, undefined);
        assertEquals(live.handlers, 0);
        assertEquals(live.jsLinks, 0);
        assertStringIncludes(live.text ?? "", "done.");
        // Click what is left of the links: still nothing runs.
        for (const link of await page.locator(`${lastTurn} .answer a`).all()) {
          await link.click({ modifiers: ["Alt"] }).catch(() => {});
        }
        await page.reload();
        await page.waitForSelector(`${lastTurn} .answer.md strong`);
        const restored = await check();
        assertEquals(restored.xss, undefined);
        assertEquals(restored.handlers, 0);
        assertEquals(errors, []);
      });

      await t.step("a dropped server shows Reconnecting", async () => {
        await page.waitForSelector("[data-testid=connection]:has-text('Connected')");
        await hostile.close();
        hostileClosed = true;
        await page.waitForSelector("[data-testid=connection]:has-text('Reconnecting')");
      });
    } finally {
      await browser.close();
      await server.close();
      if (!hostileClosed) await hostile.close();
    }
  },
});
