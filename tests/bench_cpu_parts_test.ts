/**
 * The bench's CPU attribution on tiny synthetic inputs: thread names to
 * thread groups, profile samples to parts of the code (innermost matching
 * frame, native helpers counting for their caller, idle samples and samples
 * outside the window left out), and the generated conclusion of the
 * "where the CPU per chunk goes" section.
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { type CpuProfile, framePart, partsOf } from "../bench/lib/cpu_profile.ts";
import { threadGroup } from "../bench/lib/threads.ts";
import type { WhereCpuSide } from "../bench/lib/where_cpu.ts";
import { partUs, whereConclusion, whereCpuSection } from "../bench/report/where_cpu.ts";

const SRV = "file:///x/server";

/** A profile from stacks written root first: `[functionName, url]` per frame; one sample per leaf time. */
function profileOf(samples: { stack: [string, string][]; t: number }[]): CpuProfile {
  const nodes: CpuProfile["nodes"] = [{
    id: 1,
    callFrame: { functionName: "(root)", url: "", lineNumber: -1 },
    children: [],
  }];
  const ids: number[] = [];
  for (const { stack } of samples) {
    let parent = nodes[0];
    for (const [functionName, url] of stack) {
      let child = parent.children!.map((id) => nodes[id - 1]).find((n) =>
        n.callFrame.functionName === functionName && n.callFrame.url === url
      );
      if (!child) {
        child = {
          id: nodes.length + 1,
          callFrame: { functionName, url, lineNumber: 0 },
          children: [],
        };
        nodes.push(child);
        parent.children!.push(child.id);
      }
      parent = child;
    }
    ids.push(parent.id);
  }
  const times = samples.map((s) => s.t);
  return {
    nodes,
    startTime: 1000,
    samples: ids,
    timeDeltas: times.map((t, i) => t - (i ? times[i - 1] : 1000)),
  };
}

Deno.test("bench thread groups: Bun's and V8's threads by name", () => {
  assertEquals(threadGroup("bun", 7, 7), "main (JS)");
  assertEquals(threadGroup("HeapHelper", 7, 8), "GC helpers");
  assertEquals(threadGroup("V8 DefaultWorke", 7, 8), "GC helpers");
  assertEquals(threadGroup("JITWorker", 7, 9), "JIT compiler");
  assertEquals(threadGroup("sw-0", 7, 9), "kv worker");
  assertEquals(threadGroup("v8:ProfEvntProc", 7, 9), "profiler");
  assertEquals(threadGroup("mi-scavenger", 7, 9), "other threads");
});

Deno.test("bench CPU parts: a frame's part by file and name; natives count for their caller", () => {
  const f = (functionName: string, url: string) => framePart({ functionName, url, lineNumber: 0 });
  assertEquals(f("send", ""), "socket writes");
  assertEquals(f("op_ws_send_text", ""), "socket writes");
  assertEquals(f("send", "ext:deno_websocket/01_websocket.js"), "socket writes");
  assertEquals(f("encode", `${SRV}/encode.ts`), "frame encoding");
  assertEquals(f("content", "file:///x/bench/raw_server.ts"), "frame encoding");
  assertEquals(f("onQuery", "file:///x/bench/raw_server.ts"), "request handling");
  assertEquals(f("answer", "file:///x/bench/raw_server.ts"), "pipeline");
  assertEquals(f("append", `${SRV}/store/sqlite.ts`), "history store");
  assertEquals(f("#run", "bun:sqlite"), "history store");
  assertEquals(f("delta", `${SRV}/agents/synthetic.ts`), "agent");
  assertEquals(f("end", `${SRV}/telemetry/answer.ts`), "telemetry");
  assertEquals(
    f("dispatch", "file:///n/.deno/hono@4.13.19/node_modules/hono/dist/compose.js"),
    "request handling",
  );
  assertEquals(f("#pump", `${SRV}/core.ts`), "pipeline");
  assertEquals(f("(garbage collector)", ""), "GC");
  // Native helpers (JSON.stringify, TextEncoder, SQLite's run) belong to no part: their caller's.
  assertEquals(f("stringify", ""), undefined);
  assertEquals(f("encode", ""), undefined);
  assertEquals(f("now", "ext:deno_web/15_performance.js"), undefined);
});

