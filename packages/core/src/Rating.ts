/**
 * The rating calculator and the verdict decision: pure functions from a unit's test results to a
 * score, grade, stars and verdict.
 *
 * **Formula** (`rate`)
 *
 * 1. *Effective status.* A test recorded FAILED counts with the status its error implies
 *    (`ErrorCategory.testStatusOf`, the rule the Runner records with): an error not blamed on the model
 *    (throttling, timeouts, 5xx, network, configuration) or a systemic one makes it ERRORED — only the
 *    model can fail a test.
 * 2. *Quality.* SKIPPED and ERRORED tests are excluded. With `w(t) = max(0, t.weight)`:
 *    `quality = Σ w(PASSED) / Σ w(PASSED or FAILED)`, and `1` when that sum is 0.
 * 3. *Latency.* Every test recorded PASSED or FAILED (by its recorded status, so a result flipping
 *    from FAILED to PASSED never changes which samples count) contributes its `latencyMs`, and its
 *    `ttftMs` when streaming, as samples. Each sample `x` earns a credit against its class target
 *    `(full, zero)`: `1` when `x ≤ full`, `0` when `x ≥ zero`, else log-linear
 *    `(ln zero − ln x) / (ln zero − ln full)`. `latency` = the mean credit, `1` with no samples.
 *    Targets (ms): chat 1500/15000 (TTFT 500/5000), reasoning 5000/60000 (TTFT 2000/20000),
 *    embedding 300/5000.
 * 4. `score = round2(100 × (0.85 × quality + 0.15 × latency))`, in [0, 100].
 * 5. `grade`: A ≥ 90, B ≥ 80, C ≥ 70, D ≥ 60, F below. `stars = round(score / 10) / 2` (0–5 in halves).
 *
 * Hence: the score is bounded, a FAILED test turning PASSED never lowers it (the quality ratio can
 * only grow, the latency samples do not change) and a slower run never raises it (each credit is
 * non-increasing in its sample).
 *
 * **Verdict** (`decideVerdict`), first matching rule wins:
 *
 * a. a test ERRORED with an error whose verdict is UNAVAILABLE → UNAVAILABLE;
 * b. a test ERRORED with a systemic error, an error blamed on the environment, or no error at all,
 *    or any critical test ERRORED → INCONCLUSIVE (throttling, timeouts and 5xx are never a model failure);
 * c. a critical test FAILED → FAILED;
 * d. a critical test SKIPPED (never run) → INCONCLUSIVE: CERTIFIED requires every critical test to pass;
 * e. no test PASSED or FAILED (nothing measured) → INCONCLUSIVE;
 * f. a non-critical test FAILED or ERRORED by the model, or the score below the threshold → QUALITY_WARNING;
 * g. otherwise → CERTIFIED.
 *
 * A non-critical test ERRORED with blame "configuration" (e.g. INVALID_REQUEST: the registry's
 * metadata is wrong) is excluded like SKIPPED; it becomes a finding, not a failure.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { TestResult, TestStatus, Verdict } from "./Domain.ts"
import * as ErrorCategory from "./ErrorCategory.ts"

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** A letter grade. */
export const Grade = Schema.Literals(["A", "B", "C", "D", "F"])
export type Grade = typeof Grade.Type

/** Which latency targets a model is held to. */
export const LatencyClass = Schema.Literals(["chat", "reasoning", "embedding"])
export type LatencyClass = typeof LatencyClass.Type

/** Full credit at or below `fullMs`, none at or above `zeroMs`, log-linear between. */
export interface LatencyTarget {
  readonly fullMs: number
  readonly zeroMs: number
}

/** What `rate` needs. */
export interface RatingInput {
  readonly tests: ReadonlyArray<TestResult>
  readonly latencyClass: LatencyClass
  /** Minimum score for CERTIFIED; default 80. */
  readonly certifyThreshold?: number | undefined
}

