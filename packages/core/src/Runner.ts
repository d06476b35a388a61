/**
 * Certifies one unit — one model in one region — and returns its outcome. It never fails: every
 * problem ends as a verdict with a categorized error.
 *
 * Steps: certifiability (registry) → invocation target → the critical `connectivity` gate (with a
 * fallback to the region's inference profile on REQUIRES_INFERENCE_PROFILE, recorded as a finding)
 * → the remaining applicable tests with bounded concurrency → rating and verdict.
 *
 * **Retries** are per test run, for retryable categories only, with exponential backoff and full
 * jitter (`delay = random(0, min(max, base · 2^(n−1)))`). Throttling is waited out within a time
 * budget rather than counted against the attempt limit, and it feeds the region governor (AIMD cut);
 * other environment failures feed the region's circuit breaker. While a breaker is open, tests wait.
 * Errors blamed on the model fail the test; errors blamed on the environment leave it ERRORED, which
 * makes the unit INCONCLUSIVE — throttling is never a model failure.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Stream from "effect/Stream"
import { BedrockError, BedrockRuntime } from "./BedrockRuntime.ts"
import {
  CategorizedError,
  InvocationTarget,
  type Region,
  TestResult,
  UnitOutcome,
  type Verdict
} from "./Domain.ts"
import * as ErrorCategorizer from "./ErrorCategorizer.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import * as Metrics from "./Metrics.ts"
import * as Rating from "./Rating.ts"
import { RequestRateLimit } from "./RequestRateLimit.ts"
import { RegionGovernor } from "./RegionGovernor.ts"
import { Registry, type ModelInfo, type NotCertifiableReason } from "./Registry.ts"
import * as Suite from "./Suite.ts"

/** How patient the runner is. */
export interface RunnerSettings {
  /** Most runs of one test for retryable, non-throttling errors (default 4). */
  readonly maxAttempts: number
  /** Backoff base and cap, in milliseconds (defaults 200 and 5000). */
  readonly backoffBaseMillis: number
  readonly backoffMaxMillis: number
  /** How long one test may keep waiting out throttling before it gives up (default 120 s). */
  readonly throttleBudgetMillis: number
  /** Tests of one unit run at once (default 3). */
  readonly testConcurrency: number
  /** Minimum score for CERTIFIED (default 80). */
  readonly certifyThreshold: number
}

/** Runner settings, with defaults; override with `Effect.provideService(RunnerConfig, {...})`. */
export const RunnerConfig = Context.Reference<RunnerSettings>("@myia/certification/RunnerConfig", {
  defaultValue: () => ({
    maxAttempts: 4,
    backoffBaseMillis: 200,
    backoffMaxMillis: 5_000,
    throttleBudgetMillis: 120_000,
    testConcurrency: 3,
    certifyThreshold: Rating.defaultCertifyThreshold
  })
})

/** The unit to certify. */
export interface UnitInput {
  readonly modelId: string
  readonly region: Region
}

/** Options of one run. */
export interface RunOptions {
  /** Checked before every test run: when it answers true, no further Bedrock call starts. */
  readonly shouldStop?: Effect.Effect<boolean> | undefined
  /** Called when each test starts and ends (progress bars). */
  readonly onTest?: ((testId: string, phase: "start" | "end") => Effect.Effect<void>) | undefined
}

const reasonCategory: Record<NotCertifiableReason, { readonly verdict: Verdict; readonly category: CategorizedError["category"] }> = {
  UNKNOWN_MODEL: { verdict: "UNSUPPORTED", category: "UNKNOWN" },
  NOT_BEDROCK: { verdict: "UNSUPPORTED", category: "UNKNOWN" },
  NO_SUITE: { verdict: "UNSUPPORTED", category: "UNKNOWN" },
  NOT_OFFERED_IN_REGION: { verdict: "UNAVAILABLE", category: "NOT_OFFERED_IN_REGION" },
  END_OF_LIFE: { verdict: "UNAVAILABLE", category: "LEGACY_OR_EOL" }
}

/** An outcome decided without running tests (before any Bedrock call, or after giving up). */
export const outcomeWithoutTests = (verdict: Verdict, error: CategorizedError | null, findings: ReadonlyArray<string> = []) =>
  new UnitOutcome({
    verdict,
    invocationTarget: null,
    suiteVersion: Suite.version,
    tests: [],
    score: null,
    grade: null,
    stars: null,
    error,
    findings
  })

