/**
 * The fleet's costs, measured: (1) the connected hot path on a shared
 * backend (Redis) against the embedded default (Deno KV), interleaved;
 * (2) a resume on each backend (memory on the same instance, Deno KV and
 * Redis on another instance): time from the `resume` frame to the first
 * replayed frame; (3) throughput with 1, 2 and 3 Deno instances behind
 * HAProxy. Writes `bench/results/<date>-fleet.md` and prints it.
 *
 *     deno task bench:fleet [--smoke]
 * @module
 */
import { startFleet } from "../ops/fleet.ts";
import { type Instance, startInstance } from "../ops/instance.ts";
import { startRedis } from "../ops/redis.ts";
import { parseFlags } from "./lib/args.ts";
import { type AnswerSample, ReusedWs } from "./lib/clients.ts";
import { GUARDS_OFF, procCpuMs } from "./lib/launch.ts";
import { epochNow } from "./lib/runtime.ts";
import { stats } from "./lib/stats.ts";

const args = parseFlags({ smoke: "boolean" });
const SIZE = args.smoke
  ? { rounds: 3, perRound: 10, resumes: 5, seconds: 2, clients: 10 }
  : { rounds: 6, perRound: 40, resumes: 30, seconds: 8, clients: 60 };
const BURST = {
  ...GUARDS_OFF,
  AGENT: "synthetic",
  SYNTHETIC_CHUNKS: "200",
  SYNTHETIC_CHUNK_BYTES: "16",
};
const ms = (value: number) => value.toFixed(2);

/** Answers on one reused socket; returns samples and the server's CPU per answer. */
async function burstRound(instance: Instance, answers: number) {
  const client = new ReusedWs(instance.url);
  await client.ready();
  const cpuBefore = procCpuMs(instance.pid);
  const samples: AnswerSample[] = [];
  for (let i = 0; i < answers; i++) samples.push(await client.query());
  const cpuPerAnswer = (procCpuMs(instance.pid) - cpuBefore) / answers;
  client.close();
  return { samples, cpuPerAnswer };
}

/** Section 1: the same connected workload on Deno KV and on Redis, rounds interleaved. */
async function hotPath(): Promise<string[]> {
  const redis = await startRedis();
  const kv = await startInstance("deno", { env: { ...BURST, KV_PATH: ":memory:" } });
  const shared = await startInstance("deno", { env: { ...BURST, REDIS_URL: redis.url } });
  const found = {
    kv: { ttfc: [] as number[], ttlc: [] as number[], cpu: [] as number[] },
    redis: { ttfc: [] as number[], ttlc: [] as number[], cpu: [] as number[] },
  };
  try {
    for (let round = 0; round < SIZE.rounds; round++) {
      for (const [name, instance] of [["kv", kv], ["redis", shared]] as const) {
        const { samples, cpuPerAnswer } = await burstRound(instance, SIZE.perRound);
        found[name].ttfc.push(...samples.map((s) => s.ttfc));
        found[name].ttlc.push(...samples.map((s) => s.ttlc));
        found[name].cpu.push(cpuPerAnswer);
      }
    }
  } finally {
    await Promise.all([kv.stop(), shared.stop()]);
    await redis.stop();
  }
  const row = (name: "kv" | "redis") => {
    const f = found[name];
    return `| ${name === "kv" ? "Deno KV (embedded)" : "Redis (shared)"} | ${
      ms(stats(f.ttfc).p50)
    } | ${ms(stats(f.ttlc).p50)} | ${ms(stats(f.ttlc).p95)} | ${ms(stats(f.cpu).p50)} |`;
  };
  const ratio = stats(found.redis.ttlc).p50 / stats(found.kv.ttlc).p50;
  const cpuRatio = stats(found.redis.cpu).p50 / stats(found.kv.cpu).p50;
  return [
    "## 1. Connected hot path: shared backend vs embedded",
    "",
    `One reused WebSocket, answers of 200 × 16-byte chunks, ${SIZE.rounds} interleaved rounds of ${SIZE.perRound} answers per backend.`,
    "",
    "| backend | TTFC p50 ms | TTLC p50 ms | TTLC p95 ms | server CPU ms / answer (median of rounds) |",
    "| --- | --- | --- | --- | --- |",
    row("kv"),
    row("redis"),
    "",
    `Redis / KV: TTLC p50 ${ratio.toFixed(2)}×, server CPU ${cpuRatio.toFixed(2)}×.`,
    "",
  ];
}

