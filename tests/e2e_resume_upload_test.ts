/**
 * End-to-end tests of resume and attach in real Chromium (Debian's
 * `/usr/bin/chromium` driven by `playwright-core`; no browser is ever
 * downloaded): a file attached through the file input is uploaded over the
 * WebSocket and answered from; a WebSocket dropped mid-answer is resumed and
 * the answer completes with no word lost or repeated. The drop is a real one:
 * the page talks to the server through a TCP proxy in this test, which cuts
 * every connection (the browser sees close 1006, the server an abnormal
 * close) and refuses new ones for a moment. (`context.setOffline(true)` does
 * not close an open WebSocket in Chromium, so it cannot cause the drop.) Ignored, with a message, when Chromium is
 * not installed.
 */
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type { Page } from "playwright-core";
import { ensureClientBuild } from "../client/build.ts";
import { HAS_CHROMIUM, launchChromium, warnIfNoChromium } from "./helpers/chromium.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

warnIfNoChromium("E2E resume/upload tests are");

const ARTIFACTS = new URL("./artifacts/", import.meta.url);

/** The demo agent's answer to "hello, who are you?", as text (markdown marks removed). */
const INTRO = "I am the offline demo agent of this chat service: no language model, " +
  "just a few real tools. I can do arithmetic (try what is 12 * (3 + 4)?), " +
  "tell the time, search this project's documentation (try how do I run the benchmarks?), " +
  "and remember what you asked earlier in this chat.";

/** A TCP proxy to `target` that can cut its connections and refuse new ones. */
function tcpProxy(target: { hostname: string; port: number }) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let refusing = false;
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
    } catch {
      // Cut.
    }
    for (const conn of [from, to]) {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      if (refusing) {
        client.close();
        continue;
      }
      try {
        const upstream = await Deno.connect(target);
        open.add(client).add(upstream);
        void pipe(client, upstream);
        void pipe(upstream, client);
      } catch {
        client.close();
      }
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    /** Closes every open connection; refuses new ones until {@link restore}. */
    cut() {
      refusing = true;
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      open.clear();
    },
    restore() {
      refusing = false;
    },
    async close() {
      this.cut();
      listener.close();
      await accepting;
    },
  };
}

const launch = () => launchChromium();

async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('[data-island="Chat"][data-hydrated]');
  await page.waitForSelector("[data-testid=connection]:has-text('Connected')");
}

async function ask(page: Page, question: string): Promise<void> {
  await page.fill("#chat-input", question);
  await page.press("#chat-input", "Enter");
}

const lastTurn = ".log li.turn:last-child";

async function waitEnded(page: Page): Promise<string> {
  await page.waitForSelector(`${lastTurn}:not([data-state="streaming"])`, { timeout: 30_000 });
  return await page.getAttribute(lastTurn, "data-state") ?? "";
}

/** Words of an answer, markdown marks and spacing ignored. */
const words = (text: string) => text.replaceAll("*", "").split(/\s+/).filter(Boolean);

