/**
 * The chat page with authentication on, in real Chromium: the sign-in
 * field keeps the token in `sessionStorage`, and every WebSocket and
 * EventSource connects with a fresh ticket (`?ticket=`), never the token.
 * Signed in, the page lists the identity's chats and deletes one through
 * `DELETE /api/sessions/{id}`.
 * Ignored, with a message, when Chromium is not installed.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { ensureClientBuild } from "../client/build.ts";
import { HAS_CHROMIUM, launchChromium, warnIfNoChromium } from "./helpers/chromium.ts";
import { startServer } from "./helpers/server.ts";

warnIfNoChromium("The sign-in browser test is");

const TOKEN = "alice-token-0123456789abcdef";
const lastTurn = ".log li.turn:last-child";

Deno.test({
  name: "e2e auth: sign in with a token, then chat over WebSocket and SSE with tickets",
  ignore: !HAS_CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await ensureClientBuild();
    const server = await startServer({ AUTH_TOKENS: `alice:${TOKEN}`, DEMO_DELAY_MS: "5" });
    const browser = await launchChromium();
    const page = browser.context.pages()[0] ?? await browser.context.newPage();
    const errors: string[] = [];
    const urls: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("request", (request) => urls.push(request.url()));
    page.on("websocket", (ws) => urls.push(ws.url()));
    const ask = async (question: string) => {
      await page.fill("#chat-input", question);
      await page.press("#chat-input", "Enter");
      await page.waitForSelector(`${lastTurn}:not([data-state="streaming"])`);
      return {
        state: await page.getAttribute(lastTurn, "data-state"),
        text: await page.textContent(`${lastTurn} .answer`) ?? "",
      };
    };
    try {
      await t.step("the page asks for a token; a wrong one is refused", async () => {
        await page.goto(`${server.url}/`);
        await page.waitForSelector('[data-island="SignIn"][data-hydrated]');
        await page.fill("input[name=token]", "wrong-token-0123456789abcdef");
        await page.click("form.sign-in button");
        await page.waitForSelector(".sign-in-error:not(:empty)");
        assertEquals(await page.textContent(".sign-in-error"), "Token refused");
        assertEquals(await page.evaluate(() => sessionStorage.getItem("chat.token")), null);
      });

      await t.step("the right token signs in; WebSocket chat works with a ticket", async () => {
        await page.fill("input[name=token]", TOKEN);
        urls.length = 0; // From here on every stream must carry a ticket.
        await Promise.all([page.waitForEvent("load"), page.click("form.sign-in button")]);
        await page.waitForSelector(".signed-in");
        await page.waitForFunction(() =>
          document.querySelector("[data-testid=connection]")?.textContent === "Connected"
        );
        const { state, text } = await ask("what is 2+3*4");
        assertEquals(state, "stop");
        assertStringIncludes(text, "14");
        assertEquals(await page.evaluate(() => sessionStorage.getItem("chat.token")), TOKEN);
        assertEquals(await page.evaluate(() => localStorage.getItem("chat.token")), null);
      });

      await t.step("SSE works with a ticket too", async () => {
        await page.click('label:has(input[value="sse"])');
        await page.waitForSelector("[data-testid=connection]:has-text('Ready')");
        const { state, text } = await ask("what is 10-3");
        assertEquals(state, "stop");
        assertStringIncludes(text, "7");
      });

      await t.step("signed in, every stream carried a ticket and no URL the token", () => {
        const streams = urls.filter((url) => /\/ws\/chat|\/agent_chat_stream/.test(url));
        console.log(`stream URLs: ${streams.length}, all with ?ticket=`);
        assert(streams.some((url) => url.includes("/ws/chat")));
        assert(streams.some((url) => url.includes("/agent_chat_stream")));
        for (const url of streams) assertStringIncludes(url, "ticket=");
        for (const url of urls) assert(!url.includes(TOKEN), url);
      });

      await t.step(
        "the signed-in list deletes the chat through the API (DELETE /api/sessions)",
        async () => {
          const sessions = async () => {
            const response = await fetch(`${server.url}/api/sessions`, {
              headers: { authorization: `Bearer ${TOKEN}` },
            });
            return (await response.json()).sessions as { session_id: string; title: string }[];
          };
          const before = await sessions();
          assertEquals(before.map((chat) => chat.title), ["what is 2+3*4"]);
          const current = await page.evaluate(() => localStorage.getItem("chat.session_id"));
          assertEquals(before[0].session_id, current);
          await page.reload();
          await page.waitForSelector('[data-island="SignIn"][data-hydrated] .chats-menu');
          assertEquals(await page.textContent(".chats-menu > summary"), "Chats (1)");
          await page.click(".chats-menu > summary");
          // The current chat: deleting it starts a new one (the page reloads).
          await Promise.all([
            page.waitForEvent("load"),
            page.click('.chats-menu button[aria-label="Delete what is 2+3*4"]'),
          ]);
          await page.waitForSelector('[data-island="SignIn"][data-hydrated] .signed-in');
          assertEquals(await sessions(), []);
          assertEquals(await page.locator(".chats-menu").count(), 0);
          const next = await page.evaluate(() => localStorage.getItem("chat.session_id"));
          assert(next && next !== current, "a new chat");
        },
      );

      await t.step("sign out forgets the token", async () => {
        await Promise.all([
          page.waitForEvent("load"),
          page.click(".signed-in button"),
        ]);
        await page.waitForSelector('[data-island="SignIn"][data-hydrated] input[name=token]');
        assertEquals(await page.evaluate(() => sessionStorage.getItem("chat.token")), null);
        assertEquals(errors, []);
      });
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