Deno.test("bench CPU parts: samples of a window go to the innermost matching frame", () => {
  const core: [string, string] = ["#pump", `${SRV}/core.ts`];
  const profile = profileOf([
    // Before the window: startup.
    { stack: [["createPath", "file:///n/minisearch/index.js"]], t: 1500 },
    { stack: [core, ["encode", `${SRV}/encode.ts`]], t: 2000 },
    { stack: [core, ["#write", `${SRV}/transports/ws/connection.ts`], ["send", ""]], t: 2100 },
    {
      stack: [core, ["#persist", `${SRV}/core.ts`], ["append", `${SRV}/store/sqlite.ts`], [
        "run",
        "",
      ]],
      t: 2200,
    },
    { stack: [["storedTurn", `${SRV}/store/fit.ts`], ["stringify", ""]], t: 2300 },
    { stack: [core, ["delta", `${SRV}/agents/synthetic.ts`]], t: 2400 },
    { stack: [["(idle)", ""]], t: 2500 },
    { stack: [["(garbage collector)", ""]], t: 2600 },
    { stack: [["(program)", ""]], t: 2700 },
    { stack: [core], t: 2800 },
    // After the window: shutdown.
    { stack: [core, ["encode", `${SRV}/encode.ts`]], t: 9000 },
  ]);
  const { counts, intervalUs } = partsOf(profile, { from: 1900, to: 3000 });
  assertEquals(intervalUs, 100, "median time between the window's samples");
  assertEquals(Object.fromEntries(counts), {
    "socket writes": 1,
    "frame encoding": 1,
    "history store": 2,
    agent: 1,
    telemetry: 0,
    "request handling": 0,
    pipeline: 1,
    GC: 1,
    "runtime / other": 1,
  });
});

/**
 * A side of a pair with 1 µs per chunk on the JavaScript thread and 100
 * samples over 1000 chunks, each standing for `intervalUs`.
 */
function side(
  server: string,
  samples: Record<string, number>,
  opts: { jit: number; intervalUs: number },
): WhereCpuSide {
  return {
    server: server as WhereCpuSide["server"],
    threads: { "main (JS)": { user: 0.8, sys: 0.2 }, "JIT compiler": { user: opts.jit, sys: 0 } },
    chunks: 1000,
    samples,
    profiledChunks: 1000,
    sampleIntervalUs: opts.intervalUs,
  };
}

Deno.test("bench where the CPU goes: parts in µs per chunk and the generated conclusion", () => {
  const ours = side("ours-bun", { "socket writes": 40, "history store": 40, pipeline: 20 }, {
    jit: 0.35,
    intervalUs: 5,
  });
  const raw = side("raw-bun", { "socket writes": 95, pipeline: 5 }, { jit: 0, intervalUs: 20 });
  assertEquals(partUs(ours, "history store"), 0.4);
  assertEquals(partUs(raw, "socket writes"), 0.95);
  const pair = { runtime: "bun" as const, transport: "ws" as const, ours, raw };
  assertEquals(
    whereConclusion(pair),
    "**Where the difference goes.** ours-bun 1.35 µs per chunk, raw-bun 1.00 (+0.35, 1.35×): " +
      "history store +0.40 (raw-bun has none), JIT compiler (thread) +0.35 (raw-bun has none), " +
      "pipeline +0.15; less than raw-bun: socket writes −0.55.",
  );
  const md = whereCpuSection({
    options: {
      rounds: 1,
      warmups: 1,
      connections: 1,
      turns: 1,
      chunks: 1,
      gapMs: 1,
      intervalUs: 100,
    },
    pairs: [pair],
    skipped: ["deno: Cannot read CPU profile: none written"],
  }).join("\n");
  assert(md.includes("### Bun, WebSocket"), md);
  assert(md.includes("| history store | 0.40 (40%) | 0.00 (0%) | +0.40 |"), md);
  assert(md.includes("| JIT compiler | 0.35 | 0.00 | +0.35 | JSC compiling"), md);
  assert(md.includes("Profiled load: ours-bun 100 samples, one per 5 µs (median); raw-bun"), md);
  assert(md.includes("Skipped: deno: Cannot read CPU profile"), md);
  assertEquals(whereCpuSection(undefined), []);
});
