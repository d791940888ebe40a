/**
 * End-to-end tests of the chat page's everyday use in real Chromium, on the
 * real model path: the `openai` agent against a local fake that speaks the
 * OpenAI streaming format and counts its open streams. Stop over SSE closes
 * the model stream, Esc stops, scrolling up holds during a fast stream,
 * code is highlighted and copied, lists and quotes are styled, files are
 * dropped in, examples are clickable, and the phone layout is compact.
 * Ignored, with a message, when Chromium is not installed.
 */
import { assert, assertEquals, assertGreater, assertLess, assertMatch } from "@std/assert";
import type { Page } from "playwright-core";
import { ensureClientBuild } from "../client/build.ts";
import { HAS_CHROMIUM, launchChromium, warnIfNoChromium } from "./helpers/chromium.ts";
import { CODE_ANSWER, type FakeOpenAi, startFakeOpenAi } from "./helpers/fake_openai.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

warnIfNoChromium("E2E chat UX tests are");

const ARTIFACTS = new URL("./artifacts/", import.meta.url);
const lastTurn = ".log li.turn:last-child";

/** Loads the page and waits until the islands are hydrated and connected. */
async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('[data-island="Chat"][data-hydrated]');
  await page.waitForFunction(() =>
    /Connected|Ready/.test(document.querySelector("[data-testid=connection]")?.textContent ?? "")
  );
}

async function ask(page: Page, question: string): Promise<void> {
  await page.fill("#chat-input", question);
  await page.press("#chat-input", "Enter");
}

async function waitEnded(page: Page): Promise<string> {
  await page.waitForSelector(`${lastTurn}:not([data-state="streaming"])`);
  return await page.getAttribute(lastTurn, "data-state") ?? "";
}

/** Waits until the last answer shows at least `chars` characters. */
async function waitText(page: Page, chars: number): Promise<void> {
  await page.waitForFunction(
    ([sel, n]) => (document.querySelector(`${sel} .answer`)?.textContent ?? "").length >= n,
    [lastTurn, chars] as const,
  );
}

