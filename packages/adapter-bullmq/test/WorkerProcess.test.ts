import { assert, describe, it } from "@effect/vitest"
import { Metrics, Region, Storage } from "@myia/certification"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Promtool } from "@myia/certification/testing"
import { WorkerProcess } from "../src/index.ts"
import { cleanup, freshPrefix, redisUrl, shouldRun } from "./RedisTest.ts"

/** Each environment variable, a value for it, and where that value must land in the settings. */
const rows: ReadonlyArray<{
  readonly env: string
  readonly value: string
  readonly read: (s: WorkerProcess.WorkerSettings) => unknown
  readonly expected: unknown
}> = [
  { env: "CERTIFICATION_QUEUE_NAME", value: "q1", read: (s) => s.queueName, expected: "q1" },
  { env: "CERTIFICATION_REDIS_PREFIX", value: "p1", read: (s) => s.prefix, expected: "p1" },
  { env: "CERTIFICATION_CONCURRENCY", value: "9", read: (s) => s.concurrency, expected: 9 },
  { env: "CERTIFICATION_TIMEOUT", value: "1500", read: (s) => s.timeoutMillis, expected: Option.some(1500) },
  { env: "CERTIFICATION_MAX_RETRIES", value: "7", read: (s) => s.maxRetries, expected: 7 },
  { env: "REDIS_HOST", value: "redis.internal", read: (s) => s.redis, expected: { host: "redis.internal", port: 6379 } },
  { env: "REDIS_PORT", value: "6390", read: (s) => s.redis, expected: { host: "127.0.0.1", port: 6390 } },
  { env: "CERTIFICATION_PG_SCHEMA", value: "cert", read: (s) => s.pgSchema, expected: Option.some("cert") },
  { env: "WORKER_HEALTH_PORT", value: "9464", read: (s) => s.healthPort, expected: Option.some(9464) },
  { env: "BEDROCK_ENDPOINT", value: "http://127.0.0.1:4010", read: (s) => s.bedrockEndpoint, expected: Option.some("http://127.0.0.1:4010") },
  { env: "CERTIFICATION_SHUTDOWN_GRACE", value: "5000", read: (s) => s.shutdownGraceMillis, expected: 5000 },
  { env: "CERTIFICATION_LOCK_DURATION", value: "2000", read: (s) => s.lockDurationMillis, expected: Option.some(2000) },
  { env: "CERTIFICATION_STALLED_INTERVAL", value: "1000", read: (s) => s.stalledIntervalMillis, expected: Option.some(1000) },
  {
    env: "CERTIFICATION_REGION_LIMITS",
    value: "{\"us-east-1\":{\"concurrency\":2,\"ratePerSecond\":3}}",
    read: (s) => s.regionLimits,
    expected: { "us-east-1": { concurrency: 2, ratePerSecond: 3 } }
  }
]

describe("WorkerProcess settings", () => {
  it.effect("an empty environment gives the documented defaults", () =>
    Effect.gen(function*() {
      const s = yield* WorkerProcess.loadSettings({})
      assert.strictEqual(s.queueName, "model-certification")
      assert.strictEqual(s.prefix, "bull")
      assert.strictEqual(s.concurrency, 4)
      assert.strictEqual(s.maxRetries, 3)
      assert.strictEqual(s.shutdownGraceMillis, 30_000)
      assert.deepStrictEqual(s.redis, { host: "127.0.0.1", port: 6379 })
      assert.isTrue(Option.isNone(s.healthPort) && Option.isNone(s.databaseUrl) && Option.isNone(s.timeoutMillis))
      assert.deepStrictEqual(s.regionLimits, {})
    }))

  it.effect("every variable of the table lands in its setting", () =>
    Effect.gen(function*() {
      for (const row of rows) {
        const s = yield* WorkerProcess.loadSettings({ [row.env]: row.value })
        assert.deepStrictEqual(row.read(s), row.expected, row.env)
      }
    }))

  it.effect("REDIS_URL wins over REDIS_HOST and stays redacted; logs show only host and port", () =>
    Effect.gen(function*() {
      const s = yield* WorkerProcess.loadSettings({ REDIS_URL: "redis://:s3cret@cache:6380", REDIS_HOST: "ignored" })
      assert.isTrue("url" in s.redis)
      if ("url" in s.redis) {
        assert.strictEqual(Redacted.value(s.redis.url), "redis://:s3cret@cache:6380")
        assert.notInclude(String(s.redis.url), "s3cret")
      }
      assert.strictEqual(WorkerProcess.describeRedis(s.redis), "cache:6380")
    }))

  it.effect("invalid numbers and limits are rejected with the variable's name", () =>
    Effect.gen(function*() {
      for (const env of ["CERTIFICATION_CONCURRENCY", "CERTIFICATION_REGION_LIMITS", "WORKER_HEALTH_PORT"]) {
        const error = yield* Effect.flip(WorkerProcess.loadSettings({ [env]: "not-a-number{" }))
        assert.include(String(error), env)
      }
      // A policy needs at least one attempt, and attempts are whole numbers.
      for (const value of ["0", "-2", "1.5"]) {
        const error = yield* Effect.flip(WorkerProcess.loadSettings({ CERTIFICATION_MAX_RETRIES: value }))
        assert.include(String(error), "CERTIFICATION_MAX_RETRIES", value)
      }
    }))
})

