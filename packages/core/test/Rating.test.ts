import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import {
  Blame,
  CategorizedError,
  ErrorCategory,
  TestResult,
  TestStatus,
  type Verdict,
  verdicts
} from "../src/Domain.ts"
import * as Rating from "../src/Rating.ts"

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

const error = (
  category: ErrorCategory,
  blame: Blame,
  verdict: Verdict,
  options: { readonly systemic?: boolean; readonly retryable?: boolean } = {}
) =>
  new CategorizedError({
    category,
    retryable: options.retryable ?? false,
    blame,
    verdict,
    hint: "",
    message: `${category} happened`,
    awsErrorName: null,
    httpStatus: null,
    requestId: null,
    systemic: options.systemic ?? false
  })

const throttled = error("THROTTLED", "environment", "INCONCLUSIVE", { retryable: true })
const accessDenied = error("ACCESS_DENIED", "configuration", "UNAVAILABLE")
const credentials = error("CREDENTIALS", "configuration", "INCONCLUSIVE", { systemic: true })
const invalidRequest = error("INVALID_REQUEST", "configuration", "QUALITY_WARNING")
const quality = error("QUALITY", "model", "FAILED")
const modelError = error("MODEL_ERROR", "model", "FAILED")

let counter = 0
const result = (overrides: Partial<ConstructorParameters<typeof TestResult>[0]> = {}): TestResult =>
  new TestResult({
    id: `t${++counter}`,
    name: "a test",
    status: "PASSED",
    critical: false,
    weight: 1,
    latencyMs: 1000,
    ttftMs: null,
    outputTokensPerSecond: null,
    attempts: 1,
    detail: null,
    error: null,
    ...overrides
  })

const is2Decimals = (n: number) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-6

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

