/**
 * Server-side island marker: wraps an island's server rendering in an
 * element that names the island and carries its props as JSON, for
 * `boot.ts` to hydrate.
 * @module
 */
import type { ComponentType, JSX } from "preact";

/** Props of {@link Island}. */
export interface IslandProps<P> {
  /** The name in the island registry (`client/islands/mod.ts`). */
  name: string;
  component: ComponentType<P>;
  /** Serialisable props, rendered on the server and passed to hydrate. */
  props: P;
}

/** Renders an island for hydration. */
export function Island<P>(
  { name, component: Component, props }: IslandProps<P>,
): JSX.Element {
  return (
    <div data-island={name} data-props={JSON.stringify(props)}>
      {/* @ts-ignore: P is the component's own props */}
      <Component {...props} />
    </div>
  );
}
