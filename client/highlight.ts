/**
 * Syntax highlighting of code blocks with Prism (core with markup, CSS,
 * C-like and JavaScript, plus TypeScript, Python, Bash, JSON, Go, Rust and
 * SQL). Part of the markdown bundle, so it loads after hydration.
 * @module
 */
import "./prism_setup.ts";
// Core and the grammars one by one (`prismjs` itself adds a file-highlight plugin).
// @ts-types="./prism.d.ts"
import Prism from "prismjs/components/prism-core.js";
import "prismjs/components/prism-markup.js";
import "prismjs/components/prism-css.js";
import "prismjs/components/prism-clike.js";
import "prismjs/components/prism-javascript.js";
import "prismjs/components/prism-typescript.js";
import "prismjs/components/prism-python.js";
import "prismjs/components/prism-bash.js";
import "prismjs/components/prism-json.js";
import "prismjs/components/prism-go.js";
import "prismjs/components/prism-rust.js";
import "prismjs/components/prism-sql.js";

const ALIASES: Record<string, string> = {
  ts: "typescript",
  tsx: "typescript",
  js: "javascript",
  jsx: "javascript",
  mjs: "javascript",
  py: "python",
  sh: "bash",
  shell: "bash",
  zsh: "bash",
  console: "bash",
  html: "markup",
  xml: "markup",
  svg: "markup",
  rs: "rust",
  golang: "go",
};

/** The Prism grammar name of a fence's language tag, if Prism knows it. */
export function languageOf(tag: string | undefined): string | undefined {
  const name = (tag ?? "").trim().split(/\s/)[0].toLowerCase();
  const language = ALIASES[name] ?? name;
  return Prism.languages[language] ? language : undefined;
}

/**
 * Highlights `code` as `language` (from {@link languageOf}): HTML made of
 * escaped text and `<span class="token ...">`, to be sanitised like the rest.
 */
export function highlight(code: string, language: string): string {
  return Prism.highlight(code, Prism.languages[language], language);
}
