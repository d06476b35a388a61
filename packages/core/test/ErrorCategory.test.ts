import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as Domain from "../src/Domain.ts"
import * as ErrorCategory from "../src/ErrorCategory.ts"
import { intended } from "./fixtures/intended-categories.ts"

const encode = Schema.encodeSync(Domain.CategorizedError)
const decode = Schema.decodeUnknownSync(Domain.CategorizedError)

describe("ErrorCategory", () => {
  it("has exactly one row per Domain.ErrorCategory literal", () => {
    assert.deepStrictEqual([...ErrorCategory.categories].sort(), [...Domain.ErrorCategory.literals].sort())
    assert.deepStrictEqual(Object.keys(ErrorCategory.table).sort(), [...Domain.ErrorCategory.literals].sort())
  })

  describe("every row", () => {
    for (const category of Domain.ErrorCategory.literals) {
      it(`${category}: matches the intended blame/verdict/systemic/signal/handling and has an actionable hint`, () => {
        const row = ErrorCategory.describe(category)
        assert.strictEqual(row.category, category)
        assert.deepStrictEqual(
          {
            retryable: row.retryable,
            blame: row.blame,
            verdict: row.verdict,
            systemic: row.systemic,
            signal: row.signal,
            handling: row.handling
          },
          intended[category]
        )
        assert.strictEqual(ErrorCategory.signalOf(category), row.signal)
        assert.strictEqual(row.testStatus, ErrorCategory.testStatusOf(ErrorCategory.make(category, { message: "m" })))
        assert.isTrue(row.hint.trim().length >= 20, `hint of ${category} is too short to act on`)
        assert.notInclude(row.hint, "\n")
        assert.strictEqual(ErrorCategory.isRetryable(category), row.retryable)
        assert.strictEqual(ErrorCategory.isSystemic(category), row.systemic)
      })
    }
  })

  it("never blames the model for an environment problem, nor the environment with FAILED", () => {
    for (const row of Object.values(ErrorCategory.table)) {
      if (row.blame === "environment") {
        assert.notStrictEqual(row.verdict, "FAILED", row.category)
        assert.notStrictEqual(row.verdict, "QUALITY_WARNING", row.category)
      }
      if (row.verdict === "FAILED") assert.strictEqual(row.blame, "model", row.category)
      if (row.verdict === "UNAVAILABLE") assert.isFalse(row.retryable, row.category)
      // Only a systemic category may stop the job, and a systemic error is never retried per unit.
      if (row.systemic) assert.isFalse(row.retryable, row.category)
    }
  })

  it("keeps retries, signals and test status consistent with blame", () => {
    for (const row of Object.values(ErrorCategory.table)) {
      // A retry can help exactly when the runner runs the test again.
      assert.strictEqual(row.retryable, row.handling !== "finish", row.category)
      // Only the environment slows a region down or opens its breaker; every retried environment
      // error does one of the two, and what is waited out is what the region pushed back with.
      const slows = row.signal === "throttle" || row.signal === "failure"
      if (slows) assert.strictEqual(row.blame, "environment", row.category)
      if (row.blame === "environment" && row.retryable) assert.isTrue(slows, row.category)
      if (row.handling === "wait") assert.strictEqual(row.signal, "throttle", row.category)
      // Any answer of the model, right or wrong, proves the region answered.
      if (row.blame === "model") assert.strictEqual(row.signal, "success", row.category)
      // Only the model fails a test.
      assert.strictEqual(row.testStatus, row.blame === "model" && !row.systemic ? "FAILED" : "ERRORED", row.category)
    }
    assert.strictEqual(ErrorCategory.signalOf(null), "success")
  })

  it("testStatusOf: FAILED only for a non-systemic error blamed on the model", () => {
    const rows = [
      { blame: "model", systemic: false, status: "FAILED" },
      { blame: "model", systemic: true, status: "ERRORED" },
      { blame: "environment", systemic: false, status: "ERRORED" },
      { blame: "configuration", systemic: false, status: "ERRORED" },
      { blame: "configuration", systemic: true, status: "ERRORED" }
    ] as const
    for (const row of rows) assert.strictEqual(ErrorCategory.testStatusOf(row), row.status, JSON.stringify(row))
  })

  it("marks only CREDENTIALS as systemic", () => {
    const systemic = Object.values(ErrorCategory.table).filter((row) => row.systemic).map((row) => row.category)
    assert.deepStrictEqual(systemic, ["CREDENTIALS"])
  })

  it("gives the ACCESS_DENIED hint that points to Model access and IAM", () => {
    const hint = ErrorCategory.describe("ACCESS_DENIED").hint
    assert.include(hint, "Model access")
    assert.include(hint, "bedrock:InvokeModel")
  })

  it("make copies the row and the original details, and the result round-trips through its schema", () => {
    for (const category of Domain.ErrorCategory.literals) {
      const error = ErrorCategory.make(category, {
        message: `m-${category}`,
        awsErrorName: "SomeException",
        httpStatus: 418,
        requestId: `req-${category}`
      })
      const row = ErrorCategory.describe(category)
      assert.strictEqual(error.category, category)
      assert.strictEqual(error.retryable, row.retryable)
      assert.strictEqual(error.blame, row.blame)
      assert.strictEqual(error.verdict, row.verdict)
      assert.strictEqual(error.systemic, row.systemic)
      assert.strictEqual(error.hint, row.hint)
      assert.strictEqual(error.message, `m-${category}`)
      assert.strictEqual(error.awsErrorName, "SomeException")
      assert.strictEqual(error.httpStatus, 418)
      assert.strictEqual(error.requestId, `req-${category}`)
      assert.deepStrictEqual(decode(encode(error)), error)
    }
  })

  it("make stores absent details as null", () => {
    const error = ErrorCategory.make("UNKNOWN", { message: "x" })
    assert.isNull(error.awsErrorName)
    assert.isNull(error.httpStatus)
    assert.isNull(error.requestId)
  })
})
