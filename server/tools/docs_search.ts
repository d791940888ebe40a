/**
 * Full-text search over the project's own documentation (MiniSearch).
 * Documents are split into sections at markdown headings.
 * @module
 */
import MiniSearch from "minisearch";

/** One searchable section. */
export interface DocSection {
  id: number;
  source: string;
  title: string;
  text: string;
}

/** One search hit. */
export interface DocHit {
  source: string;
  title: string;
  excerpt: string;
  score: number;
}

/** Searches documentation sections. */
export interface DocsSearch {
  /** The best `limit` sections for `query`. */
  search(query: string, limit?: number): DocHit[];
  /** How many sections are indexed. */
  readonly size: number;
}

/** Splits markdown into sections at headings. */
export function splitSections(
  source: string,
  markdown: string,
): Omit<DocSection, "id">[] {
  const sections: Omit<DocSection, "id">[] = [];
  let title = source;
  let lines: string[] = [];
  const flush = () => {
    const text = lines.join("\n").trim();
    if (text) sections.push({ source, title, text });
    lines = [];
  };
  for (const line of markdown.split("\n")) {
    const heading = /^#{1,4}\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      title = heading[1].trim();
    } else {
      lines.push(line);
    }
  }
  flush();
  return sections;
}

function excerpt(text: string, terms: string[], length = 240): string {
  const lower = text.toLowerCase();
  const at = Math.max(
    0,
    Math.min(
      ...terms.map((t) => lower.indexOf(t)).filter((i) => i >= 0),
      text.length,
    ) - 60,
  );
  const slice = text.slice(at, at + length).replace(/\s+/g, " ").trim();
  return (at > 0 ? "…" : "") + slice + (at + length < text.length ? "…" : "");
}

/** Builds a search index over `{source, markdown}` documents. */
export function createDocsSearch(
  docs: { source: string; markdown: string }[],
): DocsSearch {
  const sections: DocSection[] = docs
    .flatMap((doc) => splitSections(doc.source, doc.markdown))
    .map((section, id) => ({ ...section, id }));
  const index = new MiniSearch<DocSection>({
    fields: ["title", "text"],
    storeFields: ["source", "title", "text"],
    searchOptions: { boost: { title: 2 }, prefix: true, fuzzy: 0.2 },
  });
  index.addAll(sections);
  return {
    size: sections.length,
    search(query, limit = 3) {
      return index.search(query).slice(0, limit).map((hit) => ({
        source: hit.source as string,
        title: hit.title as string,
        excerpt: excerpt(hit.text as string, hit.terms),
        score: Math.round(hit.score * 100) / 100,
      }));
    },
  };
}
