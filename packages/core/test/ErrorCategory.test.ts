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
      it(`${category}: matches the intended retryable/blame/verdict/systemic and has an actionable hint`, () => {
        const row = ErrorCategory.describe(category)
        assert.strictEqual(row.category, category)
        assert.deepStrictEqual(
          { retryable: row.retryable, blame: row.blame, verdict: row.verdict, systemic: row.systemic },
          intended[category]
        )
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
