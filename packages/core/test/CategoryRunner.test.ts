/**
 * Walks every row of `ErrorCategory.table` through the real Runner: for each category a scenario
 * makes the emulator answer one model's calls — over real sockets, to the real AWS SDK client — so
 * that they end in that category; the test then checks what the Runner did with them: the outcome
 * carries the category, the region governor's counters moved exactly as the row's `signal` says (one
 * report per call answered, none elsewhere), and the test run was waited out, retried or finished
 * as the row's `handling` says. A category without a case here does not compile.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as BedrockRuntime from "../src/BedrockRuntime.ts"
import type { ErrorCategory as Category } from "../src/Domain.ts"
import * as ErrorCategory from "../src/ErrorCategory.ts"
import { Region } from "../src/Region.ts"
import * as RegionGovernor from "../src/RegionGovernor.ts"
import * as Registry from "../src/Registry.ts"
import * as Runner from "../src/Runner.ts"
import * as BedrockEmulator from "../src/emulator/BedrockEmulator.ts"
import type { Rule, ScenarioInput } from "../src/emulator/Scenario.ts"

const east = Schema.decodeSync(Region)("us-east-1")
const modelId = "amazon.nova-lite-v1:0"
const maxAttempts = 3
/** Throttled calls the walk lets through before it stops the job (time never ends the wait here). */
const throttledCalls = maxAttempts + 3

/** How one case makes the emulator produce its category. */
interface Case {
  readonly behaviour: Omit<Rule, "models" | "regions">
  readonly requestHandler?: "http1" | "http2"
}

const scripted = (name: string, status: number, message: string): Case => ({
  behaviour: { errors: [{ name, status, message }] }
})

/** One or more cases per category: the record's type makes the walk cover every row. */
const cases: { readonly [C in Category]: ReadonlyArray<Case> } = {
  ACCESS_DENIED: [{ behaviour: { availability: "access-denied" } }],
  MARKETPLACE_PENDING: [{ behaviour: { availability: "marketplace-pending" } }],
  NOT_OFFERED_IN_REGION: [{ behaviour: { availability: "not-offered" } }],
  REQUIRES_INFERENCE_PROFILE: [
    // Every target fails, the region's profiles too, so the gate ends with the category itself.
    scripted(
      "ValidationException",
      400,
      `Invocation of model ID ${modelId} with on-demand throughput isn\u2019t supported. Retry your request with ` +
        "the ID or ARN of an inference profile that contains this model."
    )
  ],
  LEGACY_OR_EOL: [{ behaviour: { availability: "legacy" } }],
  CREDENTIALS: [scripted("UnrecognizedClientException", 403, "The security token included in the request is invalid.")],
  THROTTLED: [scripted("ThrottlingException", 429, "Too many requests, please wait before trying again.")],
  QUOTA_EXCEEDED: [
    scripted("ServiceQuotaExceededException", 400, "Too many tokens per day, please wait before trying again.")
  ],
  TIMEOUT: [
    scripted("ModelTimeoutException", 408, "Model has timed out in processing the request. Try your request again.")
  ],
  SERVICE_UNAVAILABLE: [{ behaviour: { errorRate5xx: 1 } }],
  // HTTP/2 (the client's default) resets the stream; HTTP/1.1 destroys the socket ("socket hang up").
  NETWORK: [{ behaviour: { connectionReset: 1 } }, { behaviour: { connectionReset: 1 }, requestHandler: "http1" }],
  INVALID_REQUEST: [
    scripted(
      "ValidationException",
      400,
      "Malformed input request: #: extraneous key [foo] is not permitted, please reformat your input and try again."
    )
  ],
  UNSUPPORTED_FEATURE: [scripted("ValidationException", 400, "This model doesn't support tool use.")],
  CONTENT_FILTERED: [{ behaviour: { contentFilter: { stopReason: "guardrail_intervened" } } }],
  MODEL_ERROR: [scripted("ModelErrorException", 424, "The model returned an error.")],
  QUALITY: [{ behaviour: { quality: "wrong" } }],
  UNKNOWN: [scripted("MysteryException", 400, "Something nobody has seen before happened.")]
}

