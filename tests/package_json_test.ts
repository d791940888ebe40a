import { assert, assertEquals } from "@std/assert";

/**
 * `package.json` exists for Bun (`bun install`, `bun run`); `deno.json` is the
 * source of truth. Every npm import of `deno.json` must be a dependency of
 * `package.json` with the same range, and nothing else.
 */
const root = new URL("../", import.meta.url);
const denoJson = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const packageJson = JSON.parse(await Deno.readTextFile(new URL("package.json", root)));

function npmImports(imports: Record<string, string>): Record<string, string> {
  const found: Record<string, string> = {};
  for (const [key, target] of Object.entries(imports)) {
    const match = target.match(/^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)\/?$/);
    if (!match) continue;
    const [, name, range] = match;
    if (found[name] !== undefined && found[name] !== range) {
      throw new Error(
        `deno.json maps "${key}" to ${name}@${range} but elsewhere to ${found[name]}`,
      );
    }
    found[name] = range;
  }
  return found;
}

Deno.test("package.json lists exactly deno.json's npm packages, same ranges", () => {
  const expected = npmImports(denoJson.imports);
  const dependencies = packageJson.dependencies ?? {};
  const devDependencies = packageJson.devDependencies ?? {};
  const both = Object.keys(dependencies).filter((name) => name in devDependencies);
  assertEquals(both, [], "a package is in both dependencies and devDependencies");
  const actual: Record<string, string> = { ...dependencies, ...devDependencies };
  const sorted = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).sort());
  assertEquals(
    sorted(actual),
    sorted(expected),
    "package.json has drifted from deno.json: copy the npm: ranges of deno.json's imports",
  );
});

Deno.test("the drift check reads subpath and scoped imports", () => {
  assertEquals(
    npmImports({
      "hono": "npm:hono@^4.1.0",
      "hono/": "npm:/hono@^4.1.0/",
      "@a/b": "npm:@a/b@~2.0.0",
      "@std/assert": "./tests/std_assert.ts",
    }),
    { hono: "^4.1.0", "@a/b": "~2.0.0" },
  );
});

Deno.test("package.json scripts run files that exist, and it stays private", async () => {
  assertEquals(packageJson.private, true);
  for (const [name, script] of Object.entries(packageJson.scripts as Record<string, string>)) {
    const file = script.split(" ").find((word) => word.endsWith(".ts"));
    assert(file, `script "${name}" runs no .ts file`);
    await Deno.stat(new URL(file, root));
  }
});