/** Not certifiable by this SDK version: recorded with the reason, never blamed on anyone. */
const unsupportedError = (message: string): CategorizedError => {
  const base = ErrorCategory.make("UNKNOWN", { message })
  return new CategorizedError({
    ...base,
    verdict: "UNSUPPORTED",
    retryable: false,
    blame: "configuration",
    hint: "Suite v1 cannot certify this model (unknown id, non-Bedrock provider, or a modality without a suite); check the model id."
  })
}

/** Full-jitter exponential backoff delay for attempt `n` (1-based). */
export const backoffMillis = (n: number, settings: Pick<RunnerSettings, "backoffBaseMillis" | "backoffMaxMillis">) =>
  Random.nextBetween(0, Math.min(settings.backoffMaxMillis, settings.backoffBaseMillis * 2 ** (n - 1)))

interface TestRun {
  readonly result: TestResult
  readonly finding: string | null
}

const skipped = (test: Suite.SuiteTest, detail: string): TestResult =>
  new TestResult({
    id: test.id,
    name: test.name,
    status: "SKIPPED",
    critical: test.critical,
    weight: test.weight,
    latencyMs: null,
    ttftMs: null,
    outputTokensPerSecond: null,
    attempts: 0,
    detail,
    error: null
  })

/**
 * The Bedrock runtime the tests see. Each call first takes a token from the shared per-region
 * request budget, when the host configured one (`RequestRateLimit`). A throttled unary call is
 * waited out *call by call* (backoff, AIMD cut) within the throttle budget, so a test that makes
 * several calls (tool round trip, similarity) does not start over from its first call — which,
 * against a slow-refilling quota, could repeat forever. Streams are retried by the test loop.
 */
const pacedRuntime = (settings: RunnerSettings) =>
  Effect.gen(function*() {
    const runtime = yield* BedrockRuntime
    const governor = yield* RegionGovernor
    const limiter = yield* Effect.serviceOption(RequestRateLimit)
    const take = Option.isNone(limiter) ? () => Effect.void : limiter.value.take
    const waitOutThrottling = <A>(region: Region, call: Effect.Effect<A, BedrockError>): Effect.Effect<A, BedrockError> =>
      Effect.flatMap(Clock.currentTimeMillis, (started) => {
        const attempt = (n: number): Effect.Effect<A, BedrockError> =>
          Effect.andThen(take(region), call).pipe(
            Effect.catch((error) =>
              Effect.flatMap(Clock.currentTimeMillis, (now) =>
                error.error.category === "THROTTLED" && now - started < settings.throttleBudgetMillis
                  ? governor.recordThrottle(region).pipe(
                    Effect.andThen(Metrics.recordRetry(region, "THROTTLED")),
                    Effect.andThen(backoffMillis(Math.min(n, 6), settings)),
                    Effect.flatMap((ms) => Effect.sleep(Duration.millis(ms))),
                    Effect.andThen(attempt(n + 1))
                  )
                  : Effect.fail(error))
            )
          )
        return attempt(1)
      })
    return BedrockRuntime.of({
      converse: (region, input, options) => waitOutThrottling(region, runtime.converse(region, input, options)),
      converseStream: (region, input, options) =>
        Stream.unwrap(Effect.as(take(region), runtime.converseStream(region, input, options))),
      invokeModel: (region, input, options) => waitOutThrottling(region, runtime.invokeModel(region, input, options))
    })
  })

/**
 * Run one test with retries under the region governor. Never fails: the last error, if any, is
 * recorded on the result with the status its blame implies.
 */
