/**
 * Markdown to sanitised HTML, loaded by the page after hydration as its own
 * bundle (marked, DOMPurify and the Prism highlighter are most of the
 * client's bytes, so they stay out of the initial JavaScript). Fenced code
 * is highlighted and every code block gets a Copy button.
 * @module
 */
import DOMPurify from "dompurify";
import { marked, type Tokens } from "marked";
import { highlight, languageOf } from "./highlight.ts";

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot" }[c]};`);

marked.use({
  renderer: {
    code({ text, lang }: Tokens.Code): string {
      const language = languageOf(lang);
      const body = language ? highlight(text, language) : escapeHtml(text);
      const cls = language ? ` class="language-${language}"` : "";
      return `<pre${cls}><code${cls}>${body}</code></pre>\n`;
    },
  },
});

/** Our own markup around each code block, added after sanitising (model HTML cannot add it). */
const CODE_OPEN = '<div class="code-block"><button type="button" class="copy-code">Copy</button>';

/**
 * Renders model text as markdown and sanitises the HTML with DOMPurify, so
 * raw HTML in the text (`<script>`, `onerror=` ...) never runs; then wraps
 * each `<pre>` with a Copy button.
 */
export function renderMarkdown(markdown: string): string {
  const html = marked.parse(markdown, { async: false, gfm: true });
  const clean = DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
  });
  return clean.replace(/<pre\b/g, `${CODE_OPEN}<pre`).replace(/<\/pre>/g, "</pre></div>");
}
