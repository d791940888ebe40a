/**
 * Loads the project's own documentation for the docs-search tool.
 * Uses `node:fs` so Deno and Bun share it.
 * @module
 */
import { readFile } from "node:fs/promises";
import { createDocsSearch, type DocsSearch } from "./tools/docs_search.ts";

/** Files indexed by the docs-search tool, relative to the project root. */
export const DOC_FILES = ["README.md"];

/** Reads the doc files (missing ones are skipped) and indexes them. */
export async function loadDocs(
  root: URL = new URL("../", import.meta.url),
): Promise<DocsSearch> {
  const docs = [];
  for (const source of DOC_FILES) {
    try {
      docs.push({
        source,
        markdown: await readFile(new URL(source, root), "utf8"),
      });
    } catch {
      // A deployment without the file still answers, just with fewer hits.
    }
  }
  return createDocsSearch(docs);
}
