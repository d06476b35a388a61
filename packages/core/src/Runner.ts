/**
 * Certifies one unit — one model in one region — and returns its outcome. It never fails: every
 * problem ends as a verdict with a categorized error.
 *
 * Steps: certifiability (registry) → invocation target → the critical `connectivity` gate (with a
 * fallback to the region's inference profile on REQUIRES_INFERENCE_PROFILE, recorded as a finding)
 * → the remaining applicable tests with bounded concurrency → rating and verdict.
 *
 * **Retries** are per test run and follow the category's row in `ErrorCategory.table`: its `handling`
 * says whether the run is waited out (throttling: within a time budget, not counted against the
 * attempt limit), retried (counted against `maxAttempts`) or finished at once, and its `signal` is what
 * the run reports to the governor lane of its (region, model) (`recordOutcome`: an AIMD cut on
 * throttling, the circuit breaker on environment failures, a success for any answer). While a
 * breaker is open, tests wait. A resumed run (`RunOptions.resume`) keeps the stored results of the
 * tests an earlier run of the unit decided and runs only the rest.
 * Every wait is the next step of {@link retryBackoff}, an Effect `Schedule` (exponential, capped, full
 * jitter). The certify threshold comes with the unit (the job records it). Errors blamed on the model
 * fail the test; errors blamed on the environment leave it ERRORED (`ErrorCategory.testStatusOf`),
 * which makes the unit INCONCLUSIVE — throttling is never a model failure.
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
import * as Schedule from "effect/Schedule"
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
import { delays } from "./internal/scheduleDelays.ts"
import * as Metrics from "./Metrics.ts"
import * as Rating from "./Rating.ts"
import { RequestRateLimit } from "./RequestRateLimit.ts"
import { RegionGovernor } from "./RegionGovernor.ts"
import * as Preflight from "./Preflight.ts"
import { type ModelInfo, type NotCertifiableReason, type RegistryShape } from "./Registry.ts"
import * as Resume from "./Resume.ts"
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
  /**
   * A test whose model's own quota (the governor's lane pacer, issue 16) would hold its next request
   * longer than this does not wait: it ends ERRORED with THROTTLED at once, so the unit gives its
   * worker slot back to other models and resumes later (default 2 s). A regional quota never parks
   * a unit: every model of the region waits for it alike.
   */
  readonly parkAfterMillis?: number | undefined
}

const defaultParkAfterMillis = 2_000

/** Runner settings, with defaults; override with `Effect.provideService(RunnerConfig, {...})`. */
export const RunnerConfig = Context.Reference<RunnerSettings>("@myia/certification/RunnerConfig", {
  defaultValue: () => ({
    maxAttempts: 4,
    backoffBaseMillis: 200,
    backoffMaxMillis: 5_000,
    throttleBudgetMillis: 120_000,
    testConcurrency: 3,
    parkAfterMillis: defaultParkAfterMillis
  })
})

/** The unit to certify. */
export interface UnitInput {
  readonly modelId: string
  readonly region: Region
  /** Minimum score for CERTIFIED: the one recorded on the unit's job (default `Rating.defaultCertifyThreshold`). */
  readonly certifyThreshold?: number | undefined
}

/** Options of one run. */
export interface RunOptions {
  /** Checked before every test run: when it answers true, no further Bedrock call starts. */
  readonly shouldStop?: Effect.Effect<boolean> | undefined
  /** Called when each test starts and ends (progress bars). */
  readonly onTest?: ((testId: string, phase: "start" | "end") => Effect.Effect<void>) | undefined
  /** Resume (issue 16): what an earlier run of this unit stored; its finished tests are not run again. */
  readonly resume?: Resume.Progress | undefined
  /** Called with each test's result as it is decided, and the target it ran against (per-test progress). */
  readonly onResult?: ((target: InvocationTarget, result: TestResult) => Effect.Effect<void>) | undefined
}