describe("WorkerProcess health routes", () => {
  it.effect("/health is live while /ready answers 503 until the consumer runs, and 503 again while draining", () =>
    Effect.gen(function*() {
      const counts = { waiting: 0, active: 0, delayed: 0, failed: 0 }
      const state: WorkerProcess.WorkerState = { consuming: false, draining: false, check: undefined }
      assert.strictEqual((yield* WorkerProcess.routes["/health"]!(state)).status, 200)
      assert.strictEqual((yield* WorkerProcess.routes["/ready"]!(state)).status, 503)
      state.check = Effect.succeed(counts)
      state.consuming = true
      assert.strictEqual((yield* WorkerProcess.routes["/ready"]!(state)).status, 200)
      state.check = Effect.fail(new Error("redis down"))
      const down = yield* WorkerProcess.routes["/ready"]!(state)
      assert.strictEqual(down.status, 503)
      assert.include(down.body, "redis down")
      state.check = Effect.succeed(counts)
      state.draining = true
      assert.strictEqual((yield* WorkerProcess.routes["/ready"]!(state)).status, 503)
    }))

  it.effect("/metrics renders the governor gauges and process metrics, and not the shared queue's depth", () =>
    Effect.gen(function*() {
      const region = Region.Region.make("us-east-1")
      const state: WorkerProcess.WorkerState = {
        consuming: true,
        draining: false,
        check: Effect.succeed({ waiting: 3, active: 1, delayed: 0, failed: 0 }),
        gauges: Metrics.refresh({
          governor: Metrics.governorGauges([{ region, model: "amazon.nova-lite-v1:0", breaker: "open", limit: 4, inFlight: 2 }])
        })
      }
      const reply = yield* WorkerProcess.routes["/metrics"]!(state)
      assert.strictEqual(reply.status, 200)
      assert.include(reply.type, "text/plain")
      // Queue depth is the HTTP API's to export: summed over workers it would double-count.
      assert.notInclude(reply.body, "certification_queue_depth{")
      assert.match(reply.body, /certification_breaker_state\{[^}]*model="amazon.nova-lite-v1:0"[^}]*\} 2/)
      assert.match(reply.body, /certification_region_concurrency_limit\{[^}]*region="us-east-1"[^}]*\} 4/)
      assert.match(reply.body, /certification_region_in_flight\{[^}]*region="us-east-1"[^}]*\} 2/)
      assert.match(reply.body, /process_resident_memory_bytes \d+/)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.skipIf(!Promtool.shouldRun)("/metrics passes promtool check metrics, Bedrock histograms included", async () => {
    const region = Region.Region.make("us-east-1")
    const state: WorkerProcess.WorkerState = {
      consuming: true,
      draining: false,
      check: undefined,
      gauges: Metrics.refresh({ governor: Metrics.governorGauges([{ region, breaker: "closed", limit: 8, inFlight: 1 }]) })
    }
    const body = await Effect.runPromise(
      Effect.gen(function*() {
        yield* Metrics.recordBedrockCall({
          operation: "ConverseStream",
          region,
          outcome: "success",
          seconds: 1.5,
          timeToFirstTokenSeconds: 0.4,
          outputTokens: 120
        })
        yield* Metrics.recordBedrockCall({ operation: "Converse", region, outcome: "THROTTLED", seconds: 0.2 })
        yield* Metrics.recordRetry(region, "THROTTLED", "amazon.nova-lite-v1:0")
        yield* Metrics.recordTest("connectivity", region, 1500)
        yield* Metrics.recordUnit("CERTIFIED", region)
        return (yield* WorkerProcess.routes["/metrics"]!(state)).body
      }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
    )
    assert.include(body, "certification_bedrock_call_duration_seconds_bucket")
    assert.deepStrictEqual(await Promtool.check(body), [])
  })
})

describe.skipIf(!shouldRun)("WorkerProcess start", () => {
  it.live("a session that cannot start (the database is down) is retried every startRetryMillis until it starts", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      yield* Effect.addFinalizer(() => Effect.promise(() => cleanup(prefix)))
      const builds: Array<number> = []
      const started = yield* Deferred.make<void>()
      // Fails twice like an unreachable database, then serves: only the readiness probe's getJob is
      // reached (no unit is enqueued).
      const storage = Layer.effect(
        Storage.Storage,
        Effect.gen(function*() {
          builds.push(yield* Clock.currentTimeMillis)
          if (builds.length <= 2) return yield* Effect.fail(new Error(`database down (${builds.length})`))
          yield* Deferred.succeed(started, undefined)
          return { getJob: () => Effect.succeed(Option.none()) } as unknown as Storage.Storage["Service"]
        })
      )
      yield* WorkerProcess.program(
        { storage, env: { REDIS_URL: redisUrl, CERTIFICATION_REDIS_PREFIX: prefix }, startRetryMillis: 100, logLevel: "None" },
        Deferred.await(started).pipe(Effect.andThen(Effect.sleep("200 millis")))
      )
      assert.strictEqual(builds.length, 3)
      assert.isAtLeast(builds[1]! - builds[0]!, 100 - 5)
      assert.isAtLeast(builds[2]! - builds[1]!, 100 - 5)
    }))
})
