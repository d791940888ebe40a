/**
 * The shared store failing under a fleet (a real redis-server, two Deno
 * instances, real WebSocket and SSE clients): Redis frozen with SIGSTOP (it
 * keeps its sockets open and answers nothing) and Redis killed and
 * restarted empty, while answers stream. Whatever happens, every client
 * gets a frame, an error or a close in bounded time, and the instances
 * recover without a restart.
 */
import { assert, assertEquals } from "@std/assert";
import { type Instance, startInstance } from "../ops/instance.ts";
import { type RedisServer, startRedis } from "../ops/redis.ts";
import { SSE_CANCEL_PATH } from "../protocol/codes.ts";
import {
  assertWholeAnswer,
  FLEET_IGNORE,
  paced,
  startThenDrop,
  take,
  untilEndWithin,
  within,
} from "./helpers/fleet.ts";
import type { Frame } from "./helpers/resuming_client.ts";
import { NO_KEY_BUDGETS } from "./helpers/server.ts";
import { readSse } from "./helpers/sse_client.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

const CHUNKS = 150;
/** `STORE_TIMEOUT_MS` of the instances: every store call fails after this long. */
const STORE_TIMEOUT_MS = 1_000;
/**
 * Bound on any reply while the store fails: a client's step makes a few
 * store calls in turn, each bounded by the store timeout, and a reader of
 * another instance's answer gives up after a lease (`PRODUCER_LEASE_MS`,
 * 5 s) of failures; the rest is room for a noisy machine. A liveness bound,
 * not a timing assertion: without a bound the wait has no end.
 */
const REPLY_MS = 4 * STORE_TIMEOUT_MS + 5_000 + 6_000;

/** The codes a resume of an answer whose log was lost may end with. */
const LOST = ["not_found", "interrupted", "stream_lost"];

/**
 * Two instances on one Redis: `a` runs paced synthetic answers with the
 * per-client budgets on, `b` the demo agent (it loads history first) with them off.
 */
interface Pair {
  redis: RedisServer;
  a: Instance;
  b: Instance;
}

/**
 * Runs `test` on a fresh {@link Pair}; stops everything after (a frozen
 * Redis is thawed first), and fails when an instance crashed.
 */
async function withPair(test: (pair: Pair) => Promise<void>): Promise<void> {
  const redis = await startRedis();
  const instances: Instance[] = [];
  let crashed: string | undefined;
  try {
    const env = {
      ...paced(CHUNKS, 20),
      STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
      REDIS_URL: redis.url,
    };
    instances.push(await startInstance("deno", { name: "a", env }));
    instances.push(
      await startInstance("deno", {
        name: "b",
        env: { ...env, ...NO_KEY_BUDGETS, AGENT: "demo", DEMO_DELAY_MS: "5" },
      }),
    );
    for (const instance of instances) {
      instance.exited.then((status) => crashed ??= `${instance.name} exited ${status.code}`);
    }
    await test({ redis, a: instances[0], b: instances[1] });
    assertEquals(crashed, undefined, "no instance crashed");
  } finally {
    redis.signal("SIGCONT");
    await Promise.all(instances.map((instance) => instance.stop()));
    await redis.stop();
  }
}

/** Sends `frame` on a new socket to `instance` and returns the frames through the request's end. */
async function request(instance: Instance, frame: Frame, what: string): Promise<Frame[]> {
  const client = await WsTestClient.connect(instance.wsUrl);
  try {
    client.send(frame);
    return await untilEndWithin(client, REPLY_MS, what);
  } finally {
    await client.close();
  }
}

/** Asserts the frames end with an `error` frame of `code`. */
function assertEndsWith(frames: Frame[], code: string, what: string): void {
  assertEquals([frames.at(-1)?.type, frames.at(-1)?.code], ["error", code], what);
}

/** A whole answer asked on a new socket to `instance` (after the store came back). */
async function assertAnswers(instance: Instance, sessionId: string): Promise<void> {
  const frames = await request(instance, { query: "count", session_id: sessionId }, "an answer");
  assertEquals(
    frames.at(-1)?.finish_reason,
    "stop",
    `${instance.name} answers: ${JSON.stringify(frames.at(-1))}`,
  );
}

/** An SSE answer on `instance`: its status, and its events' data when it is 200. */
async function sse(
  instance: Instance,
  query: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; frames: Frame[] }> {
  const response = await fetch(`${instance.url}/agent_chat_stream?${query}`, { headers });
  return { status: response.status, frames: await framesOf(response) };
}

/** The events' data of an SSE response (none when it is not 200). */
async function framesOf(response: Response): Promise<Frame[]> {
  if (response.status === 200) return (await readSse(response)).map((event) => event.json);
  await response.body?.cancel();
  return [];
}

/** A fleet test (ignored without the fleet's parts) on a fresh {@link Pair}. */
function faultTest(name: string, test: (pair: Pair) => Promise<void>): void {
  Deno.test({ name: `store faults: ${name}`, ignore: FLEET_IGNORE, fn: () => withPair(test) });
}

/**
 * On `a`: an answer whose client dropped (logged in Redis; `resume` asks
 * for the rest), and one whose WebSocket stays connected.
 */
