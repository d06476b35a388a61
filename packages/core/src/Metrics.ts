/**
 * The SDK's metrics, in one place: units by verdict and region, test and Bedrock call durations,
 * time to first token and output tokens per second, throttles and retries, breaker state,
 * concurrency limit and in-flight calls per governor key, queue depth, and process metrics (CPU,
 * memory, event loop lag). Workers and the HTTP plugin expose them as Prometheus text through
 * `render` (the gauges that mirror other services are refreshed from a snapshot at scrape time, so
 * scraping never blocks certification).
 *
 * Names follow Prometheus conventions in base units (`_seconds`, `_bytes`, counters `_total`) and
 * pass `promtool check metrics`. **Queue depth is exported by one role only**: the HTTP API's
 * `/metrics` (the queue is shared, so every worker exporting it would double-count when summed);
 * worker processes export their own governor and process metrics.
 *
 * @since 0.1.0
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
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

/** Buckets of the duration histograms: 25 ms doubling to ~51 s. */
const secondsBoundaries = Metric.exponentialBoundaries({ start: 0.025, factor: 2, count: 12 })

/** Wall time of one test run (all its Bedrock calls), in seconds, by test id and region. */
export const testLatency = Metric.histogram("certification_test_duration_seconds", {
  description: "Duration of one certification test run in seconds",
  boundaries: secondsBoundaries
})

/** Issue 18: one Bedrock call, in seconds, by operation, region and outcome (`success` or the error category). */
export const bedrockCallDuration = Metric.histogram("certification_bedrock_call_duration_seconds", {
  description: "Duration of one Bedrock call in seconds",
  boundaries: secondsBoundaries
})

/** Issue 18: time from a ConverseStream request to its first content delta, in seconds, by region. */
export const bedrockTimeToFirstToken = Metric.histogram("certification_bedrock_time_to_first_token_seconds", {
  description: "Time to the first streamed token of a Bedrock call in seconds",
  boundaries: secondsBoundaries
})

/** Issue 18: output tokens per second of a Bedrock call that reported its usage, by operation and region. */
export const bedrockOutputTokensPerSecond = Metric.histogram("certification_bedrock_output_tokens_per_second", {
  description: "Output tokens per second of a Bedrock call",
  boundaries: Metric.exponentialBoundaries({ start: 5, factor: 2, count: 10 })
})

/** Throttled test runs, by region and model. */
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

/** Current adaptive concurrency limit per governor key (region, and model when the governor keys by it). */
export const concurrencyLimit = Metric.gauge("certification_region_concurrency_limit", {
  description: "Adaptive (AIMD) concurrency limit per governor key"
})

/** Issue 18: calls holding a governor permit right now, per governor key. */
export const concurrencyInFlight = Metric.gauge("certification_region_in_flight", {
  description: "Bedrock calls in flight per governor key"
})

/** Record a finished unit. */
export const recordUnit = (verdict: Verdict, region: Region): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(unitsTotal, { verdict, region }), 1)

/** Record one test run's latency (given in milliseconds, exported in seconds). */
export const recordTest = (testId: string, region: Region, millis: number): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(testLatency, { test: testId, region }), millis / 1000)

/** Record a retry of a test after a retryable error (the model label when known). */
export const recordRetry = (region: Region, category: string, model?: string): Effect.Effect<void> => {
  const labels = model === undefined ? { region } : { region, model }
  return category === "THROTTLED"
    ? Effect.andThen(
      Metric.update(Metric.withAttributes(throttlesTotal, labels), 1),
      Metric.update(Metric.withAttributes(retriesTotal, { ...labels, category }), 1)
    )
    : Metric.update(Metric.withAttributes(retriesTotal, { ...labels, category }), 1)
}

/** Issue 18: one finished Bedrock call. */
export interface BedrockCall {
  readonly operation: string
  readonly region: string
  /** `success`, or the error category (`THROTTLED`, `TIMEOUT`…). */
  readonly outcome: string
  readonly seconds: number
  /** Seconds to the first streamed token (ConverseStream). */
  readonly timeToFirstTokenSeconds?: number | undefined
  /** Output tokens the call reported. */
  readonly outputTokens?: number | undefined
}

/** Record a Bedrock call: duration, time to first token and output tokens per second when known. */
export const recordBedrockCall = (call: BedrockCall): Effect.Effect<void> =>
  Effect.gen(function*() {
    const { operation, region } = call
    yield* Metric.update(Metric.withAttributes(bedrockCallDuration, { operation, region, outcome: call.outcome }), call.seconds)
    if (call.timeToFirstTokenSeconds !== undefined) {
      yield* Metric.update(Metric.withAttributes(bedrockTimeToFirstToken, { region }), call.timeToFirstTokenSeconds)
    }
    // Generation time: after the first token when streamed, the whole call otherwise.
    const generating = call.seconds - (call.timeToFirstTokenSeconds ?? 0)
    if (call.outputTokens !== undefined && call.outputTokens > 0 && generating > 0) {
      yield* Metric.update(
        Metric.withAttributes(bedrockOutputTokensPerSecond, { operation, region }),
        call.outputTokens / generating
      )
    }
  })