/** Polls until `ok()`; fails after `ms` (a bound against hanging, not a speed check). */
async function until(ok: () => boolean, ms: number, what: string): Promise<number> {
  const start = performance.now();
  while (!ok()) {
    if (performance.now() - start > ms) throw new Error(`Timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - start;
}

Deno.test({
  name: "e2e: chat UX on the openai agent path in Chromium",
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const manifest = await ensureClientBuild();
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const upstream: FakeOpenAi = startFakeOpenAi();
    // The default 15 s grace period: only a real cancel stops the model sooner.
    const server: TestServer = await startServer({
      AGENT: "openai",
      OPENAI_BASE_URL: upstream.baseUrl,
      OPENAI_API_KEY: "test-key",
      OPENAI_MODEL: "fake-model",
      RESUME_GRACE_MS: "15000",
    });
    const browser = await launchChromium();
    const errors: string[] = [];
    const page = browser.context.pages()[0] ?? await browser.context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], {
      origin: server.url,
    });
    try {
      await t.step("clickable examples and a favicon", async () => {
        const icon = await fetch(`${server.url}/favicon.ico`);
        assertEquals(icon.status, 200);
        assertEquals(icon.headers.get("content-type"), "image/svg+xml");
        assertMatch(await icon.text(), /^<svg /);
        await open(page, `${server.url}/`);
        assertEquals(await page.getAttribute('link[rel="icon"]', "href"), "/favicon.svg");
        await page.getByRole("button", { name: "what is 2+3*4" }).click();
        assertEquals(await waitEnded(page), "stop");
        assertMatch(
          await page.textContent(`${lastTurn} .bubble.user`) ?? "",
          /^You:what is 2\+3\*4/,
        );
      });

      await t.step(
        "Stop over SSE closes the model stream; history keeps the partial answer",
        async () => {
          await page.getByRole("radio", { name: "SSE" }).check();
          await ask(page, "[long] stream for a while");
          await waitText(page, 200);
          assertEquals(upstream.open, 1);
          const clicked = Date.now();
          await page.getByRole("button", { name: "Stop" }).click();
          await until(() => upstream.open === 0, 5_000, "model stream closed");
          const closedMs = Date.now() - clicked;
          const wordsAtStop = upstream.words;
          assertEquals(await waitEnded(page), "cancelled");
          console.log(`  SSE Stop: model stream closed ${closedMs.toFixed(0)} ms after the click`);
          await new Promise((r) => setTimeout(r, 300));
          assertEquals(upstream.words, wordsAtStop, "no word is streamed after the stream closed");
          const shown = (await page.textContent(`${lastTurn} .answer`)) ?? "";
          await open(page, `${server.url}/`);
          const kept = (await page.textContent(`${lastTurn} .answer`)) ?? "";
          assertEquals(await page.getAttribute(lastTurn, "data-state"), "cancelled");
          assert(
            !kept.includes(`word${wordsAtStop + 1} `),
            "history keeps only the partial answer",
          );
          assertGreater(kept.length, shown.length / 2);
        },
      );

      await t.step("Esc stops an answer over WebSocket", async () => {
        await page.getByRole("radio", { name: "WebSocket" }).check();
        await ask(page, "[long] again");
        await waitText(page, 100);
        await page.keyboard.press("Escape");
        assertEquals(await waitEnded(page), "cancelled");
        await until(() => upstream.open === 0, 5_000, "model stream closed after Esc");
      });

      await t.step("scrolling up holds during a fast stream; Jump to latest returns", async () => {
        await ask(page, "[long] scroll test");
        // Enough text to scroll, still streaming at ~125 chunks/s.
        await page.waitForFunction(() => {
          const el = document.querySelector(".messages")!;
          return el.scrollHeight > el.clientHeight * 2;
        });
        await page.hover(".messages");
        await page.mouse.wheel(0, -400);
        await page.waitForSelector("button.jump");
        // The wheel scroll may still be moving (smooth scrolling, a loaded machine): read the
        // position once it stayed put for a few frames.
        await page.waitForFunction(
          () => {
            const el = document.querySelector(".messages")!;
            const w = globalThis as unknown as { stableFrames?: number; lastTop?: number };
            w.stableFrames = w.lastTop === el.scrollTop ? (w.stableFrames ?? 0) + 1 : 0;
            w.lastTop = el.scrollTop;
            return w.stableFrames >= 3;
          },
          undefined,
          { polling: "raf" },
        );
        const before = await page.evaluate(() => {
          const el = document.querySelector(".messages")!;
          return { top: el.scrollTop, height: el.scrollHeight };
        });
        // Half a second of streaming (~60 chunks) later, the view has not moved.
        const words = upstream.words;
        await until(() => upstream.words >= words + 60, 10_000, "60 more chunks");
        await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
        const after = await page.evaluate(() => {
          const el = document.querySelector(".messages")!;
          return {
            top: el.scrollTop,
            height: el.scrollHeight,
            bottom: el.scrollHeight - el.clientHeight,
          };
        });
        assertGreater(after.height, before.height, "the answer kept growing");
        assertLess(Math.abs(after.top - before.top), 2, "the scroll position held");
        assertGreater(after.bottom - after.top, 300, "still away from the bottom");
        await page.screenshot({ path: new URL("ux-jump-to-latest.png", ARTIFACTS).pathname });
        await page.getByRole("button", { name: "Jump to latest" }).click();
        await page.waitForFunction(() => {
          const el = document.querySelector(".messages")!;
          return el.scrollTop + el.clientHeight >= el.scrollHeight - 48;
        });
        assertEquals(await page.locator("button.jump").count(), 0);
        await page.getByRole("button", { name: "Stop" }).click();
        assertEquals(await waitEnded(page), "cancelled");
      });

      await t.step(
        "code is highlighted, Copy copies it and the answer; lists and quotes",
        async () => {
          await ask(page, "[code] show me some");
          assertEquals(await waitEnded(page), "stop");
          const block = `${lastTurn} .code-block`;
          await page.waitForSelector(`${block} pre.language-typescript .token.keyword`);
          assertGreater(await page.locator(`${block} .token`).count(), 5);
          await page.click(`${block} button.copy-code`);
          const code = await page.evaluate(() => navigator.clipboard.readText());
          assertEquals(code, 'const answer: number = 42;\nconsole.log("answer", answer);');
          await page.locator(`${lastTurn} .actions`).getByRole("button", { name: "Copy" }).click();
          assertEquals(await page.evaluate(() => navigator.clipboard.readText()), CODE_ANSWER);
          const style = await page.evaluate((sel) => {
            const li = document.querySelector(`${sel} .answer ol li`)!;
            const quote = document.querySelector(`${sel} .answer blockquote`)!;
            return {
              list: getComputedStyle(li).listStyleType,
              quote: getComputedStyle(quote).borderLeftStyle,
            };
          }, lastTurn);
          assertEquals(style, { list: "decimal", quote: "solid" });
          await page.screenshot({ path: new URL("ux-code.png", ARTIFACTS).pathname });
        },
      );

      await t.step(
        "Regenerate makes exactly one model request and replaces the answer",
        async () => {
          const turns = await page.locator(".log li.turn").count();
          const requests = upstream.requests.length;
          await page.locator(`${lastTurn} .actions`).getByRole("button", { name: "Regenerate" })
            .click();
          assertEquals(await waitEnded(page), "stop");
          assertEquals(upstream.requests.length, requests + 1);
          assertEquals(await page.locator(".log li.turn").count(), turns, "replaced, not added");
          const seen = JSON.stringify(upstream.requests.at(-1)!.messages);
          assertEquals(seen.split("[code] show me some").length - 1, 1, "the old answer is gone");
          await page.waitForSelector(`${lastTurn} .code-block .token`);
        },
      );

      await t.step("edit-and-resend replaces a question and what followed", async () => {
        const turns = await page.locator(".log li.turn").count();
        await page.locator(`${lastTurn} .bubble.user`).getByRole("button", { name: /^Edit/ })
          .click();
        assertEquals(await page.inputValue("#chat-input"), "[code] show me some");
        await page.waitForSelector(".editing");
        await page.fill("#chat-input", "[code] edited question");
        await page.press("#chat-input", "Enter");
        assertEquals(await waitEnded(page), "stop");
        assertEquals(await page.locator(".log li.turn").count(), turns);
        assertMatch(
          await page.textContent(`${lastTurn} .bubble.user`) ?? "",
          /\[code\] edited question/,
        );
        const seen = JSON.stringify(upstream.requests.at(-1)!.messages);
        assert(seen.includes("[code] edited question"));
        assert(!seen.includes("[code] show me some"), "the edited question's old turn is gone");
        assertEquals(await page.locator(".editing").count(), 0);
        // After a reload the server's history shows the new branch only.
        await open(page, `${server.url}/`);
        assertMatch(await page.textContent(`${lastTurn} .bubble.user`) ?? "", /edited question/);
        assertEquals(await page.locator(".log li.turn").count(), turns);
      });

      await t.step("the question box grows with its text", async () => {
        const h0 = await page.evaluate(() => document.querySelector("#chat-input")!.clientHeight);
        const turns = await page.locator(".log li.turn").count();
        await page.fill("#chat-input", "one\ntwo\nthree\nfour\nfive");
        const h1 = await page.evaluate(() => document.querySelector("#chat-input")!.clientHeight);
        assertGreater(h1, h0);
        await page.fill("#chat-input", "");
        assertEquals(await page.locator(".log li.turn").count(), turns, "nothing was sent");
      });

      await t.step("a dropped file is uploaded and stays for the whole chat", async () => {
        await page.evaluate(() => {
          const data = new DataTransfer();
          data.items.add(new File(["The code is tangerine."], "notes.txt", { type: "text/plain" }));
          const target = document.querySelector(".chat")!;
          target.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true }));
          target.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
        });
        await page.waitForSelector('.chips .chip:has-text("notes.txt")');
        await page.waitForFunction(() =>
          !document.querySelector(".chips")?.textContent?.includes("Uploading")
        );
        await ask(page, "what is 1+1");
        assertEquals(await waitEnded(page), "stop");
        assertMatch(await page.textContent(`${lastTurn} .sent-files`) ?? "", /notes\.txt/);
        assertEquals(await page.locator('.chips .chip:has-text("notes.txt")').count(), 1);
      });

      await t.step(
        "past chats: listed in a nav, reopened, renamed, deleted (gone from the store)",
        async () => {
          await page.getByRole("button", { name: "New chat" }).click();
          await ask(page, "[code] chat two");
          assertEquals(await waitEnded(page), "stop");
          await open(page, `${server.url}/`);
          await page.click(".chats-menu > summary");
          const nav = page.getByRole("navigation", { name: "Conversations" });
          const titles = await nav.getByRole("link").allTextContents();
          assertEquals(titles.sort(), ["[code] chat two", "what is 2+3*4"]);
          const second = await nav.getByRole("link", { name: "[code] chat two" }).getAttribute(
            "href",
          );
          const secondId = second!.replace("/?chat=", "");

          await nav.getByRole("link", { name: "what is 2+3*4" }).click();
          await page.waitForSelector('[data-island="Chat"][data-hydrated]');
          assertGreater(await page.locator(".log li.turn").count(), 2, "the first chat is back");
          assertMatch(
            await page.textContent(".log li.turn:first-child .bubble.user") ?? "",
            /2\+3\*4/,
          );
          assertEquals(new URL(page.url()).search, "", "the address is clean again");

          await page.click(".chats-menu > summary");
          await page.click('.chat-item:has(a:text("what is 2+3*4")) .rename summary');
          await page.getByRole("textbox", { name: "New title for what is 2+3*4" }).fill(
            "Arithmetic",
          );
          await page.click('.chat-item:has(a:text("what is 2+3*4")) .rename button');
          await page.waitForSelector('.chats-menu a:text("Arithmetic")', { state: "attached" });

          await page.click(".chats-menu > summary");
          await page.getByRole("button", { name: "Delete [code] chat two" }).click();
          await page.waitForSelector('[data-island="Chat"][data-hydrated]');
          assertEquals(await page.locator(".chats-menu nav a").allTextContents(), ["Arithmetic"]);
          // Its history is gone from the store: the page rendered for that session is empty.
          const html = await (await fetch(`${server.url}/?chat=${secondId}`)).text();
          assert(!html.includes("chat two"), "the deleted chat's turns are gone");
          await page.click(".chats-menu > summary");
          await page.screenshot({ path: new URL("ux-chats.png", ARTIFACTS).pathname });
        },
      );

      await t.step("phone layout: a compact header", async () => {
        await page.setViewportSize({ width: 390, height: 844 });
        await open(page, `${server.url}/`);
        const share = await page.evaluate(() =>
          document.querySelector(".messages")!.getBoundingClientRect().top / innerHeight
        );
        console.log(`  phone: header takes ${(share * 100).toFixed(1)}% of the screen`);
        assertLess(share, 0.13);
        await page.screenshot({ path: new URL("ux-phone.png", ARTIFACTS).pathname });
        await page.setViewportSize({ width: 900, height: 760 });
      });

      await t.step(
        "JavaScript budget: initial <= 30 KB, by the first answer with code <= 60 KB",
        () => {
          const initial = manifest.boot.gzipBytes;
          const total = initial + manifest.markdown.gzipBytes;
          console.log(
            `  JS gzipped: initial ${(initial / 1024).toFixed(1)} KB, ` +
              `with markdown and highlighter ${(total / 1024).toFixed(1)} KB`,
          );
          assertLess(initial, 30 * 1024);
          assertLess(total, 60 * 1024);
        },
      );
      assertEquals(errors, []);
    } finally {
      await browser.close();
      await server.close();
      await upstream.close();
    }
  },
});
