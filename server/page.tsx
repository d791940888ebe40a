/**
 * Server-rendered chat page and client assets. (Placeholder until the
 * islands client lands.)
 * @module
 */
import { Hono } from "hono";
import type { SessionStore } from "./store/types.ts";

/** What the page routes need. */
export interface PageDeps {
  store: SessionStore;
}

/** Routes for `/` and the client bundle under `/static/`. */
export function pageRoutes(_deps: PageDeps): Hono {
  const app = new Hono();
  app.get("/", (c) => c.html("<!doctype html><title>Chat</title><p>Chat</p>"));
  return app;
}
