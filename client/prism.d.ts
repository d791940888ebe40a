// The part of Prism's API the highlighter uses (prismjs ships no types).
// deno-lint-ignore no-explicit-any
type Grammar = any;
declare const Prism: {
  languages: Record<string, Grammar | undefined>;
  highlight(text: string, grammar: Grammar, language: string): string;
};
export default Prism;
