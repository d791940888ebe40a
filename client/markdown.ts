/**
 * Markdown to sanitised HTML, loaded by the page after hydration as its own
 * bundle (marked and DOMPurify are most of the client's bytes, so they stay
 * out of the initial JavaScript).
 * @module
 */
import DOMPurify from "dompurify";
import { marked } from "marked";

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

/**
 * Renders model text as markdown and sanitises the HTML with DOMPurify, so
 * raw HTML in the text (`<script>`, `onerror=` ...) never runs.
 */
export function renderMarkdown(markdown: string): string {
  const html = marked.parse(markdown, { async: false, gfm: true });
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
  });
}
