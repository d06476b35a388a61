/**
 * Builders of valid domain values (jobs, units, outcomes) for tests and the port conformance suites.
 *
 * Every builder draws fresh identifiers from `crypto.randomUUID`, so tests that share one storage or
 * queue never collide, and timestamps from a fixed fixture epoch (never the machine's date). Default model ids are fresh too, which keeps the latest view of one test apart
 * from every other test's.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Domain from "../Domain.ts"
import type { Region } from "../Region.ts"

const freshId = (): string => crypto.randomUUID()

/** A fresh model id that no registry knows, so each test owns its (model, region) pairs. */
export const makeModelId = (prefix = "fixture.model"): Domain.ModelId =>
  `${prefix}-${freshId().slice(0, 8)}-v1:0` as Domain.ModelId

/** A fresh job id (a UUID). */
export const makeJobId = (): Domain.JobId => freshId() as Domain.JobId

/** A fresh unit id (a UUID: no `:` and never only digits). */
export const makeUnitId = (): Domain.UnitId => freshId() as Domain.UnitId

/** The instant fixtures start from: builders never read the machine's date, so tests pass on any date. */
export const fixtureEpoch: Domain.Timestamp = "2026-12-01T12:00:00.000Z" as Domain.Timestamp

let fixtureTick = 0

/**
 * The next fixture instant: `fixtureEpoch` plus one millisecond per call, so values drawn one after
 * another are distinct and increasing (creation order) without reading the machine's clock.
 */
export const nextInstant = (): Domain.Timestamp =>
  DateTime.formatIso(DateTime.makeUnsafe(Date.parse(fixtureEpoch) + fixtureTick++)) as Domain.Timestamp

/**
 * A wall clock pinned to `instant` that then advances in real time; sleeps are real. Give it to an
 * engine (`createCertification({ clock })`, `Effect.provideService(Clock.Clock, …)`) so a test that runs
 * real timers and sockets still sees one fixed date — lifecycle and expiry then never depend on the day
 * the test runs.
 */
export const clockAt = (instant: string | number): Clock.Clock => {
  const start = typeof instant === "number" ? instant : Date.parse(instant)
  if (!Number.isFinite(start)) throw new Error(`clockAt: "${String(instant)}" is not an instant`)
  const live = Clock.Clock.defaultValue()
  const origin = live.monotonicTimeNanosUnsafe()
  const nanos = (): bigint => BigInt(start) * 1_000_000n + (live.monotonicTimeNanosUnsafe() - origin)
  const millis = (): number => Number(nanos() / 1_000_000n)
  return {
    currentTimeMillisUnsafe: millis,
    currentTimeMillis: Effect.sync(millis),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: () => live.monotonicTimeNanosUnsafe(),
    monotonicTimeNanos: live.monotonicTimeNanos,
    sleep: (duration) => live.sleep(duration)
  }
}

/** A job with sensible defaults: PENDING, two fresh models, one region; any field can be overridden. */
export const makeJob = (overrides: Partial<Domain.Job> = {}): Domain.Job => {
  const modelIds = overrides.modelIds ?? [makeModelId(), makeModelId()]
  const regions = overrides.regions ?? ["us-east-1" as Region]
  const createdAt = overrides.createdAt ?? nextInstant()
  return new Domain.Job({
    id: makeJobId(),
    type: "MULTIPLE_MODELS",
    status: "PENDING",
    totalUnits: modelIds.length * regions.length,
    config: new Domain.JobConfig({ certifyThreshold: 80, validityDays: 30, suiteVersion: "1.0.0" }),
    createdBy: "fixtures",
    parentJobId: null,
    reason: null,
    updatedAt: createdAt,
    startedAt: null,
    completedAt: null,
    cancelledAt: null,
    ...overrides,
    modelIds,
    regions,
    createdAt
  })
}

/**
 * The first `n` units of a job, PENDING, one per (model, region) pair of the job (models first),
 * continuing with fresh model ids when `n` exceeds the job's pairs. Defaults to every pair.
 */
export const makeUnits = (job: Domain.Job, n: number = job.totalUnits): Array<Domain.Unit> => {
  const pairs: Array<readonly [Domain.ModelId, Region]> = []
  for (const modelId of job.modelIds) {
    for (const region of job.regions) pairs.push([modelId, region])
  }
  const region = job.regions[0] ?? ("us-east-1" as Region)
  while (pairs.length < n) pairs.push([makeModelId(), region])
  return pairs.slice(0, n).map(([modelId, region]) => makeUnit(job, { modelId, region }))
}

/** One PENDING unit of a job; any field can be overridden. */
export const makeUnit = (job: Domain.Job, overrides: Partial<Domain.Unit> = {}): Domain.Unit =>
  new Domain.Unit({
    ...Domain.pendingUnit({
      id: makeUnitId(),
      jobId: job.id,
      modelId: job.modelIds[0] ?? makeModelId(),
      hostModelId: null,
      region: job.regions[0] ?? ("us-east-1" as Region),
      createdAt: job.createdAt
    }),
    ...overrides
  })

/** The classified error a verdict is usually decided by, or null for passing verdicts. */
const errorFor: Record<Domain.Verdict, Domain.ErrorCategory | null> = {
  CERTIFIED: null,
  QUALITY_WARNING: null,
  FAILED: "QUALITY",
  UNAVAILABLE: "ACCESS_DENIED",
  UNSUPPORTED: "UNKNOWN",
  INCONCLUSIVE: "THROTTLED",
  CANCELLED: null
}

/** A categorized error of a given category, as the error categorizer would produce it. */
export const makeError = (
  category: Domain.ErrorCategory,
  overrides: Partial<Domain.CategorizedError> = {}
): Domain.CategorizedError =>
  new Domain.CategorizedError({
    category,
    retryable: category === "THROTTLED",
    blame: category === "QUALITY" ? "model" : category === "THROTTLED" ? "environment" : "configuration",
    verdict: category === "QUALITY" ? "FAILED" : category === "THROTTLED" ? "INCONCLUSIVE" : "UNAVAILABLE",
    hint: `fixture hint for ${category}`,
    message: `fixture error ${category}`,
    awsErrorName: null,
    httpStatus: null,
    requestId: null,
    systemic: false,
    ...overrides
  })

/** A passing test result. */
export const makeTestResult = (overrides: Partial<Domain.TestResult> = {}): Domain.TestResult =>
  new Domain.TestResult({
    id: "connectivity",
    name: "Connectivity",
    status: "PASSED",
    critical: true,
    weight: 1,
    latencyMs: 120,
    ttftMs: null,
    outputTokensPerSecond: null,
    attempts: 1,
    detail: null,
    error: null,
    ...overrides
  })

/** A worker's outcome with the given verdict, with an error of a fitting category when it does not pass. */
export const makeOutcome = (verdict: Domain.Verdict, overrides: Partial<Domain.UnitOutcome> = {}): Domain.UnitOutcome => {
  const passed = Domain.isPassed(verdict)
  const category = errorFor[verdict]
  return new Domain.UnitOutcome({
    verdict,
    invocationTarget: new Domain.InvocationTarget({ kind: "ON_DEMAND", id: "fixture.model" }),
    suiteVersion: "1.0.0",
    tests: [makeTestResult({ status: passed ? "PASSED" : "FAILED" })],
    score: passed ? (verdict === "CERTIFIED" ? 95 : 70) : 0,
    grade: passed ? (verdict === "CERTIFIED" ? "A" : "C") : "F",
    stars: passed ? (verdict === "CERTIFIED" ? 4.5 : 3) : 0,
    error: category === null ? null : makeError(category),
    findings: [],
    ...overrides
  })
}