const runTest = Effect.fnUntraced(function*(
  test: Suite.SuiteTest,
  ctx: Suite.TestContext,
  settings: RunnerSettings,
  options: RunOptions
) {
  const governor = yield* RegionGovernor
  const runtime = yield* pacedRuntime(settings)
  const start = yield* Clock.currentTimeMillis
  let attempts = 0
  let failures = 0
  while (true) {
    attempts++
    if (options.onTest) yield* options.onTest(test.id, "start")
    const exit = yield* Effect.exit(
      governor.withPermit(ctx.region)(test.run(ctx)).pipe(Effect.provideService(BedrockRuntime, runtime))
    )
    if (options.onTest) yield* options.onTest(test.id, "end")
    if (Exit.isSuccess(exit)) {
      yield* governor.recordSuccess(ctx.region)
      const o = exit.value
      yield* Metrics.recordTest(test.id, ctx.region, o.latencyMs)
      const result = new TestResult({
        id: test.id,
        name: test.name,
        status: o.passed ? "PASSED" : "FAILED",
        critical: test.critical,
        weight: test.weight,
        latencyMs: Math.round(o.latencyMs * 100) / 100,
        ttftMs: o.ttftMs === null ? null : Math.round(o.ttftMs * 100) / 100,
        outputTokensPerSecond: o.outputTokensPerSecond === null ? null : Math.round(o.outputTokensPerSecond * 100) / 100,
        attempts,
        detail: o.detail,
        // A judged wrong answer is the model's failure: record it as QUALITY so reports can say why.
        error: o.passed ? null : ErrorCategorizer.quality(`${test.id}: ${o.detail ?? "wrong answer"}`)
      })
      return { result, finding: null } satisfies TestRun
    }
    const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
    const error: CategorizedError = failure !== undefined && failure._tag === "Fail" && failure.error instanceof BedrockError
      ? failure.error.error
      : ErrorCategory.make("UNKNOWN", { message: `test ${test.id} died: ${String(exit.cause)}`.slice(0, 500) })
    const elapsed = (yield* Clock.currentTimeMillis) - start
    if (error.category === "THROTTLED") {
      yield* governor.recordThrottle(ctx.region)
      if (elapsed < settings.throttleBudgetMillis && !(options.shouldStop && (yield* options.shouldStop))) {
        yield* Metrics.recordRetry(ctx.region, error.category)
        yield* Effect.sleep(Duration.millis(yield* backoffMillis(Math.min(attempts, 6), settings)))
        continue
      }
    } else if (error.retryable) {
      if (error.blame === "environment") yield* governor.recordFailure(ctx.region)
      failures++
      if (failures < settings.maxAttempts && !(options.shouldStop && (yield* options.shouldStop))) {
        yield* Metrics.recordRetry(ctx.region, error.category)
        yield* Effect.sleep(Duration.millis(yield* backoffMillis(failures, settings)))
        continue
      }
    }
    return finish(test, ctx, error, attempts)
  }
})

/** The result of a test whose last run ended in `error`. */
const finish = (test: Suite.SuiteTest, ctx: Suite.TestContext, error: CategorizedError, attempts: number): TestRun => {
  const base = {
    id: test.id,
    name: test.name,
    critical: test.critical,
    weight: test.weight,
    latencyMs: null,
    ttftMs: null,
    outputTokensPerSecond: null,
    attempts
  }
  if (error.category === "UNSUPPORTED_FEATURE") {
    const claimed = test.requires.some((c) => ctx.model.capabilities[c] === "yes")
    // A critical test is never skipped: a model that refuses the basics fails them.
    if (!claimed && !test.critical) {
      // The registry did not know; the model told us. A measured fact, not a failure.
      return {
        result: new TestResult({ ...base, status: "SKIPPED", detail: `measured unsupported: ${error.message}`, error }),
        finding: `${test.id}: not supported by the model (${error.message})`
      }
    }
    return {
      result: new TestResult({ ...base, status: "FAILED", detail: error.message, error }),
      finding: `${test.id}: registry says supported but the model refused (${error.message})`
    }
  }
  if (error.category === "INVALID_REQUEST") {
    return {
      result: new TestResult({ ...base, status: "ERRORED", detail: error.message, error }),
      finding: `${test.id}: request rejected as invalid — registry metadata may be wrong (${error.message})`
    }
  }
  return {
    result: new TestResult({
      ...base,
      status: error.blame === "model" && !error.systemic ? "FAILED" : "ERRORED",
      detail: error.message,
      error
    }),
    finding: null
  }
}

/**
 * Certify one (model, region). Requires the Bedrock runtime, the registry and the region governor;
 * settings come from `RunnerConfig`.
 */
