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
})
