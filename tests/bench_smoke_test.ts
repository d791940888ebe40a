/**
 * Smoke run of the bench suite (tiny N, a few seconds each) so the bench
 * code is exercised by `deno task test`; the full suite is not part of CI.
 * With `bun` installed it also runs the Bun servers (`ours-bun`, `raw-bun`)
 * beside the Deno ones, the load ramp on both server runtimes, and the bench
 * runners themselves under Bun; without it those parts are skipped with a
 * message.
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assert, assertEquals } from "@std/assert";
import { runSuite, writeReport } from "../bench/report.ts";
import { renderReport, type SuiteResult, TARGETS } from "../bench/report/mod.ts";
import { parseFlags } from "../bench/lib/args.ts";
import { Histogram } from "../bench/lib/stats.ts";
import { SMOKE_USER } from "../bench/lib/user_measures.ts";
import {
  parseServer,
  parseServerRuntimes,
  parseServers,
  startServer,
} from "../bench/lib/launch.ts";
import { BUN_BIN, DENO_BIN, ROOT, runtimeAvailable } from "../bench/lib/runtime.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const HAS_BUN = runtimeAvailable("bun");
if (!HAS_BUN) {
  console.warn("bench smoke: `bun` not found: the Bun servers and Bun runners are skipped");
}
const bunOnly = { ...opts, ignore: !HAS_BUN };

Deno.test("bench histogram percentiles are within 1%", () => {
  const h = new Histogram();
  for (let i = 1; i <= 1000; i++) h.add(i / 10);
  assert(Math.abs(h.percentile(50) - 50) / 50 < 0.011);
  assert(Math.abs(h.percentile(99) - 99) / 99 < 0.011);
  assertEquals(h.count, 1000);
});

Deno.test("bench server names and runtime flags parse", () => {
  assertEquals(parseServer("ours-bun"), { kind: "ours", runtime: "bun" });
  assertEquals(parseServer("raw"), { kind: "raw", runtime: "deno" });
  assertEquals(parseServers("ours-deno,raw-bun").length, 2);
  let message = "";
  try {
    parseServer("ours-node");
  } catch (err) {
    message = (err as Error).message;
  }
  assert(message.startsWith('Cannot parse server: "ours-node"'), message);
  assertEquals(parseServerRuntimes(undefined), ["deno"]);
  assertEquals(parseServerRuntimes("both"), ["deno", "bun"]);
});

Deno.test("bench flags parse with the one parser; an unknown flag is refused", () => {
  const spec = { smoke: "boolean", servers: "string" } as const;
  assertEquals(parseFlags(spec, ["--smoke", "--servers", "ours-deno"]), {
    smoke: true,
    servers: "ours-deno",
  });
  assertEquals(parseFlags(spec, []), { smoke: false, servers: undefined });
  let message = "";
  try {
    parseFlags(spec, ["--smokey"]);
  } catch (err) {
    message = (err as Error).message;
  }
  assert(message.startsWith("Cannot parse arguments:"), message);
});

const REPORT = "2026-11-25-deno";
const COMMITTED = join(ROOT, "bench", "results", REPORT);

Deno.test("bench report renders the committed JSON into the committed Markdown", () => {
  const saved = JSON.parse(readFileSync(`${COMMITTED}.json`, "utf8")) as SuiteResult;
  const files = renderReport(saved, REPORT);
  assertEquals(files.get(`${REPORT}.md`), readFileSync(`${COMMITTED}.md`, "utf8"));
  for (const svg of ["burst-ttlc", "paced-oneway", "memory", "throughput"]) {
    const name = `${REPORT}-${svg}.svg`;
    assertEquals(files.get(name), readFileSync(join(ROOT, "bench", "results", name), "utf8"));
  }
});

Deno.test("bench headline judges each target of the table against its limit", () => {
  const saved = JSON.parse(readFileSync(`${COMMITTED}.json`, "utf8")) as SuiteResult;
  const cell = (server: string) =>
    saved.latency!.cells.find((c) =>
      c.mode === "burst" && c.transport === "ws-reused" && `${c.server}-${c.runtime}` === server
    )!;
  const limit = TARGETS.find((t) => t.name.includes("WS (reused) TTLC p50"))!.limit!;
  cell("ours-deno").ttlc.p50 = cell("raw-deno").ttlc.p50 * (limit + 0.5);
  const wsRow = () =>
    renderReport(saved, "x").get("x.md")!.split("\n")
      .find((l) => l.startsWith("| ours-deno/raw-deno, WS (reused) TTLC"));
  assert(wsRow()?.endsWith(`| ≤ ${limit}× **missed** |`), wsRow());
  cell("ours-deno").ttlc.p50 = cell("raw-deno").ttlc.p50 * (limit - 0.1);
  assert(wsRow()?.endsWith(`| ≤ ${limit}× **met** |`), wsRow());
});

Deno.test("bench smoke: latency, load, browser and report", opts, async () => {
  const result = await runSuite({
    smoke: true,
    loadClient: "deno",
    loadServerRuntimes: HAS_BUN ? ["deno", "bun"] : ["deno"],
  });
  const lat = result.latency!;
  const servers = HAS_BUN ? 4 : 2;
  assertEquals(lat.servers?.length, servers, JSON.stringify(lat.servers));
  assertEquals(lat.cells.length, servers * 4 * 2, "servers × transports × modes");
  if (!HAS_BUN) assert(lat.skipped.some((s) => s.startsWith("ours-bun:")), lat.skipped.join());
  for (const c of lat.cells) {
    assertEquals(c.errors, 0, `${c.mode} ${c.server}-${c.runtime} ${c.transport}`);
    assert(c.samples > 0);
    assert(c.ttlc.p50 >= c.ttfc.p50);
  }
  // What users feel: every server (and the seed's FastAPI stack, installed by .ci/run).
  const user = result.user!;
  assertEquals(user.rows.map((r) => r.server), [
    ...lat.servers!,
    "seed-python",
  ], user.skipped.join());
  assert(user.idleFresh, "idle memory is read on a fresh server process each round");
  // The CPU warm-up runs and is not kept: each CPU spread below has exactly one value per round.
  assertEquals(user.cpuWarmup, SMOKE_USER.cpuWarmup);
  for (const row of user.rows) {
    assertEquals(row.errors, 0, `${row.server}: ${row.firstError}`);
    assertEquals(row.ttfc["ws-reused"].rounds.length, user.rounds, row.server);
    assertEquals(row.ttfc["sse-fetch"].rounds.length, user.rounds, row.server);
    assertEquals(row.cpuPerChunkUs.ws.rounds.length, user.rounds, row.server);
    assertEquals(row.cpuPerChunkUs.sse.rounds.length, user.rounds, row.server);
    // Idle memory: one reading per round, each on a fresh process of the server.
    assertEquals(row.idleWsBytes.rounds.length, user.rounds, row.server);
    assert(row.ttfc["ws-new"].min <= row.ttfc["ws-new"].max);
  }
  // Where the CPU per chunk goes: ours against raw on each runtime and transport, profiled.
  const where = result.whereCpu!;
  assertEquals(
    where.pairs.map((p) => `${p.ours.server}/${p.raw.server} ${p.transport}`),
    (HAS_BUN ? ["deno", "bun"] : ["deno"]).flatMap((rt) =>
      ["ws", "sse"].map((t) => `ours-${rt}/raw-${rt} ${t}`)
    ),
    where.skipped.join("; "),
  );
  for (const p of where.pairs) {
    const samples = Object.values(p.ours.samples).reduce((a, b) => a + b, 0);
    assert(samples > 0, `${p.ours.server} ${p.transport}: no samples in the load's window`);
    assert(p.ours.threads["main (JS)"], `${p.ours.server} ${p.transport}: no main thread`);
  }
  const levels = result.load!.levels;
  assertEquals(levels.length, HAS_BUN ? 4 : 2);
  if (HAS_BUN) assert(levels.some((l) => l.serverRuntime === "bun"));
  for (const level of levels) {
    assert(level.result, level.failure);
    const r = level.result!;
    assertEquals(r.answersOk, r.answersExpected, `${level.serverRuntime} ${level.transport}`);
    assertEquals(
      Object.values(r.errors).reduce((a, b) => a + b, 0),
      0,
      JSON.stringify(r.errors),
    );
  }
  const browser = result.browser!;
  if (browser.skipped) {
    console.warn(`browser part skipped: ${browser.skipped}`);
  } else {
    const h1 = browser.scenarios.find((s) => s.protocol === "http/1.1" && s.transport === "sse")!;
    assert(h1.receiving <= 6, "HTTP/1.1 SSE should be capped at 6");
    for (const s of browser.scenarios.filter((s) => s.transport === "ws")) {
      assertEquals(s.receiving, s.requested);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "bench-smoke-"));
  try {
    const paths = writeReport(result, dir, "smoke");
    for (const p of paths) assert(existsSync(p));
    const md = readFileSync(join(dir, "smoke.md"), "utf8");
    assert(md.includes("## What users feel: time to first chunk, CPU per chunk, idle memory"));
    assert(md.includes("| ours-deno / seed-python, TTFC p50, reused WS |"), "seed target row");
    assert(md.includes("| ours-deno / raw-deno, server CPU per chunk, SSE |"), "CPU target row");
    assert(md.includes("## Where the CPU per chunk goes"));
    assert(md.includes("### Deno, WebSocket"), "where the CPU goes, Deno pair");
    assert(md.includes("**Where the difference goes.** ours-deno"), "generated conclusion");
    assert(md.includes("## Latency: burst"));
    assert(md.includes("| ours-deno/raw-deno, WS (reused) TTLC p50"), "headline row");
    assert(md.includes("## Deno vs Bun"));
    if (HAS_BUN) {
      assert(md.includes("| ours-bun | ws-reused |"), "Bun rows in the latency table");
      assert(md.includes("**Conclusion.** On a 20-chunk burst"), "computed conclusion");
      assert(md.includes("| ours-bun | ws | 10 |"), "Bun level in the load table");
    } else {
      assert(md.includes("Not measured: this run did not have both runtimes' servers"));
    }
    assert(readFileSync(join(dir, "smoke-memory.svg"), "utf8").startsWith("<svg"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("bench smoke: mitata runner and deno bench file", opts, () => {
  const out = execFileSync(
    DENO_BIN,
    ["run", "-A", "bench/latency_mitata.ts", "--smoke"],
    { cwd: ROOT, encoding: "utf8", timeout: 120_000 },
  );
  assert(out.includes("client runtime deno"), out);
  assert(out.includes("raw-deno ws-reused"), out);
  if (HAS_BUN) assert(out.includes("ours-bun ws-reused"), out);
  const bench = execFileSync(
    DENO_BIN,
    ["bench", "-A", "bench/latency_bench.ts"],
    {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 120_000,
      env: { ...Deno.env.toObject(), BENCH_SMOKE: "1", NO_COLOR: "1" },
    },
  );
  assert(bench.includes("raw-deno ws-reused"), bench);
});

Deno.test("bench smoke under Bun: mitata runner, load generator, report", bunOnly, async () => {
  const mitata = execFileSync(
    BUN_BIN,
    ["bench/latency_mitata.ts", "--smoke", "--servers", "raw-bun,ours-bun"],
    { cwd: ROOT, encoding: "utf8", timeout: 120_000 },
  );
  assert(mitata.includes("client runtime bun"), mitata);
  assert(mitata.includes("ours-bun ws-reused"), mitata);
  assert(!mitata.includes("sse-eventsource"), "Bun has no EventSource");

  const server = await startServer("ours", { chunks: 3, chunkBytes: 16, intervalMs: 0 }, {
    runtime: "bun",
  });
  try {
    const out = execFileSync(BUN_BIN, [
      "bench/load_gen.ts",
      "--url",
      server.url,
      "--transport",
      "ws",
      "--connections",
      "5",
      "--chunks",
      "3",
      "--idle-ms",
      "50",
      "--ramp-ms",
      "10",
      "--timeout-ms",
      "10000",
    ], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    const line = out.split("\n").find((l) => l.startsWith("RESULT "));
    assert(line, out);
    const r = JSON.parse(line.slice(7));
    assertEquals(r.runtime, "bun");
    assertEquals(r.answersOk, r.answersExpected);
  } finally {
    await server.close();
  }

  const dir = mkdtempSync(join(tmpdir(), "bench-smoke-bun-"));
  try {
    execFileSync(BUN_BIN, [
      "bench/report.ts",
      "--smoke",
      "--skip-browser",
      "--servers",
      "ours-bun,raw-bun",
      "--out",
      dir,
    ], { cwd: ROOT, encoding: "utf8", timeout: 180_000, stdio: "pipe" });
    const md = readdirSync(dir).find((f) => f.endsWith(".md"))!;
    assert(/^\d{4}-\d{2}-\d{2}-bun\.md$/.test(md), md);
    const text = readFileSync(join(dir, md), "utf8");
    assert(text.includes("under **bun "), "report names the runtime that produced it");
    assert(text.includes("**Where the difference goes.** ours-bun"), "profiled under a Bun bench");
    const json = JSON.parse(readFileSync(join(dir, md.replace(/\.md$/, ".json")), "utf8"));
    assertEquals(json.runtime, "bun");
    assertEquals(json.latency.clientRuntime, "bun");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test(
  "bench smoke: CPU by thread splits each server's CPU over its thread groups",
  opts,
  () => {
    const servers = HAS_BUN ? "ours-deno,raw-deno,ours-bun" : "ours-deno,raw-deno";
    const out = execFileSync(
      DENO_BIN,
      [
        "run",
        "-A",
        "bench/cpu_split.ts",
        `--servers=${servers}`,
        "--connections=4",
        "--turns=2",
        "--chunks=50",
        "--rounds=1",
      ],
      { cwd: ROOT, encoding: "utf8", timeout: 120_000 },
    );
    for (const server of servers.split(",")) {
      assert(out.includes(`| ${server} | main (JS) |`), out);
      const total = new RegExp(
        `\\| ${server} \\| \\*\\*all\\*\\* \\| \\| \\| \\*\\*([\\d.]+)\\*\\* \\|`,
      )
        .exec(out);
      assert(total, `no total for ${server}: ${out}`);
    }
    assert(out.includes("| ours-deno | kv worker |"), out);
  },
);
