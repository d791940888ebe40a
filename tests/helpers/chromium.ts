/**
 * Debian's Chromium for browser tests, driven by `playwright-core` (no
 * browser is ever downloaded). Tests that need it pass `ignore: !HAS_CHROMIUM`
 * and call {@link warnIfNoChromium} so a missing browser is reported, never
 * counted as a pass.
 * @module
 */
import { type BrowserContext, chromium } from "playwright-core";

/** Where Chromium is (`CHROMIUM_PATH` overrides `/usr/bin/chromium`). */
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** True when the Chromium binary exists. */
export const HAS_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** Prints why `what` is ignored when Chromium is missing, and how to enable it. */
export function warnIfNoChromium(what: string): void {
  if (HAS_CHROMIUM) return;
  console.log(
    `${what} ignored: no Chromium at ${CHROMIUM}. ` +
      "Enable with: apt-get install -y chromium (or set CHROMIUM_PATH)",
  );
}

/** Headless flags for a closed network (no background requests, no first-run UI). */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-quic",
  "--disable-sync",
];

/** A browser context in a fresh profile directory, removed on close. */
export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh `--user-data-dir`. */
export async function launchChromium(
  viewport: { width: number; height: number } = { width: 900, height: 760 },
): Promise<Browser> {
  const userDataDir = await Deno.makeTempDir({ prefix: "chat-chromium-" });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
    },
  };
}