const counterOf = { success: "successes", throttle: "throttles", failure: "failures" } as const

const certify = (c: Case) =>
  Effect.gen(function*() {
    const scenario: ScenarioInput = {
      seed: 12,
      registry: "builtin",
      defaults: { quality: "good", latency: { ttftMs: { min: 1, max: 2 }, tokensPerSecond: 5000 } },
      rules: [{ models: [modelId], regions: [east], ...c.behaviour }]
    }
    const emulator = yield* BedrockEmulator.make({ scenario })
    const governor = yield* RegionGovernor.make({ failureThreshold: 1_000 })
    const requests = () =>
      emulator.requests().filter((r) => r.modelId !== undefined && Registry.baseIdOf(r.modelId) === modelId)
    // The job is stopped once the walk has seen enough throttled calls: only throttling is waited out
    // so long, and stopping (not the clock) ends the wait, so the count is exact on any machine.
    const shouldStop = Effect.sync(() =>
      requests().filter((r) => r.errorName === "ThrottlingException").length >= throttledCalls
    )
    const outcome = yield* Runner.runUnit({ modelId, region: east }, { shouldStop }).pipe(
      Effect.provide(Layer.mergeAll(
        BedrockRuntime.layer({
          endpoint: emulator.url,
          credentials: { accessKeyId: "AKIDCATEGORYWALK", secretAccessKey: "category-walk-secret" },
          requestHandler: c.requestHandler
        }),
        Registry.layer
      )),
      Effect.provideService(RegionGovernor.RegionGovernor, governor),
      Effect.provideService(Runner.RunnerConfig, {
        ...Runner.RunnerConfig.defaultValue(),
        maxAttempts,
        backoffBaseMillis: 1,
        backoffMaxMillis: 5,
        throttleBudgetMillis: 600_000,
        testConcurrency: 3
      })
    )
    return { outcome, requests: requests(), state: yield* governor.state(east, modelId) }
  })

describe("every ErrorCategory row, through the real Runner and the emulator", () => {
  for (const category of ErrorCategory.categories) {
    const row = ErrorCategory.describe(category)
    for (const c of cases[category]) {
      const via = c.requestHandler === undefined ? "" : ` (${c.requestHandler})`
      it.live(`${category}${via}: reports "${row.signal}" to the governor and is handled "${row.handling}"`, () =>
        Effect.gen(function*() {
          const { outcome, requests, state } = yield* certify(c)
          const connectivity = outcome.tests.find((t) => t.id === "connectivity")!

          // The scenario produced the category, and the Runner kept it.
          assert.strictEqual(outcome.error?.category, category, `outcome error: ${outcome.error?.message}`)
          assert.strictEqual(connectivity.error?.category, category)
          assert.strictEqual(connectivity.status, row.testStatus)
          assert.isAbove(requests.length, 0)

          // The signal: each test run reports its outcome once, and each throttled call it waited out
          // once more. Every call fails with the category in all rows but QUALITY (a wrong answer is
          // judged once per run, whatever calls the run made), so there it is one report per call the
          // emulator answered; nothing reaches the other counters.
          const runs = outcome.tests.reduce((n, t) => n + t.attempts, 0)
          const reports = category === "QUALITY" ? runs : requests.length
          assert.isAtMost(runs, requests.length)
          const counters = { successes: state.successes, throttles: state.throttles, failures: state.failures }
          const expected = { successes: 0, throttles: 0, failures: 0 }
          if (row.signal !== "none") expected[counterOf[row.signal]] = reports
          assert.deepStrictEqual(counters, expected)

          // The handling: waited out (uncounted), retried up to maxAttempts, or finished at once.
          switch (row.handling) {
            case "wait": {
              assert.strictEqual(connectivity.attempts, 1)
              assert.strictEqual(requests.length, throttledCalls)
              assert.isAbove(requests.length, maxAttempts, "throttling is not counted against maxAttempts")
              break
            }
            case "retry": {
              assert.strictEqual(connectivity.attempts, maxAttempts)
              break
            }
            case "finish": {
              assert.strictEqual(connectivity.attempts, 1)
              break
            }
          }
        }))
    }
  }
})
