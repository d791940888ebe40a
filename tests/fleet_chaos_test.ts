/**
 * Chaos in a real fleet (real redis-server, real HAProxy, Deno and Bun
 * processes, all on 127.0.0.1): resume and cancel across runtimes, a
 * producer killed with SIGKILL (Redis and Deno KV), a rolling restart under
 * load through the load balancer, Redis stopped and started mid-answer.
 * Figures (answers, chunks, reconnects, time to `interrupted`) are printed,
 * never asserted.
 */
import { assert, assertEquals } from "@std/assert";
import { startFleet } from "../ops/fleet.ts";
import { type Instance, startInstance } from "../ops/instance.ts";
import {
  assertWholeAnswer,
  FLEET_IGNORE,
  historyOf,
  type StoreAt,
  within,
} from "./helpers/fleet.ts";
import type { Frame } from "./helpers/resuming_client.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

/** A close code that is not 1000: the server treats it as a drop, not a goodbye. */
const DROP = 4000;
/** Safety bound on any one wait (never a timing assertion). */
const BOUND_MS = 60_000;

/** A paced synthetic answer of `chunks` chunks of 4 characters, `intervalMs` apart. */
function paced(chunks: number, intervalMs: number): Record<string, string> {
  return {
    AGENT: "synthetic",
    SYNTHETIC_CHUNKS: String(chunks),
    SYNTHETIC_CHUNK_BYTES: "4",
    SYNTHETIC_INTERVAL_MS: String(intervalMs),
    LOG_LEVEL: "silent",
  };
}

/** Reads `count` frames from `client`. */
async function take(client: WsTestClient, count: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  while (frames.length < count) frames.push(await client.next());
  return frames;
}

/** Frames through the end of the answer (`done`, or an `error` frame of the request). */
function untilEnd(client: WsTestClient, what: string): Promise<Frame[]> {
  return within(
    client.until((f) => f.type === "done" || (f.type === "error" && f.request_id !== undefined)),
    BOUND_MS,
    what,
  );
}

/** Starts an answer on `from`, drops the socket after `seen` frames; returns them. */
async function startThenDrop(
  from: Instance,
  request: { sessionId: string; requestId: string },
  seen: number,
): Promise<Frame[]> {
  const client = await WsTestClient.connect(from.wsUrl);
  client.send({ query: "count", session_id: request.sessionId, request_id: request.requestId });
  const frames = await within(take(client, seen), BOUND_MS, `first frames on ${from.name}`);
  client.socket.close(DROP, "network drop");
  await client.closed();
  return frames;
}

Deno.test({
  name: "fleet chaos: resume and cancel between Deno and Bun through Redis, both directions",
  ignore: FLEET_IGNORE,
  async fn() {
    const chunks = 150;
    const fleet = await startFleet({ deno: 1, bun: 1, env: paced(chunks, 10) });
    try {
      const [deno, bun] = fleet.instances;
      for (const [a, b] of [[deno, bun], [bun, deno]]) {
        // Resume on b an answer produced on a: every remaining frame exactly once, in order.
        const resumed = { sessionId: `resume-${a.name}`, requestId: `resume-${a.name}-${b.name}` };
        const seen = await startThenDrop(a, resumed, 10);
        const onB = await WsTestClient.connect(b.wsUrl);
        onB.send({ type: "resume", request_id: resumed.requestId, last_seq: seen.at(-1)!.seq });
        const rest = await untilEnd(onB, `the resumed answer on ${b.name}`);
        assertWholeAnswer([...seen, ...rest], chunks);

        // Cancel on b an answer produced on a: a stops and records the turn as cancelled.
        const cancelled = {
          sessionId: `cancel-${a.name}`,
          requestId: `cancel-${a.name}-${b.name}`,
        };
        const started = await startThenDrop(a, cancelled, 5);
        onB.send({ type: "cancel", request_id: cancelled.requestId });
        onB.send({
          type: "resume",
          request_id: cancelled.requestId,
          last_seq: started.at(-1)!.seq,
        });
        const tail = await untilEnd(onB, `the cancelled answer's end on ${b.name}`);
        await onB.close();
        assertEquals([tail.at(-1)?.type, tail.at(-1)?.finish_reason], ["done", "cancelled"]);
        const content = [...started, ...tail].filter((f) => f.type === "content").length;
        assert(content < chunks, `${a.name} stopped early (${content} of ${chunks} chunks)`);
        const turns = (await historyOf(fleet, [cancelled.sessionId])).get(cancelled.sessionId)!;
        assertEquals(turns.map((t) => t.finishReason), ["cancelled"], `${a.name} recorded it`);
      }
    } finally {
      await fleet.close();
    }
  },
});

