/**
 * The default agent: offline, honest about being a demo, with real tools
 * (calculator, clock, search over this project's docs) announced through
 * `status` / `tool-call` / `tool-result` events, and aware of earlier turns.
 * @module
 */
import { delay } from "../delay.ts";
import { calculate, CalculatorError, findExpression } from "../tools/calculator.ts";
import { readClock } from "../tools/clock.ts";
import { createDocsSearch, type DocsSearch } from "../tools/docs_search.ts";
import type { Agent, AgentEvent, AgentRequest, Attachment, StreamOptions, Turn } from "./types.ts";

/** Settings of the demo agent. */
export interface DemoOptions {
  /** Pause between streamed tokens (`DEMO_DELAY_MS`). */
  delayMs: number;
  /** Search over the project's docs. */
  docs: DocsSearch;
}

type Emit = (event: AgentEvent) => void;

const INTRO = "I am the **offline demo agent** of this chat service: no language model, " +
  "just a few real tools. I can do arithmetic (try *what is 12 * (3 + 4)?*), " +
  "tell the time, search this project's documentation (try *how do I run the benchmarks?*), " +
  "and remember what you asked earlier in this chat.";

/** Splits text into token-sized chunks (a word with its trailing space). */
export function tokenize(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

function recall(history: readonly Turn[]): string {
  if (history.length === 0) {
    return "This is the first question of our chat, so there is nothing earlier to recall.";
  }
  const lines = history.slice(-5).map((turn, i) => `${i + 1}. ${turn.query}`);
  return `Earlier in this chat you asked:\n\n${lines.join("\n")}`;
}

/** Plans the answer: runs tools (emitting their events) and returns the text. */
function answer(request: AgentRequest, docs: DocsSearch, emit: Emit): string {
  const query = request.query;
  const lower = query.toLowerCase();
  let call = 0;
  const tool = (toolName: string, input: unknown, run: () => unknown) => {
    const toolCallId = `call-${++call}`;
    emit({ type: "tool-call", toolCallId, toolName, input });
    try {
      const output = run();
      emit({ type: "tool-result", toolCallId, toolName, output });
      return output;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      emit({
        type: "tool-result",
        toolCallId,
        toolName,
        output: message,
        isError: true,
      });
      throw error;
    }
  };

  const attachments = request.attachments ?? [];
  if (attachments.length > 0) {
    emit({ type: "status", message: `Reading ${attachments.map((a) => a.name).join(", ")}` });
    return attachments.map((attachment) =>
      describeAttachment(attachment, query, (input, run) => tool("read_attachment", input, run))
    ).join("\n\n");
  }

  if (
    /^\s*((hi|hello|hey|help|who are you|what are you)\b|你好|您好)|introduce yourself|介绍/i.test(
      query,
    )
  ) {
    const turns = request.history.length;
    return INTRO +
      (turns
        ? `\n\nWe have talked ${turns} time${turns > 1 ? "s" : ""} in this chat already.`
        : "");
  }
  if (/\b(earlier|previous|before|what did i (ask|say))\b/i.test(lower)) {
    emit({ type: "status", message: "Reading the history of this chat" });
    return recall(request.history);
  }
  const expression = findExpression(query);
  if (expression) {
    emit({ type: "status", message: "Calculating" });
    try {
      const value = tool(
        "calculator",
        { expression },
        () => ({ value: calculate(expression) }),
      ) as { value: number };
      return `\`${expression}\` = **${value.value}**`;
    } catch (error) {
      if (error instanceof CalculatorError) {
        return `I could not calculate \`${expression}\`: ${error.message}.`;
      }
      throw error;
    }
  }
  if (/\b(time|date|today|clock)\b/.test(lower)) {
    emit({ type: "status", message: "Reading the clock" });
    const reading = tool("clock", {}, () => readClock()) as { text: string };
    return `It is **${reading.text}** (server clock, UTC).`;
  }
  emit({ type: "status", message: "Searching the docs" });
  const hits = tool(
    "docs_search",
    { query },
    () => docs.search(query),
  ) as ReturnType<DocsSearch["search"]>;
  if (hits.length === 0) {
    return `I found nothing about *${query}* in this project's docs. ${INTRO}`;
  }
  const parts = hits.map((hit) => `**${hit.title}** (${hit.source}): ${hit.excerpt}`);
  return `Here is what this project's docs say:\n\n${parts.map((p) => `- ${p}`).join("\n")}`;
}

/** Answers from one uploaded file: matching passages of a text, or what an image is. */
function describeAttachment(
  attachment: Attachment,
  query: string,
  tool: (input: unknown, run: () => unknown) => unknown,
): string {
  const { name, mime, size, text } = attachment;
  if (text === undefined) {
    tool({ name }, () => ({ name, mime, size }));
    return `I received **${name}** (${mime}, ${size} bytes). As an offline demo I cannot look ` +
      "inside images; attach a text file and I will search it.";
  }
  const words = text.split(/\s+/).filter(Boolean).length;
  const hits = tool({ name, query }, () => {
    const search = createDocsSearch([{ source: name, markdown: text }]);
    return { name, words, hits: search.search(query) };
  }) as { hits: ReturnType<DocsSearch["search"]> };
  if (hits.hits.length === 0) {
    const start = text.slice(0, 200).replace(/\s+/g, " ").trim();
    return `I read **${name}** (${words} words) but nothing in it matches *${query}*. ` +
      `It begins: “${start}${text.length > 200 ? "…" : ""}”`;
  }
  const parts = hits.hits.map((hit) => `- **${hit.title}**: ${hit.excerpt}`);
  return `From **${name}** (${words} words), the parts that match your question:\n\n${
    parts.join("\n")
  }`;
}

/** Creates the demo agent. */
export function createDemoAgent(options: DemoOptions): Agent {
  return {
    name: "demo",
    async *stream(
      request: AgentRequest,
      { signal }: StreamOptions,
    ): AsyncIterable<AgentEvent> {
      const planned: AgentEvent[] = [];
      const text = answer(
        request,
        options.docs,
        (event) => planned.push(event),
      );
      for (const event of planned) {
        if (!await delay(options.delayMs * 4, signal)) return;
        yield event;
      }
      for (const token of tokenize(text)) {
        if (!await delay(options.delayMs, signal)) return;
        yield { type: "text-delta", delta: token };
      }
    },
  };
}