export const runUnit = Effect.fn("Runner.runUnit")(function*(unit: UnitInput, options: RunOptions = {}) {
  const registry = yield* Registry
  const settings = yield* RunnerConfig
  yield* Effect.annotateCurrentSpan({ modelId: unit.modelId, region: unit.region })

  const now = yield* DateTime.now
  const certifiability = registry.certifiability(unit.modelId, unit.region, now)
  if (certifiability._tag === "NotCertifiable") {
    const { category, verdict } = reasonCategory[certifiability.reason]
    return outcomeWithoutTests(
      verdict,
      verdict === "UNSUPPORTED"
        ? unsupportedError(certifiability.message)
        : ErrorCategory.make(category, { message: certifiability.message })
    )
  }
  const model: ModelInfo = certifiability.model
  const kind = Suite.kindOf(model)
  if (typeof kind !== "string") return outcomeWithoutTests("UNSUPPORTED", unsupportedError(kind.unsupported))

  const findings: Array<string> = []
  if (!certifiability.regionVerified) findings.push(`registry has no region data for ${model.id}; availability measured live`)
  let target: InvocationTarget = certifiability.target
  const ctxFor = (t: InvocationTarget): Suite.TestContext => ({
    region: unit.region,
    target: t.id,
    model,
    maxTokens: Suite.maxTokensFor(model)
  })

  const applicable = Suite.tests.filter((t) => t.kind === kind)
  const [gate, ...rest] = applicable
  const results = new Map<string, TestResult>()
  const record = (run: TestRun) => {
    results.set(run.result.id, run.result)
    if (run.finding !== null) findings.push(run.finding)
  }

  // The critical gate: proves the model answers at all, and finds the target that works.
  let gateRun = yield* runTest(gate!, ctxFor(target), settings, options)
  if (gateRun.result.error?.category === "REQUIRES_INFERENCE_PROFILE") {
    for (const profile of certifiability.fallbackProfiles) {
      const viaProfile = new InvocationTarget({ kind: "SYSTEM_PROFILE", id: profile })
      const attempt = yield* runTest(gate!, ctxFor(viaProfile), settings, options)
      // Only an answer (right or wrong) proves the profile works; a throttle or a 5xx proves nothing.
      if (attempt.result.status === "PASSED" || attempt.result.status === "FAILED") {
        findings.push(`works only via inference profile ${profile} in ${unit.region} (on-demand is not supported)`)
        target = viaProfile
        gateRun = attempt
        break
      }
    }
  }
  record(gateRun)
  const gateError = gateRun.result.error
  const stopped = gateRun.result.status === "ERRORED" || (gateError !== null && gateError.systemic)
  const stopReason = (yield* options.shouldStop ?? Effect.succeed(false)) ? "not run: the job was stopped" : null

  if (stopped || stopReason !== null) {
    for (const t of rest) {
      results.set(t.id, skipped(t, stopReason ?? `not run: ${gateRun.result.id} ended ${gateError?.category ?? "ERRORED"}`))
    }
  } else {
    const runnable = rest.filter((t) => {
      const why = Suite.skipReason(t, model)
      if (why !== null) results.set(t.id, skipped(t, why))
      return why === null
    })
    yield* Effect.forEach(
      runnable,
      (t) =>
        Effect.gen(function*() {
          if (options.shouldStop && (yield* options.shouldStop)) {
            results.set(t.id, skipped(t, "not run: the job was stopped"))
            return
          }
          record(yield* runTest(t, ctxFor(target), settings, options))
        }),
      { concurrency: settings.testConcurrency, discard: true }
    )
  }

  const tests = applicable.map((t) => results.get(t.id)!).filter((t) => t !== undefined)
  const latencyClass: Rating.LatencyClass = kind === "embedding"
    ? "embedding"
    : model.capabilities.reasoning === "yes"
    ? "reasoning"
    : "chat"
  const rating = Rating.evaluate({ tests, latencyClass, certifyThreshold: settings.certifyThreshold })
  const systemic = tests.find((t) => t.error?.systemic)?.error ?? null
  const deciding = systemic ?? rating.deciding?.error ?? firstError(tests, rating.verdict)
  const measured = tests.some((t) => t.status === "PASSED" || t.status === "FAILED")
  return new UnitOutcome({
    verdict: systemic !== null ? "INCONCLUSIVE" : rating.verdict,
    invocationTarget: target,
    suiteVersion: Suite.version,
    tests,
    score: measured ? rating.score : null,
    grade: measured ? rating.grade : null,
    stars: measured ? rating.stars : null,
    error: deciding,
    findings
  })
})

/** The error that best explains a verdict when no single test decided it. */
const firstError = (tests: ReadonlyArray<TestResult>, verdict: Verdict): CategorizedError | null => {
  if (verdict === "CERTIFIED") return null
  return tests.find((t) => t.error !== null && t.status !== "SKIPPED")?.error ?? null
}
