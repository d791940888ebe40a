/**
 * Loads the markdown bundle on demand and exposes its renderer as a signal;
 * until it arrives answers render as plain text.
 * @module
 */
import { type Signal, signal } from "@preact/signals";

/** The markdown renderer once loaded (sanitised HTML out), else undefined. */
export const markdownRenderer: Signal<((md: string) => string) | undefined> = signal(undefined);

let loading: Promise<void> | undefined;

/** Imports the markdown bundle at `url` once; later calls share the load. */
export function loadMarkdown(url: string): Promise<void> {
  loading ??= import(url).then(
    (mod: { renderMarkdown: (md: string) => string }) => {
      markdownRenderer.value = mod.renderMarkdown;
    },
    (error) => {
      loading = undefined;
      console.warn(`Cannot load the markdown renderer: ${error}`);
    },
  );
  return loading;
}
