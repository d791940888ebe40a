/**
 * Server-rendered chat page and client assets.
 *
 * `GET /` renders the shell and the session's history (session id from the
 * `session_id` cookie the client mirrors from `localStorage`) with
 * `preact-render-to-string`; the islands are marked for `client/boot.ts` to
 * hydrate. `GET /static/:file` serves the hashed bundles with long-lived
 * immutable cache headers.
 * @module
 */
import { readFile } from "node:fs/promises";
import { type Context, Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { renderToString } from "preact-render-to-string";
import type { Manifest } from "../client/build.ts";
import { Island } from "../client/island.tsx";
import Chat from "../client/islands/Chat.tsx";
import MetricsStrip from "../client/islands/MetricsStrip.tsx";
import SignIn from "../client/islands/SignIn.tsx";
import {
  type ChatProps,
  type HistoryTurn,
  OWNER_COOKIE,
  parseSessionId,
  parseTransport,
  SESSION_COOKIE,
  TRANSPORT_COOKIE,
} from "../protocol/page.ts";
import { ChatsNav, loadChats } from "./chats.tsx";
import type { ChatEntry, SessionStore } from "./store/types.ts";

/** What the page routes need. */
export interface PageDeps {
  /**
   * Where the history shown on reload comes from. Omitted (as when
   * authentication is on, because a cookie does not prove who owns a
   * session): the page renders no history.
   */
  store?: SessionStore;
  /**
   * The client build (from `ensureClientBuild()` in `client/build.ts`).
   * Omitted: `static/manifest.json` is read on each page request.
   */
  manifest?: Manifest;
  /** Directory of the built bundles; default `static/` at the repo root. */
  staticDir?: URL;
  /**
   * The upload limit (`UPLOAD_MAX_BYTES`), passed to the Chat island so it
   * refuses larger files before sending them. Omitted: the default 256 KiB.
   */
  uploadMaxBytes?: number;
  /** True when the server requires authentication: the page shows the sign-in field. */
  auth?: boolean;
}

/** The page's icon: a speech bubble in the accent colour. */
const FAVICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' +
  '<path fill="#2459c7" d="M6 4h20a4 4 0 0 1 4 4v12a4 4 0 0 1-4 4H14l-7 6v-6H6a4 4 0 0 1-4-4V8a4 4 0 0 1 4-4z"/>' +
  '<path fill="#fff" d="M9 11h14v2H9zm0 5h10v2H9z"/></svg>';

const DEFAULT_STATIC = new URL("../static/", import.meta.url);
const HASHED = /^[a-z]+-[0-9a-f]{8,}\.js$/;
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

async function loadManifest(deps: PageDeps): Promise<Manifest | undefined> {
  if (deps.manifest) return deps.manifest;
  try {
    const url = new URL("manifest.json", deps.staticDir ?? DEFAULT_STATIC);
    return JSON.parse(await readFile(url, "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}

async function loadHistory(
  store: SessionStore | undefined,
  sessionId: string | undefined,
): Promise<HistoryTurn[]> {
  if (!store || !sessionId) return [];
  try {
    const turns = await store.load(sessionId);
    return turns.map((t) => ({
      query: t.query,
      answer: t.answer,
      // The page shows an answer cut by a dead instance as an error.
      finishReason: t.finishReason === "interrupted" ? "error" : t.finishReason,
      tools: t.tools,
    }));
  } catch (error) {
    console.error(`Cannot load history of session "${sessionId}": ${error}`);
    return [];
  }
}

function Page(
  { chat, chats, manifest, styles }: {
    chat: ChatProps;
    chats: ChatEntry[];
    manifest?: Manifest;
    styles: string;
  },
) {
  const boot = manifest && `/static/${manifest.boot.file}`;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Chat</title>
        <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
        {boot ? <link rel="modulepreload" href={boot} /> : null}
        <style dangerouslySetInnerHTML={{ __html: styles }} />
      </head>
      <body>
        <header class="top">
          <h1>Chat</h1>
          <p>Answers stream over WebSocket or SSE: switch and compare.</p>
        </header>
        <ChatsNav chats={chats} current={chat.sessionId} />
        <Island name="MetricsStrip" component={MetricsStrip} props={{}} />
        {manifest ? null : (
          <p class="notice">
            The client bundle is not built: run <code>deno task build</code>.
          </p>
        )}
        <noscript>
          <p class="notice">
            JavaScript is off: the conversation is readable, but asking needs JavaScript.
          </p>
        </noscript>
        {chat.auth ? <Island name="SignIn" component={SignIn} props={{}} /> : null}
        <Island name="Chat" component={Chat} props={chat} />
        {boot ? <script type="module" src={boot} /> : null}
      </body>
    </html>
  );
}

/** Routes for `/` and the client bundle under `/static/`. */
export function pageRoutes(deps: PageDeps): Hono {
  const app = new Hono();
  const staticDir = deps.staticDir ?? DEFAULT_STATIC;
  let styles: string | undefined;

  app.get("/", async (c) => {
    // `?chat=<id>` switches to a listed chat (the nav's links).
    const chosen = parseSessionId(c.req.query("chat"));
    const sessionId = chosen ?? parseSessionId(getCookie(c, SESSION_COOKIE));
    if (chosen) setCookie(c, SESSION_COOKIE, chosen, { path: "/", sameSite: "Lax" });
    let owner = getCookie(c, OWNER_COOKIE);
    if (!owner || !parseSessionId(owner)) {
      owner = crypto.randomUUID();
      setCookie(c, OWNER_COOKIE, owner, {
        path: "/",
        sameSite: "Lax",
        httpOnly: true,
        maxAge: 400 * 24 * 3600,
      });
    }
    const chats = deps.store ? await loadChats(deps.store, `browser:${owner}`) : [];
    const transport = parseTransport(getCookie(c, TRANSPORT_COOKIE)) ?? "ws";
    const [history, manifest] = await Promise.all([
      loadHistory(deps.store, sessionId),
      loadManifest(deps),
    ]);
    styles ??= (await import("../client/styles.ts")).CSS;
    const chat: ChatProps = {
      sessionId,
      transport,
      history,
      markdownUrl: manifest && `/static/${manifest.markdown.file}`,
      sseUrl: manifest?.sse && `/static/${manifest.sse.file}`,
      uploadMaxBytes: deps.uploadMaxBytes,
      auth: deps.auth || undefined,
    };
    const html = "<!doctype html>" +
      renderToString(<Page chat={chat} chats={chats} manifest={manifest} styles={styles} />);
    return c.html(html, 200, {
      "Cache-Control": "no-store",
      "Content-Security-Policy": CSP,
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "same-origin",
    });
  });

  const favicon = (c: Context) =>
    c.body(FAVICON_SVG, 200, {
      "Content-Type": "image/svg+xml",
      "Cache-Control": "public, max-age=86400",
      "X-Content-Type-Options": "nosniff",
    });
  app.get("/favicon.svg", favicon);
  // Browsers ask for /favicon.ico on their own; an SVG answers it too.
  app.get("/favicon.ico", favicon);

  app.get("/static/:file", async (c) => {
    const name = c.req.param("file");
    if (!SAFE_NAME.test(name) || !name.endsWith(".js")) {
      return c.json({ error: "Not found" }, 404);
    }
    const gzipOk = /\bgzip\b/.test(c.req.header("Accept-Encoding") ?? "");
    const headers: Record<string, string> = {
      "Content-Type": "text/javascript; charset=utf-8",
      "Cache-Control": HASHED.test(name) ? "public, max-age=31536000, immutable" : "no-cache",
      "Vary": "Accept-Encoding",
      "X-Content-Type-Options": "nosniff",
    };
    if (gzipOk) {
      try {
        const body = new Uint8Array(
          await readFile(new URL(`${name}.gz`, staticDir)),
        );
        return c.body(body, 200, { ...headers, "Content-Encoding": "gzip" });
      } catch {
        // Fall through to the plain file.
      }
    }
    try {
      const body = new Uint8Array(await readFile(new URL(name, staticDir)));
      return c.body(body, 200, headers);
    } catch {
      return c.json({ error: "Not found" }, 404);
    }
  });

  return app;
}
