/**
 * An agent backed by any OpenAI-compatible chat completions server (OpenAI,
 * Ollama, vLLM, llama.cpp) through the AI SDK. It offers the demo agent's
 * tools to the model and forwards tool calls and results as events.
 * @module
 */
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { type ModelMessage, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";
import { toolLimitStop } from "../core.ts";
import { calculate } from "../tools/calculator.ts";
import { readClock } from "../tools/clock.ts";
import type { DocsSearch } from "../tools/docs_search.ts";
import type { Agent, AgentEvent, AgentRequest, StreamOptions } from "./types.ts";

/** Settings of the openai agent (`OPENAI_*` variables). */
export interface OpenAiOptions {
  baseUrl: string;
  apiKey?: string;
  model: string;
  docs: DocsSearch;
}

const SYSTEM = "You are a helpful assistant inside a chat streaming service. " +
  "Use the tools for arithmetic, the current time and questions about this project. " +
  "Answer in concise markdown.";

/**
 * Most tool calls the model may make in one step (parallel calls); the next
 * one ends the turn with `too_many_tool_calls`.
 */
export const MAX_TOOL_CALLS_PER_STEP = 16;

function historyMessages(request: AgentRequest): ModelMessage[] {
  const messages: ModelMessage[] = [];
  for (const turn of request.history) {
    messages.push({ role: "user", content: turn.query });
    if (turn.answer) messages.push({ role: "assistant", content: turn.answer });
  }
  messages.push({ role: "user", content: request.query });
  return messages;
}

/** Creates the openai agent. */
export function createOpenAiAgent(options: OpenAiOptions): Agent {
  const provider = createOpenAICompatible({
    name: "openai-compatible",
    baseURL: options.baseUrl,
    apiKey: options.apiKey,
  });
  const model = provider.chatModel(options.model);
  const tools = {
    calculator: tool({
      description: "Evaluates an arithmetic expression with + - * / % ^ and parentheses",
      inputSchema: z.object({ expression: z.string() }),
      execute: ({ expression }) => ({ value: calculate(expression) }),
    }),
    clock: tool({
      description: "Returns the current date and time in UTC",
      inputSchema: z.object({}),
      execute: () => readClock(),
    }),
    docs_search: tool({
      description: "Searches this project's documentation",
      inputSchema: z.object({ query: z.string() }),
      execute: ({ query }) => options.docs.search(query),
    }),
  };
  return {
    name: "openai",
    async *stream(
      request: AgentRequest,
      { signal }: StreamOptions,
    ): AsyncIterable<AgentEvent> {
      const result = streamText({
        model,
        system: SYSTEM,
        messages: historyMessages(request),
        tools,
        stopWhen: stepCountIs(5),
        abortSignal: signal,
        // Errors arrive as `error` parts below and are logged by the core.
        onError: () => {},
      });
      let stepCalls = 0;
      for await (const part of result.stream) {
        switch (part.type) {
          case "start-step":
            stepCalls = 0;
            break;
          case "text-delta":
            if (part.text) yield { type: "text-delta", delta: part.text };
            break;
          case "tool-call":
            if (++stepCalls > MAX_TOOL_CALLS_PER_STEP) {
              throw toolLimitStop(MAX_TOOL_CALLS_PER_STEP, "step");
            }
            yield { type: "status", message: `Calling ${part.toolName}` };
            yield {
              type: "tool-call",
              toolCallId: part.toolCallId,
              toolName: part.toolName,
              input: part.input,
            };
            break;
          case "tool-result":
            yield {
              type: "tool-result",
              toolCallId: part.toolCallId,
              toolName: part.toolName,
              output: part.output,
            };
            break;
          case "tool-error":
            yield {
              type: "tool-result",
              toolCallId: part.toolCallId,
              toolName: part.toolName,
              output: part.error instanceof Error ? part.error.message : String(part.error),
              isError: true,
            };
            break;
          case "error":
            throw part.error instanceof Error ? part.error : new Error(String(part.error));
        }
      }
    },
  };
}
