/**
 * Smoke run of the bench suite (tiny N, a few seconds each) so the bench
 * code is exercised by `deno task test`; the full suite is not part of CI.
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assert, assertEquals } from "@std/assert";
import { runSuite, writeReport } from "../bench/report.ts";
import { Histogram } from "../bench/load_gen.ts";
import { DENO_BIN, ROOT } from "../bench/common.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("bench histogram percentiles are within 1%", () => {
  const h = new Histogram();
  for (let i = 1; i <= 1000; i++) h.add(i / 10);
  assert(Math.abs(h.percentile(50) - 50) / 50 < 0.011);
  assert(Math.abs(h.percentile(99) - 99) / 99 < 0.011);
  assertEquals(h.count, 1000);
});

Deno.test("bench smoke: latency, load, browser and report", opts, async () => {
  const result = await runSuite({ smoke: true, loadClient: "deno" });
  const lat = result.latency!;
  assert(lat.cells.length >= 6, "expected at least 6 latency cells");
  for (const c of lat.cells) {
    assertEquals(c.errors, 0, `${c.mode} ${c.server} ${c.transport}`);
    assert(c.samples > 0);
    assert(c.ttlc.p50 >= c.ttfc.p50);
  }
  for (const level of result.load!.levels) {
    assert(level.result, level.failure);
    const r = level.result!;
    assertEquals(r.answersOk, r.answersExpected, `${level.transport}`);
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
    assert(md.includes("## Latency: burst"));
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
  assert(out.includes("raw ws-reused"), out);
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
  assert(bench.includes("raw ws-reused"), bench);
});