const reasonCategory: Record<NotCertifiableReason, { readonly verdict: Verdict; readonly category: CategorizedError["category"] }> = {
  UNKNOWN_MODEL: { verdict: "UNSUPPORTED", category: "UNKNOWN" },
  NOT_BEDROCK: { verdict: "UNSUPPORTED", category: "UNKNOWN" },
  NO_SUITE: { verdict: "UNSUPPORTED", category: "UNKNOWN" },
  NOT_OFFERED_IN_REGION: { verdict: "UNAVAILABLE", category: "NOT_OFFERED_IN_REGION" },
  END_OF_LIFE: { verdict: "UNAVAILABLE", category: "LEGACY_OR_EOL" }
}

/** An outcome decided without running tests (before any Bedrock call, or after giving up). */
export const outcomeWithoutTests = Suite.outcomeWithoutTests

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

/**
 * The wait before each retry of a call or a test run: exponential from `backoffBaseMillis`, capped
 * at `backoffMaxMillis`, with full jitter — step n waits a uniform random time in
 * `[0, min(max, base · 2^(n−1)))`, so runs that failed together do not come back together.
 */
export const retryBackoff = (
  settings: Pick<RunnerSettings, "backoffBaseMillis" | "backoffMaxMillis">
): Schedule.Schedule<Duration.Duration> =>
  Schedule.min([
    Schedule.exponential(Duration.millis(settings.backoffBaseMillis)),
    Schedule.spaced(Duration.millis(settings.backoffMaxMillis))
  ]).pipe(
    Schedule.modifyDelay(({ duration }) =>
      Effect.map(Random.nextBetween(0, Duration.toMillis(duration)), Duration.millis)
    )
  )