Deno.test({
  name: "e2e: attach a file and resume a dropped answer in Chromium",
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await ensureClientBuild();
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const server: TestServer = await startServer({ DEMO_DELAY_MS: "40", SSE_RETRY_MS: "300" });
    const target = new URL(server.url);
    const proxy = tcpProxy({ hostname: target.hostname, port: Number(target.port) });
    const browser = await launch();
    const errors: string[] = [];
    const page = browser.context.pages()[0] ?? await browser.context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    // Observe (not change) the page's sockets: how each one closed.
    await page.addInitScript(() => {
      const closes: number[] = [];
      (globalThis as unknown as { __closes: number[] }).__closes = closes;
      const Native = WebSocket;
      globalThis.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          this.addEventListener("close", (event) => closes.push(event.code));
        }
      };
    });
    try {
      await t.step("attach a text file, ask about it, get its content quoted", async () => {
        await open(page, `${proxy.url}/`);
        const attach = page.getByRole("button", { name: "Attach a file" });
        assertEquals(await attach.getAttribute("aria-disabled"), "false");
        await page.setInputFiles("[data-testid=file-input]", {
          name: "notes.txt",
          mimeType: "text/plain",
          buffer: Buffer.from(
            "# Launch notes\n\nThe launch code is tangerine-42.\n\n## Other\n\nNothing else.\n",
          ),
        });
        const chip = page.locator("[data-testid=attachment]");
        await chip.locator("text=notes.txt").waitFor();
        assertStringIncludes(await chip.textContent() ?? "", "B");
        await page.waitForSelector("[data-testid=attachment][data-status=ready]");
        await page.screenshot({ path: new URL("attach-chip.png", ARTIFACTS).pathname });
        await ask(page, "what is the launch code?");
        // The file stays attached for the rest of the chat.
        assertEquals(await page.locator("[data-testid=attachment]").count(), 1);
        assertEquals(await waitEnded(page), "stop");
        assertStringIncludes(await page.textContent(`${lastTurn} .user`) ?? "", "notes.txt");
        const answer = await page.textContent(`${lastTurn} .answer`) ?? "";
        assertStringIncludes(answer, "notes.txt");
        assertStringIncludes(answer, "tangerine-42");
        assertEquals(await page.textContent(`${lastTurn} .tool .tool-name`), "read_attachment");
        await page.screenshot({ path: new URL("attach-answer.png", ARTIFACTS).pathname });
      });

      await t.step("an upload the server refuses shows its error and can be removed", async () => {
        await page.setInputFiles("[data-testid=file-input]", {
          name: "tool.exe",
          mimeType: "application/x-msdownload",
          buffer: Buffer.from([77, 90, 0, 1]),
        });
        await page.waitForSelector("[data-testid=attachment][data-status=error]");
        const alert = await page.textContent("[data-testid=attachment] [role=alert]") ?? "";
        assertStringIncludes(alert, "Upload failed");
        assertStringIncludes(alert, "application/x-msdownload");
        assert(await page.isDisabled("button.send"), "Send waits until the failed file is removed");
        await page.screenshot({ path: new URL("attach-error.png", ARTIFACTS).pathname });
        // Keyboard: the remove button is reachable and works with Enter.
        await page.focus("[data-testid=attachment][data-status=error] .chip-remove");
        await page.keyboard.press("Enter");
        assertEquals(await page.locator("[data-testid=attachment]").count(), 1, "notes.txt stays");
        assertEquals(await page.locator("[data-testid=attachment][data-status=error]").count(), 0);
        assert(!await page.isDisabled("button.send"));
      });

      await t.step("a WebSocket dropped mid-answer is resumed: full text, no repeats", async () => {
        // A fresh session: the intro then carries no "we have talked" line.
        await page.click("button.new-chat");
        await ask(page, "hello, who are you?");
        await page.waitForFunction((sel) => {
          const text = document.querySelector(`${sel} .answer`)?.textContent ?? "";
          return text.split(/\s+/).filter(Boolean).length >= 8;
        }, lastTurn);
        proxy.cut();
        await page.waitForSelector("[data-testid=connection]:has-text('Reconnecting')");
        const before = words(await page.textContent(`${lastTurn} .answer`) ?? "");
        assertEquals(await page.getAttribute(lastTurn, "data-state"), "streaming");
        await page.waitForTimeout(600);
        proxy.restore();
        assertEquals(await waitEnded(page), "stop");
        const after = words(await page.textContent(`${lastTurn} .answer`) ?? "");
        assertEquals(after.join(" "), words(INTRO).join(" "), "every word once, in order");
        assert(before.length < after.length, "the drop happened mid-answer");
        const closes = await page.evaluate(() =>
          (globalThis as unknown as { __closes: number[] }).__closes
        );
        // The drop, then any reconnect attempt the proxy refused: all abnormal.
        assert(closes.length >= 1, "the socket dropped");
        assertEquals(new Set(closes), new Set([1006]), `close codes: ${closes}`);
        await page.waitForSelector("[data-testid=connection]:has-text('Connected')");
        await page.screenshot({ path: new URL("resume.png", ARTIFACTS).pathname });
      });

      await t.step("over SSE the Attach button is disabled and says why", async () => {
        await page.click('label:has(input[value="sse"])');
        await page.waitForSelector("[data-testid=connection]:has-text('Ready')");
        const attach = page.getByRole("button", { name: "Attach a file" });
        assertEquals(await attach.getAttribute("aria-disabled"), "true");
        assertStringIncludes(await attach.getAttribute("title") ?? "", "WebSocket");
        // Focusable (aria-disabled, not disabled) so the tooltip and this note reach everyone.
        await attach.focus();
        await page.keyboard.press("Enter");
        assertStringIncludes(
          await page.textContent(".attach-note") ?? "",
          "Attaching files needs the WebSocket transport",
        );
      });

      await t.step("an SSE stream dropped mid-answer is resumed by EventSource", async () => {
        await page.click("button.new-chat");
        const streams: Promise<string>[] = [];
        page.on("request", (r) => {
          if (r.url().includes("/agent_chat_stream")) {
            streams.push(r.allHeaders().then((h) => h["last-event-id"] ?? ""));
          }
        });
        await ask(page, "hello, who are you?");
        await page.waitForFunction((sel) => {
          const text = document.querySelector(`${sel} .answer`)?.textContent ?? "";
          return text.split(/\s+/).filter(Boolean).length >= 8;
        }, lastTurn);
        proxy.cut();
        await page.waitForSelector("[data-testid=connection]:has-text('Reconnecting')");
        const before = words(await page.textContent(`${lastTurn} .answer`) ?? "");
        await page.waitForTimeout(600);
        proxy.restore();
        assertEquals(await waitEnded(page), "stop");
        const after = words(await page.textContent(`${lastTurn} .answer`) ?? "");
        assertEquals(after.join(" "), words(INTRO).join(" "), "every word once, in order");
        assert(before.length < after.length, "the drop happened mid-answer");
        const count = streams.length;
        const ids = await Promise.all(streams);
        // Attempts the proxy refused report no request headers; the one that
        // got through resumed with the id of the last event shown.
        assertEquals(ids[0], "", "the question itself");
        assert(ids.length >= 2, "the browser reconnected");
        assertMatch(ids.at(-1)!, /^[A-Za-z0-9_-]+:\d+$/, "the reconnect sends Last-Event-ID");
        await page.waitForTimeout(700);
        assertEquals(streams.length, count, "closed on done: the question is never asked again");
        assertEquals(await page.locator(".log li.turn").count(), 1);
        assertEquals(errors, []);
      });
    } finally {
      await browser.close();
      await proxy.close();
      await server.close();
    }
  },
});