describe("Rating", () => {
  describe("grade and stars", () => {
    it("every row of the grade table starts its grade exactly at its minimum", () => {
      const rows = Rating.gradeThresholds
      assert.deepStrictEqual(
        rows.map(([g]) => g),
        ["A", "B", "C", "D", "F"]
      )
      for (let i = 0; i < rows.length - 1; i++) {
        const [grade, min] = rows[i]!
        assert.strictEqual(Rating.gradeOf(min), grade, `${min}`)
        assert.strictEqual(Rating.gradeOf(min - 0.01), rows[i + 1]![0], `${min - 0.01}`)
      }
      assert.deepStrictEqual(
        [100, 90, 89.99, 80, 79.99, 70, 69.99, 60, 59.99, 0].map(Rating.gradeOf),
        ["A", "A", "B", "B", "C", "C", "D", "D", "F", "F"]
      )
    })

    it("stars are the score in tenths, halved, rounding half up", () => {
      const cases: ReadonlyArray<readonly [number, number]> = [
        [0, 0],
        [4.99, 0],
        [5, 0.5],
        [14.99, 0.5],
        [15, 1],
        [50, 2.5],
        [84.99, 4],
        [85, 4.5],
        [94.99, 4.5],
        [95, 5],
        [100, 5]
      ]
      for (const [score, stars] of cases) assert.strictEqual(Rating.starsOf(score), stars, `${score}`)
    })
  })

  describe("rate", () => {
    it("all tests passed within the latency target scores 100, grade A, five stars", () => {
      const r = Rating.rate({ tests: [result(), result({ critical: true })], latencyClass: "chat" })
      assert.strictEqual(r.score, 100)
      assert.strictEqual(r.grade, "A")
      assert.strictEqual(r.stars, 5)
      assert.strictEqual(r.breakdown.certifyThreshold, 80)
      assert.isTrue(r.breakdown.meetsThreshold)
    })

    it("quality is the weighted pass ratio: weights 2+1 passed of 4 gives 0.75 and score 78.75", () => {
      const r = Rating.rate({
        tests: [result({ weight: 2 }), result(), result({ status: "FAILED", error: quality })],
        latencyClass: "chat"
      })
      assert.strictEqual(r.breakdown.quality, 0.75)
      assert.strictEqual(r.breakdown.latency, 1)
      // 100 × (0.85 × 0.75 + 0.15 × 1)
      assert.strictEqual(r.score, 78.75)
      assert.strictEqual(r.grade, "C")
      assert.strictEqual(r.stars, 4)
    })

    it("SKIPPED and ERRORED tests are excluded from quality and latency", () => {
      const r = Rating.rate({
        tests: [
          result(),
          result({ status: "SKIPPED", latencyMs: null, weight: 5 }),
          result({ status: "ERRORED", error: throttled, latencyMs: 60000, weight: 5 })
        ],
        latencyClass: "chat"
      })
      assert.strictEqual(r.score, 100)
      assert.strictEqual(r.breakdown.counted, 1)
      assert.strictEqual(r.breakdown.excluded, 2)
      assert.strictEqual(r.breakdown.latencySamples, 1)
    })

    it("a FAILED result carrying an environment error counts as ERRORED, not as a model failure", () => {
      const r = Rating.rate({ tests: [result(), result({ status: "FAILED", error: throttled })], latencyClass: "chat" })
      assert.strictEqual(r.breakdown.quality, 1)
      assert.strictEqual(r.breakdown.counted, 1)
    })

    it("no counted test gives quality 1; no latency sample gives latency 1", () => {
      const r = Rating.rate({ tests: [], latencyClass: "reasoning" })
      assert.strictEqual(r.breakdown.quality, 1)
      assert.strictEqual(r.breakdown.latency, 1)
      assert.strictEqual(r.score, 100)
    })

    it("latency credit is log-linear between each class's targets", () => {
      for (const latencyClass of Rating.LatencyClass.literals) {
        for (const kind of ["latency", "ttft"] as const) {
          const { fullMs, zeroMs } = Rating.latencyTargets[latencyClass][kind]
          assert.isBelow(fullMs, zeroMs)
          assert.strictEqual(Rating.latencyCredit(fullMs, { fullMs, zeroMs }), 1)
          assert.strictEqual(Rating.latencyCredit(0, { fullMs, zeroMs }), 1)
          assert.strictEqual(Rating.latencyCredit(zeroMs, { fullMs, zeroMs }), 0)
          assert.strictEqual(Rating.latencyCredit(zeroMs * 10, { fullMs, zeroMs }), 0)
          // The geometric mean of the targets is half-way on a log scale.
          assert.closeTo(Rating.latencyCredit(Math.sqrt(fullMs * zeroMs), { fullMs, zeroMs }), 0.5, 1e-12)
        }
      }
    })

    it("a chat test at the geometric mean of 1500 and 15000 ms earns half the latency share: 92.5", () => {
      const r = Rating.rate({ tests: [result({ latencyMs: Math.sqrt(1500 * 15000) })], latencyClass: "chat" })
      assert.strictEqual(r.score, 92.5)
    })

    it("a streaming test's TTFT is a latency sample of its own", () => {
      const r = Rating.rate({ tests: [result({ latencyMs: 1000, ttftMs: 5000 })], latencyClass: "chat" })
      assert.strictEqual(r.breakdown.latencySamples, 2)
      assert.strictEqual(r.breakdown.latency, 0.5)
      assert.strictEqual(r.score, 92.5)
    })

    it("the latency class picks the targets: 2000 ms is full credit for reasoning, partial for chat", () => {
      const tests = [result({ latencyMs: 2000 })]
      assert.strictEqual(Rating.rate({ tests, latencyClass: "reasoning" }).breakdown.latency, 1)
      assert.isBelow(Rating.rate({ tests, latencyClass: "chat" }).breakdown.latency, 1)
      assert.strictEqual(
        Rating.rate({ tests: [result({ latencyMs: 5000 })], latencyClass: "embedding" }).breakdown.latency,
        0
      )
    })

    it("a negative weight counts as zero, so it can neither reward a failure nor punish a pass", () => {
      const r = Rating.rate({
        tests: [result({ weight: -1 }), result(), result({ status: "FAILED", error: quality })],
        latencyClass: "chat"
      })
      assert.strictEqual(r.breakdown.quality, 0.5)
      assert.strictEqual(r.breakdown.countedWeight, 2)
    })

    it("a custom certify threshold is reported in the breakdown", () => {
      const tests = [result({ status: "FAILED", error: quality })]
      const r = Rating.rate({ tests, latencyClass: "chat", certifyThreshold: 10 })
      assert.strictEqual(r.score, 15)
      assert.strictEqual(r.breakdown.certifyThreshold, 10)
      assert.isTrue(r.breakdown.meetsThreshold)
    })
  })

  describe("decideVerdict: each rule", () => {
    const critical = (overrides: Partial<ConstructorParameters<typeof TestResult>[0]> = {}) =>
      result({ critical: true, ...overrides })
    const cases: ReadonlyArray<{
      readonly name: string
      readonly tests: ReadonlyArray<TestResult>
      readonly score?: number
      readonly threshold?: number
      readonly verdict: Verdict
      /** Index of the deciding test, or null. */
      readonly deciding: number | null
    }> = [
      {
        name: "a) an ERRORED test whose error leads to UNAVAILABLE wins over everything",
        tests: [
          critical({ status: "FAILED", error: quality }),
          result({ status: "ERRORED", error: throttled }),
          critical({ status: "ERRORED", error: accessDenied })
        ],
        verdict: "UNAVAILABLE",
        deciding: 2
      },
      {
        name: "b) a throttled non-critical test makes the unit INCONCLUSIVE, even beside a failed critical test",
        tests: [critical({ status: "FAILED", error: quality }), result({ status: "ERRORED", error: throttled })],
        verdict: "INCONCLUSIVE",
        deciding: 1
      },
      {
        name: "b) a systemic error makes the unit INCONCLUSIVE",
        tests: [critical(), result({ status: "ERRORED", error: credentials })],
        verdict: "INCONCLUSIVE",
        deciding: 1
      },
      {
        name: "b) a critical test ERRORED for any reason (here configuration) makes the unit INCONCLUSIVE",
        tests: [critical({ status: "ERRORED", error: invalidRequest }), result()],
        verdict: "INCONCLUSIVE",
        deciding: 0
      },
      {
        name: "b) an ERRORED test without a recorded error is blamed on the environment",
        tests: [critical(), result({ status: "ERRORED" })],
        verdict: "INCONCLUSIVE",
        deciding: 1
      },
      {
        name: "b) a critical test recorded FAILED with a timeout is not a model failure",
        tests: [critical({ status: "FAILED", error: error("TIMEOUT", "environment", "INCONCLUSIVE") })],
        verdict: "INCONCLUSIVE",
        deciding: 0
      },
      {
        name: "c) a failed critical test is FAILED even with a perfect score",
        tests: [critical(), critical({ status: "FAILED", error: quality }), result({ status: "FAILED" })],
        score: 100,
        verdict: "FAILED",
        deciding: 1
      },
      {
        name: "c) a critical FAILED test without a recorded error is a model failure",
        tests: [critical({ status: "FAILED" })],
        verdict: "FAILED",
        deciding: 0
      },
      {
        name: "d) a unit with no test run is INCONCLUSIVE, never CERTIFIED",
        tests: [],
        verdict: "INCONCLUSIVE",
        deciding: null
      },
      {
        name: "d) a unit whose tests were all skipped is INCONCLUSIVE (its skipped critical test decides)",
        tests: [critical({ status: "SKIPPED" }), result({ status: "SKIPPED" })],
        verdict: "INCONCLUSIVE",
        deciding: 0
      },
      {
        name: "e) nothing measured (only non-critical tests, all skipped) is INCONCLUSIVE",
        tests: [result({ status: "SKIPPED" }), result({ status: "SKIPPED" })],
        verdict: "INCONCLUSIVE",
        deciding: null
      },
      {
        name: "e) a failed non-critical test is a QUALITY_WARNING",
        tests: [critical(), result({ status: "FAILED", error: quality })],
        score: 95,
        verdict: "QUALITY_WARNING",
        deciding: 1
      },
      {
        name: "e) a non-critical test ERRORED by the model is a QUALITY_WARNING",
        tests: [critical(), result({ status: "ERRORED", error: modelError })],
        verdict: "QUALITY_WARNING",
        deciding: 1
      },
      {
        name: "e) a score below the default threshold is a QUALITY_WARNING",
        tests: [critical()],
        score: 79.99,
        verdict: "QUALITY_WARNING",
        deciding: null
      },
      {
        name: "e) a score below a custom threshold is a QUALITY_WARNING",
        tests: [critical()],
        score: 90,
        threshold: 95,
        verdict: "QUALITY_WARNING",
        deciding: null
      },
      {
        name: "f) every critical test passed, score at the threshold, nothing failed: CERTIFIED",
        tests: [critical(), result(), result({ status: "SKIPPED" })],
        score: 80,
        verdict: "CERTIFIED",
        deciding: null
      },
      {
        name: "f) a non-critical configuration error (INVALID_REQUEST) is excluded like SKIPPED: CERTIFIED",
        tests: [critical(), result({ status: "ERRORED", error: invalidRequest })],
        verdict: "CERTIFIED",
        deciding: null
      }
    ]

    for (const c of cases) {
      it(c.name, () => {
        const decision = Rating.decideVerdict({ tests: c.tests, score: c.score ?? 100, certifyThreshold: c.threshold })
        assert.strictEqual(decision.verdict, c.verdict)
        assert.strictEqual(decision.deciding, c.deciding === null ? null : c.tests[c.deciding])
      })
    }

    it("evaluate rates and decides in one step", () => {
      const tests = [result({ critical: true }), result({ status: "FAILED", error: quality, weight: 3 })]
      const e = Rating.evaluate({ tests, latencyClass: "chat" })
      const r = Rating.rate({ tests, latencyClass: "chat" })
      assert.strictEqual(e.score, r.score)
      assert.strictEqual(e.grade, r.grade)
      assert.strictEqual(e.verdict, Rating.decideVerdict({ tests, score: r.score }).verdict)
      assert.strictEqual(e.verdict, "QUALITY_WARNING")
    })
  })

  // -------------------------------------------------------------------------------------------
  // Properties
  // -------------------------------------------------------------------------------------------

  describe("properties", () => {
    const arbError = fc
      .record({
        category: fc.constantFrom(...ErrorCategory.literals),
        blame: fc.constantFrom(...Blame.literals),
        verdict: fc.constantFrom(...verdicts),
        systemic: fc.boolean(),
        retryable: fc.boolean()
      })
      .map((e) => error(e.category, e.blame, e.verdict, e))

    const arbMs = fc.option(fc.double({ min: 0, max: 200_000, noNaN: true }), { nil: null })

    const arbTest = fc
      .record({
        status: fc.constantFrom(...TestStatus.literals),
        critical: fc.boolean(),
        weight: fc.double({ min: -5, max: 10, noNaN: true }),
        latencyMs: arbMs,
        ttftMs: arbMs,
        error: fc.option(arbError, { nil: null })
      })
      .map((t) => result(t))

    const arbTests = fc.array(arbTest, { maxLength: 12 })
    const arbClass = fc.constantFrom(...Rating.LatencyClass.literals)
    const numRuns = 400

    it("the score lies in [0, 100] with at most two decimals; stars are halves in [0, 5]; grade matches", () => {
      fc.assert(
        fc.property(arbTests, arbClass, (tests, latencyClass) => {
          const r = Rating.rate({ tests, latencyClass })
          assert.isAtLeast(r.score, 0)
          assert.isAtMost(r.score, 100)
          assert.isTrue(is2Decimals(r.score), `${r.score}`)
          assert.isTrue(Number.isInteger(r.stars * 2) && r.stars >= 0 && r.stars <= 5, `${r.stars}`)
          assert.strictEqual(r.grade, Rating.gradeOf(r.score))
        }),
        { numRuns }
      )
    })

    it("turning any FAILED test into PASSED never lowers the score", () => {
      fc.assert(
        fc.property(arbTests, arbClass, fc.nat(), (tests, latencyClass, pick) => {
          const failed = tests.flatMap((t, i) => (t.status === "FAILED" ? [i] : []))
          fc.pre(failed.length > 0)
          const i = failed[pick % failed.length]!
          const flipped = tests.map((t, j) => (j === i ? result({ ...t, status: "PASSED" }) : t))
          assert.isAtLeast(
            Rating.rate({ tests: flipped, latencyClass }).score,
            Rating.rate({ tests, latencyClass }).score
          )
        }),
        { numRuns }
      )
    })

    it("increasing any latencyMs or ttftMs never raises the score", () => {
      fc.assert(
        fc.property(
          arbTests,
          arbClass,
          fc.nat(),
          fc.double({ min: 0, max: 100_000, noNaN: true }),
          fc.boolean(),
          (tests, latencyClass, pick, delta, ttft) => {
            fc.pre(tests.length > 0)
            const i = pick % tests.length
            const t = tests[i]!
            const slower = result(
              ttft
                ? { ...t, ttftMs: t.ttftMs === null ? null : t.ttftMs + delta }
                : { ...t, latencyMs: t.latencyMs === null ? null : t.latencyMs + delta }
            )
            const slowerTests = tests.map((x, j) => (j === i ? slower : x))
            assert.isAtMost(
              Rating.rate({ tests: slowerTests, latencyClass }).score,
              Rating.rate({ tests, latencyClass }).score
            )
          }
        ),
        { numRuns }
      )
    })

    it("a failed critical test never yields CERTIFIED or QUALITY_WARNING", () => {
      fc.assert(
        fc.property(arbTests, arbTest, fc.nat(), arbClass, (tests, extra, at, latencyClass) => {
          const failedCritical = result({ ...extra, status: "FAILED", critical: true })
          const cut = at % (tests.length + 1)
          const all = [...tests.slice(0, cut), failedCritical, ...tests.slice(cut)]
          const { verdict } = Rating.evaluate({ tests: all, latencyClass })
          assert.include(["FAILED", "INCONCLUSIVE", "UNAVAILABLE"], verdict)
        }),
        { numRuns }
      )
    })

    it("a unit whose only failures are throttling, timeouts, 5xx or network errors is never FAILED", () => {
      const environmental = fc
        .constantFrom("THROTTLED", "TIMEOUT", "SERVICE_UNAVAILABLE", "NETWORK")
        .map((category) => error(category, "environment", "INCONCLUSIVE", { retryable: true }))
      const arbEnvTest = fc.oneof(
        arbTest.filter((t) => t.status === "PASSED" || t.status === "SKIPPED"),
        fc
          .record({
            status: fc.constantFrom("FAILED" as const, "ERRORED" as const),
            critical: fc.boolean(),
            error: environmental,
            latencyMs: arbMs
          })
          .map((t) => result(t))
      )
      fc.assert(
        fc.property(fc.array(arbEnvTest, { maxLength: 12 }), arbClass, (tests, latencyClass) => {
          const { verdict } = Rating.evaluate({ tests, latencyClass })
          assert.notStrictEqual(verdict, "FAILED")
          if (tests.some((t) => t.status === "FAILED" || t.status === "ERRORED")) {
            assert.strictEqual(verdict, "INCONCLUSIVE")
          }
        }),
        { numRuns }
      )
    })

    it("CERTIFIED means every critical test passed, the model failed nothing and the score met the threshold", () => {
      fc.assert(
        fc.property(arbTests, arbClass, fc.integer({ min: 0, max: 100 }), (tests, latencyClass, certifyThreshold) => {
          const e = Rating.evaluate({ tests, latencyClass, certifyThreshold })
          if (e.verdict === "CERTIFIED") {
            assert.isAtLeast(e.score, certifyThreshold)
            // "Failed" by the model: a FAILED record blamed on configuration counts as ERRORED and is excluded.
            assert.isFalse(tests.some((t) => Rating.effectiveStatus(t) === "FAILED"))
            assert.isTrue(
              tests.filter((t) => t.critical).every((t) => t.status === "PASSED" || t.status === "SKIPPED")
            )
            assert.isTrue(tests.some((t) => t.status === "PASSED"))
          }
        }),
        { numRuns }
      )
    })
  })
})

describe("verdict: every critical test must run", () => {
  it("a skipped critical test makes the unit INCONCLUSIVE even with a perfect score", () => {
    const tests = [
      new TestResult({
        id: "connectivity", name: "c", status: "PASSED", critical: true, weight: 1, latencyMs: 100, ttftMs: null,
        outputTokensPerSecond: null, attempts: 1, detail: null, error: null
      }),
      new TestResult({
        id: "instruction", name: "i", status: "SKIPPED", critical: true, weight: 2, latencyMs: null, ttftMs: null,
        outputTokensPerSecond: null, attempts: 0, detail: "not run", error: null
      })
    ]
    const decision = Rating.evaluate({ tests, latencyClass: "chat" })
    assert.strictEqual(decision.score, 100)
    assert.strictEqual(decision.verdict, "INCONCLUSIVE")
    assert.strictEqual(decision.deciding?.id, "instruction")
  })
})
