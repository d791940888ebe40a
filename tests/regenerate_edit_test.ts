/**
 * The native `regenerate` and `edit` frames on the real model path (the
 * `openai` agent against the local fake): exactly one new model request,
 * and history keeps only the new branch.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { startFakeOpenAi } from "./helpers/fake_openai.ts";
import { startServer } from "./helpers/server.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

const userTexts = (request: Record<string, unknown>) =>
  (request.messages as { role: string; content: unknown }[])
    .filter((m) => m.role === "user").map((m) => JSON.stringify(m.content));

Deno.test("native regenerate and edit replace turns: one model request each, one branch kept", async () => {
  const upstream = startFakeOpenAi();
  const server = await startServer({
    AGENT: "openai",
    OPENAI_BASE_URL: upstream.baseUrl,
    OPENAI_MODEL: "fake-model",
  });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ type: "regenerate", session_id: "branch", request_id: "r0" });
    const nothing = await client.answer();
    assertEquals(nothing.at(-1)?.type, "error");
    assertEquals(nothing.at(-1)?.code, "not_found");
    assertEquals(upstream.requests.length, 0, "no model request for nothing");

    for (const query of ["[code] one", "[code] two"]) {
      client.send({ query, session_id: "branch" });
      await client.answer();
    }
    assertEquals(upstream.requests.length, 2);

    client.send({ type: "regenerate", session_id: "branch", request_id: "r1" });
    const again = await client.answer();
    assertEquals(again.at(-1)?.type, "done");
    assertStringIncludes(textOf(again), "const answer");
    assertEquals(upstream.requests.length, 3, "exactly one new model request");
    assertEquals(userTexts(upstream.requests[2]), ['"[code] one"', '"[code] two"']);

    client.send({ type: "edit", session_id: "branch", turn: 0, query: "[code] uno" });
    await client.answer();
    assertEquals(upstream.requests.length, 4);
    assertEquals(userTexts(upstream.requests[3]), ['"[code] uno"'], "turns 0.. were dropped");

    client.send({ query: "[code] after", session_id: "branch" });
    await client.answer();
    assertEquals(userTexts(upstream.requests[4]), ['"[code] uno"', '"[code] after"']);

    client.send({ type: "edit", session_id: "branch", turn: -1, query: "x" });
    const bad = await client.next();
    assertEquals([bad.type, bad.code], ["error", "invalid_frame"]);
  } finally {
    await client.close();
    await server.close();
    await upstream.close();
  }
});