/** Record a unit released for a later attempt. */
export const recordUnitRetry = (category: string): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(unitRetriesTotal, { category }), 1)

const breakerValue = { closed: 0, "half-open": 1, open: 2 } as const

/**
 * Issue 18: what the governor gauges need of one governor key, whatever the key is (a region today,
 * a region and a model when the governor keys by both): its labels, breaker, limit and in-flight calls.
 */
export interface GovernorGauge {
  readonly labels: Readonly<Record<string, string>>
  readonly breaker: keyof typeof breakerValue
  readonly limit: number
  readonly inFlight: number
}

/** A governor snapshot as gauges: labelled by `region`, and by `model` when the snapshot has one. */
export const governorGauges = (
  snapshots: ReadonlyArray<
    Pick<RegionSnapshot, "region" | "breaker" | "limit" | "inFlight" | "modelId"> & { readonly model?: string }
  >
): ReadonlyArray<GovernorGauge> =>
  snapshots.map((s) => {
    // A governor snapshot names its lane's model `modelId` (null for the region-only lane).
    const model = s.modelId ?? s.model
    return {
      labels: model === undefined || model === null ? { region: s.region } : { region: s.region, model },
      breaker: s.breaker,
      limit: s.limit,
      inFlight: s.inFlight
    }
  })

/** Mirror a queue-counts snapshot and a governor snapshot into the gauges. */
export const refresh = (options: {
  readonly queue?: QueueCounts | undefined
  readonly regions?: ReadonlyArray<RegionSnapshot> | undefined
  readonly governor?: ReadonlyArray<GovernorGauge> | undefined
}): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (options.queue !== undefined) {
      for (const [state, value] of Object.entries(options.queue)) {
        yield* Metric.update(Metric.withAttributes(queueDepth, { state }), value)
      }
    }
    for (const g of [...governorGauges(options.regions ?? []), ...(options.governor ?? [])]) {
      yield* Metric.update(Metric.withAttributes(breakerState, g.labels), breakerValue[g.breaker])
      yield* Metric.update(Metric.withAttributes(concurrencyLimit, g.labels), g.limit)
      yield* Metric.update(Metric.withAttributes(concurrencyInFlight, g.labels), g.inFlight)
    }
  })

// Issue 15: reconciliation.

/** Repairs made by the reconciler, by kind (resumed job, requeued unit, inconclusive unit, finished job, poison). */
export const reconcilerRepairsTotal = Metric.counter("certification_reconciler_repairs_total", {
  description: "Repairs made by the reconciler (storage vs queue), by kind",
  incremental: true
})

/** Record `n` reconciler repairs of one kind. */
export const recordRepairs = (kind: string, n: number): Effect.Effect<void> =>
  n <= 0 ? Effect.void : Metric.update(Metric.withAttributes(reconcilerRepairsTotal, { kind }), n)

// ---------------------------------------------------------------------------------------------
// Process metrics (issue 18)
// ---------------------------------------------------------------------------------------------

export const processCpuSeconds = Metric.counter("process_cpu_seconds_total", {
  description: "User and system CPU time spent in seconds",
  incremental: true
})
export const processResidentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident memory size in bytes"
})
export const processHeapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap used in bytes" })
export const eventLoopLag = Metric.gauge("nodejs_eventloop_lag_seconds", {
  description: "Mean event loop delay since the previous scrape in seconds"
})

let loopDelay: ReturnType<typeof monitorEventLoopDelay> | undefined
let cpuReported = 0

/** Sample CPU, memory and event loop delay into the process gauges (at scrape time). */
export const refreshProcess: Effect.Effect<void> = Effect.suspend(() => {
  if (loopDelay === undefined) {
    loopDelay = monitorEventLoopDelay({ resolution: 20 })
    loopDelay.enable()
  }
  const usage = process.cpuUsage()
  const cpu = (usage.user + usage.system) / 1e6
  const cpuDelta = Math.max(0, cpu - cpuReported)
  cpuReported = cpu
  const memory = process.memoryUsage()
  const lag = Number.isFinite(loopDelay.mean) ? loopDelay.mean / 1e9 : 0
  loopDelay.reset()
  return Effect.all([
    Metric.update(processCpuSeconds, cpuDelta),
    Metric.update(processResidentMemory, memory.rss),
    Metric.update(processHeapUsed, memory.heapUsed),
    Metric.update(eventLoopLag, lag)
  ], { discard: true })
})

/** Every metric of this process as Prometheus exposition text (process metrics sampled first). */
export const render: Effect.Effect<string> = Effect.andThen(refreshProcess, PrometheusMetrics.format())
