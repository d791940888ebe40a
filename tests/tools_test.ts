import { assertEquals, assertGreater, assertStringIncludes, assertThrows } from "@std/assert";
import { calculate, CalculatorError, findExpression } from "../server/tools/calculator.ts";
import { readClock } from "../server/tools/clock.ts";
import { createDocsSearch } from "../server/tools/docs_search.ts";
import { tokenize } from "../server/agents/demo.ts";

Deno.test("calculator follows precedence, parentheses, unary minus and power", () => {
  assertEquals(calculate("2+3*4"), 14);
  assertEquals(calculate("(2+3)*4"), 20);
  assertEquals(calculate("-3 + 5"), 2);
  assertEquals(calculate("2^3^2"), 512);
  assertEquals(calculate("10 % 4 / 2"), 1);
  assertEquals(calculate(".5 * 4"), 2);
});

Deno.test("calculator rejects bad input with a specific error and never evaluates code", () => {
  for (
    const [input, words] of [
      ["", "empty expression"],
      ["2+", "ends too early"],
      ["1/0", "division by zero"],
      ["(1+2", 'missing ")"'],
      ["alert(1)", "unexpected character"],
      ["2 3", 'unexpected "3"'],
      ["9^9^9", "not a finite number"],
      ["1+".repeat(200), "longer than"],
    ]
  ) {
    assertThrows(() => calculate(input), CalculatorError, words);
  }
});

Deno.test("findExpression picks the arithmetic out of a question", () => {
  assertEquals(findExpression("what is 12 * (3 + 4)?"), "12 * (3 + 4)");
  assertEquals(findExpression("tell me about 2026"), undefined);
});

Deno.test("clock reads an injected time in UTC", () => {
  const reading = readClock(new Date("2026-01-02T03:04:05Z"));
  assertEquals(reading.iso, "2026-01-02T03:04:05.000Z");
  assertStringIncludes(reading.text, "2026");
});

Deno.test("docs search finds sections by heading and text", () => {
  const docs = createDocsSearch([{
    source: "README.md",
    markdown:
      "# Title\nintro\n## Benchmarks\nRun deno task bench:report to measure.\n## Deploy\nUse deployctl.",
  }]);
  assertEquals(docs.size, 3);
  const hits = docs.search("benchmarks");
  assertEquals(hits[0].title, "Benchmarks");
  assertGreater(hits[0].score, 0);
  assertEquals(docs.search("zzzzqqq"), []);
});

Deno.test("demo tokenizer keeps every character", () => {
  const text = "Hello,  world!\n\n- a **b**";
  assertEquals(tokenize(text).join(""), text);
  assertGreater(tokenize(text).length, 3);
});

Deno.test("demo agent introduces itself to a greeting, in English or Chinese", async () => {
  const { createDemoAgent } = await import("../server/agents/demo.ts");
  const { eventsOf } = await import("../server/agents/types.ts");
  const agent = createDemoAgent({ delayMs: 0, docs: createDocsSearch([]) });
  for (const query of ["hello there", "你好，请介绍一下你自己"]) {
    let text = "";
    const events = agent.stream({ query, sessionId: "s", history: [] }, {
      signal: new AbortController().signal,
    });
    for await (const ready of events) {
      for (const event of eventsOf(ready)) if (event.type === "text-delta") text += event.delta;
    }
    assertStringIncludes(text, "offline demo agent");
    assertEquals(text.includes("found nothing"), false);
  }
});

Deno.test("native encoder: content frames match the schema and the generic encoding", async () => {
  const { NativeEncoder } = await import("../server/encode.ts");
  const { ContentFrame } = await import("../protocol/frames.ts");
  const encoder = new NativeEncoder();
  encoder.encode({ seq: 0, event: { type: "start", requestId: "r-1", sessionId: "s" } });
  let seq = 0;
  for (const [delta, ts] of [['he said "hi"\n\u2028', 1.5], ["plain", undefined]] as const) {
    const text = encoder.encode({ seq: ++seq, event: { type: "text-delta", delta, ts } });
    const frame = ContentFrame.parse(JSON.parse(text));
    assertEquals([frame.content, frame.request_id], [delta, "r-1"]);
    assertEquals(
      text,
      JSON.stringify({ type: "content", content: delta, ts, request_id: "r-1", seq: frame.seq }),
    );
  }
  assertEquals(encoder.lastSeq, 2);
});