interface TestRun {
  readonly result: TestResult
  readonly finding: string | null
  /** Kept from an earlier run of the unit (issue 16), not run now. */
  readonly resumed?: boolean | undefined
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
 * against a slow-refilling quota, could repeat forever. Streams are retried by the test loop. Like
 * every retry, a waited-out call is not sent again once `shouldStop` answers true. `sent.at` is when
 * the test's last request went out: the pacer learns from answers to requests sent at its pace.
 */
const pacedRuntime = (
  settings: RunnerSettings,
  stopRequested: Effect.Effect<boolean>,
  modelId: string | undefined,
  sent: { at: number | undefined }
) =>
  Effect.gen(function*() {
    const runtime = yield* BedrockRuntime
    const governor = yield* RegionGovernor
    const limiter = yield* Effect.serviceOption(RequestRateLimit)
    const budget = Option.isNone(limiter) ? () => Effect.void : limiter.value.take
    // Each request waits for the governor's pacing of its (region, model), then for the shared
    // budget; it goes out at the time this returns.
    const take = (region: Region) =>
      governor.pace(region, modelId).pipe(
        Effect.andThen(budget(region)),
        Effect.andThen(Clock.currentTimeMillis),
        Effect.map((now) => {
          sent.at = now
          return now
        })
      )
    const waitOutThrottling = <A>(region: Region, call: Effect.Effect<A, BedrockError>): Effect.Effect<A, BedrockError> =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const nextDelay = yield* delays(retryBackoff(settings))
        let sends = 0
        let sentAt = started
        // Issue 18: each send of the call is its own span, numbered.
        const send = Effect.suspend(() => call.pipe(Effect.annotateSpans({ "bedrock.attempt": ++sends })))
        const attempt: Effect.Effect<A, BedrockError> = take(region).pipe(
          Effect.flatMap((now) => {
            sentAt = now
            return send
          }),
          Effect.catch((error) =>
            Effect.gen(function*() {
              const { category } = error.error
              const now = yield* Clock.currentTimeMillis
              const waitOut = ErrorCategory.describe(category).handling === "wait" &&
                now - started < settings.throttleBudgetMillis && !(yield* stopRequested)
              if (!waitOut) return yield* error // reported by the test run, once
              // When it was sent tells the pacer whether it went out at its pace (see `recordThrottle`).
              yield* governor.recordOutcome(region, category, modelId, sentAt)
              // The model's own quota would hold the next send long: give up now, the test parks the unit.
              const held = yield* parkedBy(governor, settings, region, modelId, modelId ?? error.modelId)
              if (held !== undefined) return yield* new BedrockError({ ...error, error: held })
              yield* Metrics.recordRetry(region, category, modelId)
              yield* Effect.sleep(yield* nextDelay)
              return yield* attempt
            })
          )
        )
        return yield* attempt
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
 * recorded on the result with the status its blame implies. Each run reports its outcome to the
 * governor, and its category's `handling` decides whether another run follows.
 */
const runTest = Effect.fnUntraced(function*(
  test: Suite.SuiteTest,
  ctx: Suite.TestContext,
  settings: RunnerSettings,
  options: RunOptions
) {
  const governor = yield* RegionGovernor
  const stopRequested = options.shouldStop ?? Effect.succeed(false)
  const sent: { at: number | undefined } = { at: undefined }
  const runtime = yield* pacedRuntime(settings, stopRequested, ctx.model.id, sent)
  const start = yield* Clock.currentTimeMillis
  // Waits and counted retries back off on their own counts, each from the first step.
  const nextDelay = { wait: yield* delays(retryBackoff(settings)), retry: yield* delays(retryBackoff(settings)) }
  let attempts = 0
  let failures = 0
  while (true) {
    const held = yield* parkedBy(governor, settings, ctx.region, ctx.model.id, ctx.model.id)
    if (held !== undefined) return finish(test, ctx, held, attempts)
    attempts++
    if (options.onTest) yield* options.onTest(test.id, "start")
    sent.at = undefined
    const exit = yield* Effect.exit(
      governor.withPermit(ctx.region, ctx.model.id)(test.run(ctx)).pipe(
        Effect.provideService(BedrockRuntime, runtime),
        // Issue 18: a span per test run, and the model on every Bedrock call span under it.
        Effect.annotateSpans({ "certification.model_id": ctx.model.id }),
        Effect.tapError((error) =>
          Effect.annotateCurrentSpan({
            "error.category": error.error.category,
            "bedrock.throttled": error.error.category === "THROTTLED"
          })
        ),
        Effect.withSpan("Runner.test", {
          attributes: {
            "certification.test_id": test.id,
            "certification.model_id": ctx.model.id,
            "bedrock.region": ctx.region,
            "bedrock.invocation_target": ctx.target,
            "certification.attempt": attempts
          }
        })
      )
    )
    if (options.onTest) yield* options.onTest(test.id, "end")
    if (Exit.isSuccess(exit)) {
      const o = exit.value
      // A judged wrong answer is the model's failure: record it as QUALITY so reports can say why.
      const error = o.passed ? null : ErrorCategorizer.quality(`${test.id}: ${o.detail ?? "wrong answer"}`)
      yield* governor.recordOutcome(ctx.region, error?.category ?? null, ctx.model.id, sent.at)
      yield* Metrics.recordTest(test.id, ctx.region, o.latencyMs)
      const result = new TestResult({
        id: test.id,
        name: test.name,
        status: error === null ? "PASSED" : ErrorCategory.testStatusOf(error),
        critical: test.critical,
        weight: test.weight,
        latencyMs: Math.round(o.latencyMs * 100) / 100,
        ttftMs: o.ttftMs === null ? null : Math.round(o.ttftMs * 100) / 100,
        outputTokensPerSecond: o.outputTokensPerSecond === null ? null : Math.round(o.outputTokensPerSecond * 100) / 100,
        attempts,
        detail: o.detail,
        error
      })
      return { result, finding: null } satisfies TestRun
    }
    const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
    const error: CategorizedError = failure !== undefined && failure._tag === "Fail" && failure.error instanceof BedrockError
      ? failure.error.error
      : ErrorCategory.make("UNKNOWN", { message: `test ${test.id} died: ${String(exit.cause)}`.slice(0, 500) })
    yield* governor.recordOutcome(ctx.region, error.category, ctx.model.id, sent.at)
    const { handling } = ErrorCategory.describe(error.category)
    const again = handling === "wait"
      ? (yield* Clock.currentTimeMillis) - start < settings.throttleBudgetMillis
      : handling === "retry"
      ? ++failures < settings.maxAttempts
      : false
    if (handling === "finish" || !again || (yield* stopRequested)) return finish(test, ctx, error, attempts)
    yield* Metrics.recordRetry(ctx.region, error.category, ctx.target)
    yield* Effect.sleep(yield* nextDelay[handling])
  }
})

/**
 * The error that parks a test — not sent, because its model's own quota would hold its next request
 * longer than `parkAfterMillis` — or undefined when it may wait: the unit gives its slot back.
 */
const parkedBy = (
  governor: RegionGovernor["Service"],
  settings: RunnerSettings,
  region: Region,
  modelId: string | undefined,
  label: string
): Effect.Effect<CategorizedError | undefined> =>
  Effect.map(governor.laneWait(region, modelId), (waitMillis) =>
    waitMillis <= (settings.parkAfterMillis ?? defaultParkAfterMillis) ? undefined : ErrorCategory.make("THROTTLED", {
      message: `${label} in ${region}: the model's own quota paces its next request ${
        Math.round(waitMillis / 100) / 10
      } s out; the unit gives its worker slot back and resumes later`
    }))

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
      result: new TestResult({ ...base, status: ErrorCategory.testStatusOf(error), detail: error.message, error }),
      finding: `${test.id}: request rejected as invalid — registry metadata may be wrong (${error.message})`
    }
  }
  return {
    result: new TestResult({ ...base, status: ErrorCategory.testStatusOf(error), detail: error.message, error }),
    finding: null
  }
}

