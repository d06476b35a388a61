/**
 * The SDK's metrics, in one place: units by verdict and region, test latency, throttles and
 * retries, breaker state and concurrency per region, queue depth. Workers and the HTTP plugin expose
 * them as Prometheus text through `render` (the gauges that mirror other services are refreshed
 * from a snapshot at scrape time, so scraping never blocks certification).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import type { Region, Verdict } from "./Domain.ts"
import type { QueueCounts } from "./Queue.ts"
import type { RegionSnapshot } from "./RegionGovernor.ts"

/** Terminal units written, by verdict and region. */
export const unitsTotal = Metric.counter("certification_units_total", {
  description: "Units finished with a verdict",
  incremental: true
})

/** Wall time of one test run (all its Bedrock calls), in milliseconds, by test id. */
export const testLatency = Metric.histogram("certification_test_latency_ms", {
  description: "Latency of one certification test run",
  boundaries: Metric.exponentialBoundaries({ start: 25, factor: 2, count: 12 })
})

/** Throttled test runs, by region. */
export const throttlesTotal = Metric.counter("certification_throttles_total", {
  description: "Bedrock throttling responses seen by the runner",
  incremental: true
})

/** Test re-runs after a retryable error, by region and category. */
export const retriesTotal = Metric.counter("certification_retries_total", {
  description: "Test re-runs after a retryable error",
  incremental: true
})

/** Units given back to the queue for a later attempt, by reason category. */
export const unitRetriesTotal = Metric.counter("certification_unit_retries_total", {
  description: "Units released for a later attempt (environment blocked)",
  incremental: true
})

/** Queue depth by state (waiting, active, delayed, failed). */
export const queueDepth = Metric.gauge("certification_queue_depth", { description: "Units in the queue by state" })

/** Breaker state per region: 0 closed, 1 half-open, 2 open. */
export const breakerState = Metric.gauge("certification_breaker_state", {
  description: "Circuit breaker per region (0 closed, 1 half-open, 2 open)"
})

/** Current adaptive concurrency limit per region. */
export const concurrencyLimit = Metric.gauge("certification_region_concurrency_limit", {
  description: "Adaptive (AIMD) concurrency limit per region"
})

/** Record a finished unit. */
export const recordUnit = (verdict: Verdict, region: Region): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(unitsTotal, { verdict, region }), 1)

/** Record one test run's latency. */
export const recordTest = (testId: string, region: Region, millis: number): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(testLatency, { test: testId, region }), millis)

/** Record a retry of a test after a retryable error. */
export const recordRetry = (region: Region, category: string): Effect.Effect<void> =>
  category === "THROTTLED"
    ? Effect.andThen(
      Metric.update(Metric.withAttributes(throttlesTotal, { region }), 1),
      Metric.update(Metric.withAttributes(retriesTotal, { region, category }), 1)
    )
    : Metric.update(Metric.withAttributes(retriesTotal, { region, category }), 1)

/** Record a unit released for a later attempt. */
export const recordUnitRetry = (category: string): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(unitRetriesTotal, { category }), 1)

const breakerValue = { closed: 0, "half-open": 1, open: 2 } as const

/** Mirror a queue-counts snapshot and a governor snapshot into the gauges. */
export const refresh = (options: {
  readonly queue?: QueueCounts | undefined
  readonly regions?: ReadonlyArray<RegionSnapshot> | undefined
}): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (options.queue !== undefined) {
      for (const [state, value] of Object.entries(options.queue)) {
        yield* Metric.update(Metric.withAttributes(queueDepth, { state }), value)
      }
    }
    for (const r of options.regions ?? []) {
      yield* Metric.update(Metric.withAttributes(breakerState, { region: r.region }), breakerValue[r.breaker])
      yield* Metric.update(Metric.withAttributes(concurrencyLimit, { region: r.region }), r.limit)
    }
  })

/** Every metric of this process as Prometheus exposition text. */
export const render: Effect.Effect<string> = PrometheusMetrics.format()

// Issue 15: reconciliation.

/** Repairs made by the reconciler, by kind (resumed job, requeued unit, inconclusive unit, finished job, poison). */
export const reconcilerRepairsTotal = Metric.counter("certification_reconciler_repairs_total", {
  description: "Repairs made by the reconciler (storage vs queue), by kind",
  incremental: true
})

/** Record `n` reconciler repairs of one kind. */
export const recordRepairs = (kind: string, n: number): Effect.Effect<void> =>
  n <= 0 ? Effect.void : Metric.update(Metric.withAttributes(reconcilerRepairsTotal, { kind }), n)
