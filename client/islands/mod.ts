/**
 * The island registry: every component the boot script may hydrate, by the
 * name the server writes in `data-island`.
 * @module
 */
import type { ComponentType } from "preact";
import Chat from "./Chat.tsx";
import MetricsStrip from "./MetricsStrip.tsx";
import SignIn from "./SignIn.tsx";

/** Island components by name. */
// deno-lint-ignore no-explicit-any
export const islands: Record<string, ComponentType<any>> = {
  Chat,
  MetricsStrip,
  SignIn,
};