/** Asks on `from`, drops after 3 chunks, resumes on `to`: ms from `resume` to the first replayed frame. */
async function oneResume(from: Instance, to: Instance, requestId: string): Promise<number> {
  const first = new WebSocket(from.wsUrl);
  let lastSeq = -1;
  await new Promise<void>((resolve, reject) => {
    let contents = 0;
    first.onopen = () => first.send(JSON.stringify({ query: "q", request_id: requestId }));
    first.onmessage = (event) => {
      const frame = JSON.parse(String(event.data));
      lastSeq = frame.seq;
      if (frame.type === "content" && ++contents === 3) {
        first.close(4000, "drop");
        resolve();
      }
    };
    first.onerror = () => reject(new Error("Cannot ask for the resume bench"));
  });
  const second = new WebSocket(to.wsUrl);
  await new Promise((resolve) => (second.onopen = resolve));
  const sent = epochNow();
  const latency = await new Promise<number>((resolve) => {
    second.onmessage = () => resolve(epochNow() - sent);
    second.send(JSON.stringify({ type: "resume", request_id: requestId, last_seq: lastSeq }));
  });
  second.close();
  return latency;
}

/** Section 2: resume latency on each backend. */
async function resumes(): Promise<string[]> {
  const paced = {
    ...GUARDS_OFF,
    AGENT: "synthetic",
    SYNTHETIC_CHUNKS: "400",
    SYNTHETIC_INTERVAL_MS: "5",
  };
  const dir = await Deno.makeTempDir({ prefix: "bench-fleet-" });
  const redis = await startRedis();
  const rows: string[] = [];
  const cases: [string, Record<string, string>, boolean][] = [
    ["memory, same instance (Bun's default)", { KV_PATH: ":memory:" }, false],
    ["Deno KV file, another instance", { KV_PATH: `${dir}/chat.kv` }, true],
    ["Redis, another instance", { REDIS_URL: redis.url }, true],
  ];
  try {
    for (const [name, env, across] of cases) {
      const a = await startInstance("deno", { env: { ...paced, ...env } });
      const b = across ? await startInstance("deno", { env: { ...paced, ...env } }) : a;
      const found: number[] = [];
      try {
        for (let i = 0; i < SIZE.resumes; i++) found.push(await oneResume(a, b, `r${i}`));
      } finally {
        await Promise.all([a.stop(), b === a ? undefined : b.stop()]);
      }
      const s = stats(found);
      rows.push(`| ${name} | ${s.n} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.max)} |`);
    }
  } finally {
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
  return [
    "## 2. Resume latency per backend",
    "",
    "A client drops after 3 chunks of a paced answer (5 ms apart) and resumes at once; time from sending `resume` to the first replayed frame.",
    "",
    "| backend | resumes | p50 ms | p95 ms | max ms |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
    "",
  ];
}

/** Section 3: answers per second through HAProxy with 1, 2 and 3 Deno instances. */
async function throughput(): Promise<string[]> {
  const rows: string[] = [];
  for (const count of [1, 2, 3]) {
    const fleet = await startFleet({
      deno: count,
      bun: 0,
      env: BURST,
    });
    let answers = 0;
    let chunks = 0;
    try {
      const deadline = epochNow() + SIZE.seconds * 1000;
      const client = async () => {
        const socket = new ReusedWs(fleet.url);
        await socket.ready();
        while (epochNow() < deadline) {
          chunks += (await socket.query()).chunks;
          answers++;
        }
        socket.close();
      };
      await Promise.all(Array.from({ length: SIZE.clients }, client));
    } finally {
      await fleet.close();
    }
    rows.push(
      `| ${count} | ${(answers / SIZE.seconds).toFixed(0)} | ${
        (chunks / SIZE.seconds).toFixed(0)
      } |`,
    );
  }
  return [
    "## 3. Throughput through the load balancer",
    "",
    `${SIZE.clients} clients, each a reused WebSocket asking 200-chunk answers back to back for ${SIZE.seconds} s, through HAProxy (round-robin). Load generator, HAProxy, Redis and the instances share this machine's 2 cores: more instances cannot add cores, so this shows the fleet's overhead, not its scaling.`,
    "",
    "| instances | answers / s | chunks / s |",
    "| --- | --- | --- |",
    ...rows,
    "",
  ];
}

const date = new Date().toISOString().slice(0, 10);
const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
const report = [
  `# Fleet bench, ${date}`,
  "",
  `Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, load average before the run: ${load}.${
    args.smoke ? " Smoke sizes." : ""
  }`,
  "",
  ...await hotPath(),
  ...await resumes(),
  ...await throughput(),
].join("\n");
console.log(report);
if (!args.smoke) {
  await Deno.writeTextFile(new URL(`./results/${date}-fleet.md`, import.meta.url), report);
}