/** How a score was reached, for reports and for explaining a verdict. */
export interface RatingBreakdown {
  /** Weighted pass ratio of the counted tests, 0–1. */
  readonly quality: number
  /** Mean latency credit, 0–1. */
  readonly latency: number
  readonly qualityWeight: number
  readonly latencyWeight: number
  /** Tests that counted towards quality (effectively PASSED or FAILED). */
  readonly counted: number
  /** Tests excluded from quality (SKIPPED or effectively ERRORED). */
  readonly excluded: number
  readonly passedWeight: number
  readonly countedWeight: number
  /** Latency samples used (latencies plus TTFTs). */
  readonly latencySamples: number
  readonly certifyThreshold: number
  readonly meetsThreshold: boolean
}

/** The result of `rate`. */
export interface Rating {
  /** 0–100, two decimals. */
  readonly score: number
  readonly grade: Grade
  /** 0–5 in halves. */
  readonly stars: number
  readonly breakdown: RatingBreakdown
}

/** What `decideVerdict` needs. */
export interface VerdictInput {
  readonly tests: ReadonlyArray<TestResult>
  readonly score: number
  /** Minimum score for CERTIFIED; default 80. */
  readonly certifyThreshold?: number | undefined
}

/** A verdict and the test that decided it (null when the score, or nothing in particular, decided). */
export interface VerdictDecision {
  readonly verdict: Verdict
  readonly deciding: TestResult | null
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/**
 * The default minimum score for CERTIFIED — the one default: the certification service records its
 * threshold on each job, and the Runner takes the unit's.
 */
export const defaultCertifyThreshold = 80

/** The share of quality and latency in the score. */
export const componentWeights = { quality: 0.85, latency: 0.15 } as const

/** Latency targets per class, for whole-call latency and for time to first token. */
export const latencyTargets: {
  readonly [C in LatencyClass]: { readonly latency: LatencyTarget; readonly ttft: LatencyTarget }
} = {
  chat: { latency: { fullMs: 1500, zeroMs: 15000 }, ttft: { fullMs: 500, zeroMs: 5000 } },
  reasoning: { latency: { fullMs: 5000, zeroMs: 60000 }, ttft: { fullMs: 2000, zeroMs: 20000 } },
  embedding: { latency: { fullMs: 300, zeroMs: 5000 }, ttft: { fullMs: 300, zeroMs: 5000 } }
}

/** Minimum score per grade, best first; the first grade whose minimum the score reaches is taken. */
export const gradeThresholds: ReadonlyArray<readonly [Grade, number]> = [
  ["A", 90],
  ["B", 80],
  ["C", 70],
  ["D", 60],
  ["F", Number.NEGATIVE_INFINITY]
]

// ---------------------------------------------------------------------------------------------
// Rating
// ---------------------------------------------------------------------------------------------

/**
 * The status a test counts as: FAILED only when the model is to blame. A FAILED result carrying an
 * error blamed on the environment or configuration, or a systemic one, counts as ERRORED
 * (`ErrorCategory.testStatusOf`).
 */
export const effectiveStatus = (test: TestResult): TestStatus =>
  test.status === "FAILED" && test.error !== null ? ErrorCategory.testStatusOf(test.error) : test.status

/** Credit for one latency sample: 1 at or below `fullMs`, 0 at or above `zeroMs`, log-linear between. */
export const latencyCredit = (ms: number, target: LatencyTarget): number =>
  ms <= target.fullMs
    ? 1
    : ms >= target.zeroMs
    ? 0
    : (Math.log(target.zeroMs) - Math.log(ms)) / (Math.log(target.zeroMs) - Math.log(target.fullMs))

/** Rounds to two decimals. */
const round2 = (n: number): number => Math.round(n * 100) / 100

/** The grade of a score. */
export const gradeOf = (score: number): Grade => gradeThresholds.find(([, min]) => score >= min)![0]

/** The stars of a score: 0–5 in halves. */
export const starsOf = (score: number): number => Math.round(score / 10) / 2

const weightOf = (test: TestResult): number => Math.max(0, test.weight)

/** Scores a unit's test results; the formula is in the module doc. */
export const rate = (input: RatingInput): Rating => {
  const certifyThreshold = input.certifyThreshold ?? defaultCertifyThreshold
  const targets = latencyTargets[input.latencyClass]

  let counted = 0
  let passedWeight = 0
  let countedWeight = 0
  const credits: Array<number> = []
  for (const test of input.tests) {
    const status = effectiveStatus(test)
    if (status === "PASSED" || status === "FAILED") {
      counted++
      countedWeight += weightOf(test)
      if (status === "PASSED") passedWeight += weightOf(test)
    }
    if (test.status === "PASSED" || test.status === "FAILED") {
      if (test.latencyMs !== null) credits.push(latencyCredit(test.latencyMs, targets.latency))
      if (test.ttftMs !== null) credits.push(latencyCredit(test.ttftMs, targets.ttft))
    }
  }

  const quality = countedWeight > 0 ? passedWeight / countedWeight : 1
  const latency = credits.length > 0 ? credits.reduce((a, b) => a + b, 0) / credits.length : 1
  const raw = 100 * (componentWeights.quality * quality + componentWeights.latency * latency)
  const score = Math.min(100, Math.max(0, round2(raw)))

  return {
    score,
    grade: gradeOf(score),
    stars: starsOf(score),
    breakdown: {
      quality,
      latency,
      qualityWeight: componentWeights.quality,
      latencyWeight: componentWeights.latency,
      counted,
      excluded: input.tests.length - counted,
      passedWeight,
      countedWeight,
      latencySamples: credits.length,
      certifyThreshold,
      meetsThreshold: score >= certifyThreshold
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Verdict
// ---------------------------------------------------------------------------------------------

const isErrored = (test: TestResult): boolean => effectiveStatus(test) === "ERRORED"

/** An ERRORED test the environment is to blame for (no error recorded counts as environment). */
const isEnvironmentErrored = (test: TestResult): boolean =>
  isErrored(test) && (test.error === null || test.error.systemic || test.error.blame === "environment")

/**
 * The verdict rules, in order; the first whose `match` finds a test (or, for rules over the whole
 * unit, holds) decides. See the module doc.
 */
const verdictRules: ReadonlyArray<{
  readonly verdict: Verdict
  readonly test?: (test: TestResult) => boolean
  readonly unit?: (tests: ReadonlyArray<TestResult>, meetsThreshold: boolean) => boolean
}> = [
  { verdict: "UNAVAILABLE", test: (t) => isErrored(t) && t.error?.verdict === "UNAVAILABLE" },
  { verdict: "INCONCLUSIVE", test: (t) => isEnvironmentErrored(t) || (t.critical && isErrored(t)) },
  { verdict: "FAILED", test: (t) => t.critical && effectiveStatus(t) === "FAILED" },
  // Every critical test must have run: a skipped critical test can never end CERTIFIED.
  { verdict: "INCONCLUSIVE", test: (t) => t.critical && effectiveStatus(t) === "SKIPPED" },
  {
    verdict: "INCONCLUSIVE",
    unit: (tests) => !tests.some((t) => effectiveStatus(t) === "PASSED" || effectiveStatus(t) === "FAILED")
  },
  {
    verdict: "QUALITY_WARNING",
    test: (t) => effectiveStatus(t) === "FAILED" || (isErrored(t) && t.error?.blame === "model")
  },
  { verdict: "QUALITY_WARNING", unit: (_, meetsThreshold) => !meetsThreshold },
  { verdict: "CERTIFIED", unit: () => true }
]

/** Decides a unit's verdict from its test results and score; the rules are in the module doc. */
export const decideVerdict = (input: VerdictInput): VerdictDecision => {
  const meetsThreshold = input.score >= (input.certifyThreshold ?? defaultCertifyThreshold)
  for (const rule of verdictRules) {
    if (rule.test !== undefined) {
      const deciding = input.tests.find(rule.test)
      if (deciding !== undefined) return { verdict: rule.verdict, deciding }
    } else if (rule.unit !== undefined && rule.unit(input.tests, meetsThreshold)) {
      return { verdict: rule.verdict, deciding: null }
    }
  }
  return { verdict: "CERTIFIED", deciding: null }
}

/** Rates a unit and decides its verdict in one step. */
export const evaluate = (input: RatingInput): Rating & VerdictDecision => {
  const rating = rate(input)
  const decision = decideVerdict({ tests: input.tests, score: rating.score, certifyThreshold: input.certifyThreshold })
  return { ...rating, ...decision }
}