/**
 * Certify one (model, region) against the unit's certify threshold. Requires the Bedrock runtime, the
 * registry and the region governor; the runner's patience comes from `RunnerConfig`.
 */
export const runUnit = Effect.fn("Runner.runUnit")(function*(unit: UnitInput, options: RunOptions = {}) {
  // Issue #13: the living registry's preflight may decide the unit without a runtime call.
  const prepared = yield* Preflight.prepare(unit)
  if (prepared.decided !== undefined) return prepared.decided
  const outcome = yield* certify(unit, options, prepared.registry)
  return Preflight.record(prepared, outcome, yield* DateTime.now)
})

const certify = Effect.fnUntraced(function*(unit: UnitInput, options: RunOptions, registry: RegistryShape) {
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
  const record = Effect.fnUntraced(function*(run: TestRun) {
    results.set(run.result.id, run.result)
    if (run.finding !== null) findings.push(run.finding)
    if (options.onResult && !run.resumed) yield* options.onResult(target, run.result)
  })
  const resumed = Resume.plan(options.resume, applicable.map((t) => t.id))
  if (resumed.target !== null) target = resumed.target

  // The critical gate: proves the model answers at all, and finds the target that works.
  let gateRun = resumed.take(gate!.id) ?? (yield* runTest(gate!, ctxFor(target), settings, options))
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
  yield* record(gateRun)
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
    // Once a test of this run has spent its throttle budget, the quota said no for now: the tests
    // not started yet are not sent (each would wait out the same quota, holding the worker's slot —
    // with pacing, a slot of the lane's pacer each); they end ERRORED with that throttle, and a
    // resumed run (the unit is redelivered) runs them then.
    let throttledOut: CategorizedError | null = null
    yield* Effect.forEach(
      runnable,
      (t) =>
        Effect.gen(function*() {
          if (options.shouldStop && (yield* options.shouldStop)) {
            results.set(t.id, skipped(t, "not run: the job was stopped"))
            return
          }
          const kept = resumed.take(t.id)
          if (kept === undefined && throttledOut !== null) {
            return yield* record(finish(t, ctxFor(target), throttledOut, 0))
          }
          const run = kept ?? (yield* runTest(t, ctxFor(target), settings, options))
          const error = run.result.error
          if (kept === undefined && run.result.status === "ERRORED" && error !== null && ErrorCategory.describe(error.category).handling === "wait") {
            throttledOut = error
          }
          yield* record(run)
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
  const rating = Rating.evaluate({ tests, latencyClass, certifyThreshold: unit.certifyThreshold })
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