/**
 * Starts a long answer on `producer`, drops it, tails it on `reader`, kills
 * the producer with SIGKILL; returns the reader's frames after the kill and
 * the milliseconds from the kill to the answer's end.
 */
async function killProducerWhileTailed(
  producer: Instance,
  reader: Instance,
  request: { sessionId: string; requestId: string },
): Promise<{ frames: Frame[]; ms: number }> {
  const seen = await startThenDrop(producer, request, 5);
  const tailing = await WsTestClient.connect(reader.wsUrl);
  tailing.send({ type: "resume", request_id: request.requestId, last_seq: seen.at(-1)!.seq });
  // Live: the reader follows the producer's frames before the kill.
  const live = await within(take(tailing, 5), BOUND_MS, `tailed frames on ${reader.name}`);
  assertEquals(live.map((f) => f.seq), [1, 2, 3, 4, 5].map((n) => n + Number(seen.at(-1)!.seq)));
  const killedAt = performance.now();
  assert(producer.signal("SIGKILL"), `${producer.name} was running`);
  const frames = await untilEnd(tailing, `an end after SIGKILL of ${producer.name}`);
  const ms = performance.now() - killedAt;
  await tailing.close();
  await producer.exited;
  const all = [...seen, ...live, ...frames];
  assertEquals(all.map((f) => f.seq), all.map((_, i) => i), "no gap, no duplicate");
  assertEquals(
    [all.at(-1)?.type, all.at(-1)?.code],
    ["error", "interrupted"],
    `the reader on ${reader.name} is told the answer was interrupted`,
  );
  return { frames, ms };
}

/** Asserts the partial turn is kept, marked interrupted. */
async function assertInterruptedTurn(at: StoreAt, sessionId: string): Promise<void> {
  const turns = (await historyOf(at, [sessionId])).get(sessionId)!;
  assertEquals(turns.map((t) => t.finishReason), ["interrupted"]);
  assert(turns[0].answer.length > 0, "the partial answer is kept");
}

Deno.test({
  name:
    "fleet chaos: SIGKILL of the producer (Deno, then Bun) on Redis: its reader gets interrupted",
  ignore: FLEET_IGNORE,
  async fn() {
    const fleet = await startFleet({ deno: 1, bun: 1, env: paced(2_000, 10) });
    try {
      const [deno, bun] = fleet.instances;
      for (const [producer, reader] of [[deno, bun], [bun, deno]]) {
        const request = { sessionId: `kill-${producer.name}`, requestId: `kill-${producer.name}` };
        const { ms } = await killProducerWhileTailed(producer, reader, request);
        console.log(
          `Redis: ${producer.name} killed, ${reader.name}'s client got interrupted after ${
            Math.round(ms)
          } ms`,
        );
        await assertInterruptedTurn(fleet, request.sessionId);
        await producer.restart();
      }
    } finally {
      await fleet.close();
    }
  },
});

Deno.test({
  name: "fleet chaos: SIGKILL of the producer on Deno KV (two Deno instances, one KV file)",
  ignore: FLEET_IGNORE,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "fleet-kv-" });
    const env = { ...paced(2_000, 10), KV_PATH: `${dir}/shared.kv`, REDIS_URL: "" };
    const instances: Instance[] = [];
    try {
      instances.push(await startInstance("deno", { name: "deno-a", env }));
      instances.push(await startInstance("deno", { name: "deno-b", env }));
      const request = { sessionId: "kill-kv", requestId: "kill-kv" };
      const { ms } = await killProducerWhileTailed(instances[0], instances[1], request);
      console.log(
        `Deno KV: deno-a killed, deno-b's client got interrupted after ${Math.round(ms)} ms`,
      );
      await assertInterruptedTurn({ kvPath: env.KV_PATH }, request.sessionId);
    } finally {
      await Promise.all(instances.map((instance) => instance.stop()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
