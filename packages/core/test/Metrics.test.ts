import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Metrics from "../src/Metrics.ts"
import { Region } from "../src/Region.ts"

const region = Region.make("us-east-1")

describe("Metrics", () => {
  it.effect("render exposes recorded units, tests, retries and refreshed gauges as Prometheus text", () =>
    Effect.gen(function*() {
      yield* Metrics.recordUnit("CERTIFIED", region)
      yield* Metrics.recordUnit("CERTIFIED", region)
      yield* Metrics.recordUnit("INCONCLUSIVE", region)
      yield* Metrics.recordTest("connectivity", region, 120)
      yield* Metrics.recordRetry(region, "THROTTLED")
      yield* Metrics.refresh({
        queue: { waiting: 3, active: 1, delayed: 0, failed: 2 },
        regions: [{
          region,
          limit: 6,
          inFlight: 0,
          waiting: 0,
          breaker: "open",
          throttles: 1,
          failures: 0,
          successes: 0,
          trips: 1
        }]
      })
      const text = yield* Metrics.render
      const line = (name: string, ...parts: Array<string>) =>
        text.split("\n").find((l) => l.startsWith(name) && parts.every((p) => l.includes(p)))
      assert.match(line("certification_units_total", 'verdict="CERTIFIED"', 'region="us-east-1"') ?? "", / 2$/)
      assert.match(line("certification_units_total", 'verdict="INCONCLUSIVE"') ?? "", / 1$/)
      assert.match(line("certification_throttles_total", 'region="us-east-1"') ?? "", / 1$/)
      assert.match(line("certification_queue_depth", 'state="waiting"') ?? "", / 3$/)
      assert.match(line("certification_breaker_state", 'region="us-east-1"') ?? "", / 2$/)
      assert.match(line("certification_region_concurrency_limit", 'region="us-east-1"') ?? "", / 6$/)
      assert.isDefined(line("certification_test_duration_seconds_bucket", 'test="connectivity"'))
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("each (region, model) lane of a governor snapshot is its own gauge series, labelled by model", () =>
    Effect.gen(function*() {
      const lane = (modelId: string | null, limit: number, breaker: "open" | "closed") => ({
        region,
        modelId,
        limit,
        inFlight: 1,
        waiting: 0,
        breaker,
        throttles: 0,
        failures: 0,
        successes: 0,
        trips: 0
      })
      yield* Metrics.refresh({
        regions: [lane(null, 16, "closed"), lane("amazon.nova-lite-v1:0", 3, "open"), lane("amazon.nova-pro-v1:0", 7, "closed")]
      })
      const text = yield* Metrics.render
      const value = (name: string, model: string | null) =>
        text.split("\n").filter((l) =>
          l.startsWith(name + "{") && l.includes('region="us-east-1"') &&
          (model === null ? !l.includes("model=") : l.includes(`model="${model}"`))
        ).map((l) => l.split(" ").at(-1))
      assert.deepStrictEqual(value("certification_region_concurrency_limit", null), ["16"])
      assert.deepStrictEqual(value("certification_region_concurrency_limit", "amazon.nova-lite-v1:0"), ["3"])
      assert.deepStrictEqual(value("certification_region_concurrency_limit", "amazon.nova-pro-v1:0"), ["7"])
      assert.deepStrictEqual(value("certification_breaker_state", "amazon.nova-lite-v1:0"), ["2"])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