async function midStream(a: Instance, name: string) {
  const requestId = `${name}-dropped`;
  const seen = await startThenDrop(a, { sessionId: requestId, requestId }, 5);
  const ws = await WsTestClient.connect(a.wsUrl);
  ws.send({ query: "count", session_id: `${name}-ws` });
  const first = await within(take(ws, 5), REPLY_MS, "first frames");
  const resume = { type: "resume", request_id: requestId, last_seq: seen.at(-1)!.seq };
  /** The connected answer, read to its end: whole. */
  const connectedEnds = async () => {
    const rest = await untilEndWithin(ws, REPLY_MS, "the end of a connected WebSocket answer");
    await ws.close();
    assertWholeAnswer([...first, ...rest], CHUNKS);
  };
  return { requestId, resume, connectedEnds };
}

faultTest(
  "Redis frozen mid-stream: streams end, every new step gets a clear error, SIGCONT recovers",
  async ({ redis, a, b }) => {
    const answers = await midStream(a, "frozen");
    // A connected SSE answer too: its 200 comes once the answer started (admitted).
    const started = await fetch(`${a.url}/agent_chat_stream?query=count&session_id=frozen-sse`);
    const streaming = within(framesOf(started), REPLY_MS, "the end of a connected SSE answer");
    streaming.catch(() => {}); // awaited below; a failure before then must not escape the test

    assert(redis.signal("SIGSTOP"), "Redis frozen");
    const newQuery = await request(
      a,
      { query: "count", session_id: "frozen-new", request_id: "frozen-new" },
      "reply to a new query (budgets in the store) while Redis is frozen",
    );
    assertEndsWith(newQuery, "unavailable", "a new query is refused clearly");
    const historyLoad = await request(
      b,
      { query: "hello", session_id: "frozen-history" },
      "reply to a new query (history load) while Redis is frozen",
    );
    assertEndsWith(historyLoad, "unavailable", "a turn whose history cannot load ends");
    const resumed = await request(
      b,
      answers.resume,
      "reply to a resume while Redis is frozen",
    );
    assertEndsWith(resumed, "unavailable", "a resume is refused clearly");
    const cancel = await request(
      b,
      { type: "cancel", request_id: answers.requestId },
      "reply to a cancel while Redis is frozen",
    );
    assertEndsWith(cancel, "unavailable", "a cancel says it could not reach the answer");
    const sseCancel = await within(
      fetch(`${b.url}${SSE_CANCEL_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ request_id: answers.requestId }),
      }),
      REPLY_MS,
      "reply to an SSE cancel while Redis is frozen",
    );
    assertEquals([sseCancel.status, (await sseCancel.json()).error.code], [503, "unavailable"]);
    const unknown = await request(
      b,
      { type: "resume", request_id: "no-such-answer", last_seq: 3 },
      "reply to a resume of an unknown answer while Redis is frozen",
    );
    assertEndsWith(unknown, "unavailable", "an unknown answer cannot be told from a lost one");
    const sseNew = await within(sse(a, "query=count"), REPLY_MS, "SSE reply while frozen");
    assertEquals(sseNew.status, 503, "a new SSE answer is refused clearly");
    const lastEventIds = ["garbage", "no-such-answer:3"];
    for (const id of lastEventIds) {
      const replay = await within(
        sse(b, "query=count", { "Last-Event-ID": id }),
        REPLY_MS,
        `SSE reply to Last-Event-ID "${id}" while frozen`,
      );
      const last = replay.frames.at(-1);
      assert(replay.status !== 200 || last?.type === "error", `"${id}": ${JSON.stringify(last)}`);
    }
    const ready = await within(fetch(`${b.url}/readyz`), REPLY_MS, "readiness answer");
    assertEquals([ready.status, (await ready.json()).ready], [503, false]);

    // The connected answers end (their history write fails after the store timeout).
    await answers.connectedEnds();
    assertWholeAnswer(await streaming, CHUNKS);

    assert(redis.signal("SIGCONT"), "Redis thawed");
    await assertAnswers(a, "thawed-a");
    await assertAnswers(b, "thawed-b");
  },
);

faultTest(
  "Redis killed and restarted empty mid-stream: streams end, resumes end clearly, new answers work",
  async ({ redis, a, b }) => {
    const answers = await midStream(a, "empty");

    assert(redis.signal("SIGKILL"), "Redis killed");
    await redis.stop();
    await redis.start();
    // The answer's log is gone: a resume, here or elsewhere, while it runs or after, ends clearly.
    const whileRunning = await request(
      b,
      answers.resume,
      "reply to a resume after Redis restarted",
    );
    await answers.connectedEnds();
    const afterEnd = await request(
      a,
      answers.resume,
      "reply to a resume of an ended, lost answer",
    );
    for (const frames of [whileRunning, afterEnd]) {
      const last = frames.at(-1);
      assert(
        last?.type === "error" && LOST.includes(String(last.code)),
        `a lost answer's resume ends with an error: ${JSON.stringify(last)}`,
      );
    }
    await assertAnswers(a, "empty-a");
    await assertAnswers(b, "empty-b");
  },
);
