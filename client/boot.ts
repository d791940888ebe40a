/**
 * The boot script: hydrates each element marked `data-island` with the
 * island of that name and the JSON props in its `data-props` attribute.
 * Everything else on the page stays static HTML.
 * @module
 */
import { h, hydrate } from "preact";
import { islands } from "./islands/mod.ts";

for (const el of document.querySelectorAll<HTMLElement>("[data-island]")) {
  const name = el.dataset.island ?? "";
  const island = islands[name];
  if (!island) {
    console.warn(`Cannot hydrate island: unknown name "${name}"`);
    continue;
  }
  let props: Record<string, unknown> = {};
  try {
    props = JSON.parse(el.dataset.props ?? "{}");
  } catch {
    console.warn(`Cannot hydrate island "${name}": props are not valid JSON`);
    continue;
  }
  hydrate(h(island, props), el);
  el.dataset.hydrated = "";
}
