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
  paced,
  startThenDrop,
  type StoreAt,
  take,
  untilEndWithin,
  within,
} from "./helpers/fleet.ts";
import { NO_KEY_BUDGETS } from "./helpers/server.ts";
import { ask, type AskResult, type Frame } from "./helpers/resuming_client.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

/** Safety bound on any one wait (never a timing assertion). */
const BOUND_MS = 60_000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Frames through the end of the answer (`done`, or an `error` frame of the request). */
function untilEnd(client: WsTestClient, what: string): Promise<Frame[]> {
  return untilEndWithin(client, BOUND_MS, what);
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

/** Counts of each value. */
function tally(values: unknown[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const value of values) out[String(value)] = (out[String(value)] ?? 0) + 1;
  return out;
}

Deno.test({
  name: "fleet chaos: rolling restart of every instance under 100 streaming clients loses nothing",
  ignore: FLEET_IGNORE,
  async fn() {
    const clients = 100;
    const chunks = 30;
    const fleet = await startFleet({
      deno: 2,
      bun: 1,
      // 100 clients from one address: the per-client budgets would hold them to 4 answers.
      env: { ...paced(chunks, 100), HISTORY_WINDOW: "100", ...NO_KEY_BUDGETS },
    });
    try {
      let restarting = true;
      const results: { sessionId: string; query: string; result: AskResult }[] = [];
      const client = async (n: number) => {
        await delay(n * 10);
        const sessionId = `rolling-${n}`;
        // Turn after turn while instances restart, then one more.
        for (let turn = 0; restarting || turn === 0; turn++) {
          const query = `count ${n}.${turn}`;
          const requestId = `rolling-${n}-${turn}`;
          const result = await ask(fleet.wsUrl, { sessionId, requestId, query });
          results.push({ sessionId, query, result });
          if (result.timedOut) return;
        }
      };
      const running = Array.from({ length: clients }, (_, n) => client(n));
      await delay(1_500); // every client is mid-answer
      const restarts: { name: string; exitCode: number; ms: number }[] = [];
      for (const instance of fleet.instances) {
        const started = performance.now();
        const exited = instance.exited;
        await fleet.restart(instance);
        restarts.push({
          name: instance.name,
          exitCode: (await exited).code,
          ms: Math.round(performance.now() - started),
        });
      }
      restarting = false;
      await within(Promise.all(running), 2 * BOUND_MS, "end of every client");

      const stats = await fleet.haproxy.stats();
      const sum = (pick: (r: AskResult) => number) =>
        results.reduce((total, { result }) => total + pick(result), 0);
      console.log(JSON.stringify({
        clients,
        answers: results.length,
        chunks: sum((r) => r.frames.filter((f) => f.type === "content").length),
        restarts,
        reconnects: sum((r) => r.reconnects),
        refusedReconnects: sum((r) => r.refused),
        closeCodes: tally(results.flatMap(({ result }) => result.closeCodes)),
        haproxy: Object.fromEntries(stats),
      }));

      assertEquals(restarts.map((r) => r.exitCode), [0, 0, 0], "every instance exited cleanly");
      for (const { query, result } of results) {
        assert(!result.timedOut, `"${query}" ended (frames: ${result.frames.length})`);
        assertWholeAnswer(result.frames, chunks);
      }
      assert(sum((r) => r.reconnects) > 0, "restarts did move clients to other instances");
      const sessions = [...new Set(results.map((r) => r.sessionId))];
      const history = await historyOf(fleet, sessions);
      for (const sessionId of sessions) {
        const asked = results.filter((r) => r.sessionId === sessionId);
        assertEquals(
          history.get(sessionId)?.map((t) => [t.query, t.finishReason, t.answer.length]),
          asked.map((r) => [r.query, "stop", 4 * chunks]),
          `history of ${sessionId} holds every turn once`,
        );
      }
    } finally {
      await fleet.close();
    }
  },
});

Deno.test({
  name:
    "fleet chaos: Redis stopped mid-answer and started again: streams finish, resume fails clearly, service recovers",
  ignore: FLEET_IGNORE,
  async fn() {
    const chunks = 100;
    const fleet = await startFleet({ deno: 1, bun: 1, env: paced(chunks, 30) });
    let crashed: string | undefined;
    for (const instance of fleet.instances) {
      instance.exited.then((status) => crashed ??= `${instance.name} exited ${status.code}`);
    }
    try {
      const [deno, bun] = fleet.instances;
      // An answer whose client dropped (logged in Redis), and two that stay connected.
      const dropped = { sessionId: "outage-dropped", requestId: "outage-dropped" };
      const seen = await startThenDrop(deno, dropped, 5);
      const connected = await Promise.all([deno, bun].map(async (instance) => {
        const client = await WsTestClient.connect(instance.wsUrl);
        client.send({ query: "count", session_id: `outage-${instance.name}` });
        return { client, frames: await within(take(client, 5), BOUND_MS, "first frames") };
      }));

      await fleet.stopRedis();
      const outageAt = performance.now();
      // A resume on the instance that does not run the answer needs Redis: a clear error.
      const resumer = await WsTestClient.connect(bun.wsUrl);
      resumer.send({ type: "resume", request_id: dropped.requestId, last_seq: seen.at(-1)!.seq });
      const reply = await within(
        resumer.next(),
        BOUND_MS,
        "a reply to a resume while Redis is down",
      );
      await resumer.close();
      console.log(
        `Resume while Redis is down answered in ${Math.round(performance.now() - outageAt)} ms: ${
          JSON.stringify(reply)
        }`,
      );
      assertEquals([reply.type, reply.code, reply.request_id], [
        "error",
        "unavailable",
        dropped.requestId,
      ]);
      const notReady = await fetch(`${deno.url}/readyz`);
      assertEquals([notReady.status, (await notReady.json()).ready], [503, false]);

      // The connected clients stream to the end with no store on their path.
      for (const { client, frames } of connected) {
        const rest = await untilEnd(client, "the end of a connected answer during the outage");
        await client.close();
        assertWholeAnswer([...frames, ...rest], chunks);
      }

      await fleet.startRedis();
      for (const instance of fleet.instances) {
        await fleet.haproxy.waitFor(instance.name, "up", BOUND_MS);
      }
      // Recovered by itself: new answers on each instance and through the balancer.
      await Promise.all([deno.wsUrl, bun.wsUrl, fleet.wsUrl].map(async (url, i) => {
        const client = await WsTestClient.connect(url);
        client.send({ query: "count", session_id: `outage-after-${i}` });
        const frames = await untilEnd(client, `an answer after the outage from ${url}`);
        await client.close();
        assertWholeAnswer(frames, chunks);
      }));
      assertEquals(crashed, undefined, "no instance crashed");
    } finally {
      await fleet.close();
    }
  },
});
