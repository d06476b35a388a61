import { assert, describe, it } from "@effect/vitest"
import * as LatencyStats from "../src/LatencyStats.ts"

const test = (status: "PASSED" | "FAILED" | "ERRORED" | "SKIPPED", latencyMs: number | null, ttftMs: number | null = null) => ({
  status,
  latencyMs,
  ttftMs
})

describe("LatencyStats", () => {
  it.each([
    ["amazon.nova-lite-v1:0", "amazon.nova"],
    ["us.anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude"],
    ["anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude"],
    ["meta.llama3-1-8b-instruct-v1:0", "meta.llama3"],
    ["global.cohere.command-r-v1:0", "cohere.command"],
    ["mistral.mistral-large-2402-v1:0", "mistral.mistral"]
  ])("familyOf(%s) = %s", (modelId, family) => {
    assert.strictEqual(LatencyStats.familyOf(modelId), family)
  })

  it("quantile is nearest-rank: p50 and p95 of 1..20 are 10 and 19; empty is null", () => {
    const values = Array.from({ length: 20 }, (_, i) => i + 1)
    assert.strictEqual(LatencyStats.quantile(values, 0.5), 10)
    assert.strictEqual(LatencyStats.quantile(values, 0.95), 19)
    assert.strictEqual(LatencyStats.quantile([7], 0.95), 7)
    assert.isNull(LatencyStats.quantile([], 0.5))
  })

  it("aggregates answered tests per region and per family, in seconds; errored and skipped tests do not count", () => {
    const stats = LatencyStats.aggregate([
      { modelId: "amazon.nova-lite-v1:0", region: "us-east-1", tests: [test("PASSED", 1000, 200), test("FAILED", 3000, 400)] },
      { modelId: "amazon.nova-micro-v1:0", region: "eu-west-3", tests: [test("PASSED", 2000), test("ERRORED", 60_000)] },
      { modelId: "us.anthropic.claude-3-5-haiku-20241022-v1:0", region: "us-east-1", tests: [test("SKIPPED", 5)] }
    ])
    assert.deepStrictEqual(stats.byRegion.map((r) => r.region), ["eu-west-3", "us-east-1"])
    const east = stats.byRegion.find((r) => r.region === "us-east-1")!
    assert.deepStrictEqual(east.latency, { count: 2, p50: 1, p95: 3 })
    assert.deepStrictEqual(east.ttft, { count: 2, p50: 0.2, p95: 0.4 })
    const west = stats.byRegion.find((r) => r.region === "eu-west-3")!
    assert.deepStrictEqual(west.latency, { count: 1, p50: 2, p95: 2 })
    assert.deepStrictEqual(west.ttft, { count: 0, p50: null, p95: null })
    assert.deepStrictEqual(stats.byModelFamily.map((f) => [f.family, f.latency.count]), [["amazon.nova", 3]])
  })
})
