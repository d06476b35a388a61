import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as RedeliveryPolicy from "../src/RedeliveryPolicy.ts"

const millis = (policy: RedeliveryPolicy.RedeliveryPolicy, n: number) =>
  Effect.map(RedeliveryPolicy.delay(policy, n), Duration.toMillis)

describe("RedeliveryPolicy", () => {
  it("defaults: 3 counted failures, 20 starts per failure allowed, maxStarts derived from maxAttempts", () => {
    assert.strictEqual(RedeliveryPolicy.defaultPolicy.maxAttempts, 3)
    assert.strictEqual(RedeliveryPolicy.defaultPolicy.maxStarts, 60)
    const five = RedeliveryPolicy.make({ maxAttempts: 5 })
    assert.deepStrictEqual([five.maxAttempts, five.maxStarts], [5, 100])
    const explicit = RedeliveryPolicy.make({ maxAttempts: 2, maxStarts: 2 })
    assert.deepStrictEqual([explicit.maxAttempts, explicit.maxStarts], [2, 2])
  })

  it("a bound that cannot be obeyed is refused, naming the field and why", () => {
    const rows: ReadonlyArray<readonly [RedeliveryPolicy.Options, field: string, why: RegExp]> = [
      [{ maxAttempts: 0 }, "maxAttempts", /at least 1, got 0/],
      [{ maxAttempts: 1.5 }, "maxAttempts", /whole number/],
      [{ maxAttempts: Number.NaN }, "maxAttempts", /got NaN/],
      [{ maxStarts: 0 }, "maxStarts", /at least maxAttempts \(3\), got 0/],
      [{ maxAttempts: 4, maxStarts: 3 }, "maxStarts", /at least maxAttempts \(4\), got 3/],
      [{ maxStarts: Infinity }, "maxStarts", /got Infinity/],
      [{ backoff: "1 second" as unknown as Schedule.Schedule<unknown> }, "backoff", /Schedule/]
    ]
    for (const [options, field, why] of rows) {
      let thrown: unknown
      try {
        RedeliveryPolicy.make(options)
      } catch (error) {
        thrown = error
      }
      assert.instanceOf(thrown, RedeliveryPolicy.InvalidRedeliveryPolicy, JSON.stringify(options))
      const error = thrown as RedeliveryPolicy.InvalidRedeliveryPolicy
      assert.strictEqual(error.field, field)
      assert.match(error.message, why)
    }
  })

  it("spent: failures reach maxAttempts or starts reach maxStarts, and says which", () => {
    const policy = RedeliveryPolicy.make({ maxAttempts: 2, maxStarts: 4 })
    assert.isUndefined(RedeliveryPolicy.spent(policy, { attempt: 3, failures: 1 }))
    assert.match(RedeliveryPolicy.spent(policy, { attempt: 2, failures: 2 })!, /failed 2 times \(maxAttempts 2\)/)
    assert.match(RedeliveryPolicy.spent(policy, { attempt: 4, failures: 0 })!, /started 4 times \(maxStarts 4\)/)
  })

  it("canRetry: a counted retry spends a failure, an uncounted one only the start", () => {
    const policy = RedeliveryPolicy.make({ maxAttempts: 2, maxStarts: 4 })
    // Start 2 after one failure: one more failure spends the budget; an uncounted wait does not.
    assert.isFalse(RedeliveryPolicy.canRetry(policy, { attempt: 2, failures: 1 }, true))
    assert.isTrue(RedeliveryPolicy.canRetry(policy, { attempt: 2, failures: 1 }, false))
    // Start 4 is the last: no retry of either kind.
    assert.isFalse(RedeliveryPolicy.canRetry(policy, { attempt: 4, failures: 0 }, false))
    assert.isTrue(RedeliveryPolicy.canRetry(policy, { attempt: 3, failures: 0 }, false))
  })

  it.effect("delay n is step n of the schedule; a schedule that ends keeps its last delay", () =>
    Effect.gen(function*() {
      const doubling = RedeliveryPolicy.make({ backoff: Schedule.exponential("100 millis") })
      assert.deepStrictEqual(
        [yield* millis(doubling, 1), yield* millis(doubling, 2), yield* millis(doubling, 3), yield* millis(doubling, 4)],
        [100, 200, 400, 800]
      )
      // n below 1 reads as the first step.
      assert.strictEqual(yield* millis(doubling, 0), 100)
      const finite = RedeliveryPolicy.make({
        backoff: Schedule.exponential("100 millis").pipe(Schedule.upTo({ times: 2 }))
      })
      assert.deepStrictEqual([yield* millis(finite, 2), yield* millis(finite, 3), yield* millis(finite, 9)], [200, 200, 200])
    }))

  it.effect("retryDelay backs off on failures for a counted retry and on starts for an uncounted one", () =>
    Effect.gen(function*() {
      const policy = RedeliveryPolicy.make({ backoff: Schedule.exponential("100 millis") })
      const counters = { attempt: 4, failures: 1 }
      assert.strictEqual(Duration.toMillis(yield* RedeliveryPolicy.retryDelay(policy, counters, true)), 200)
      assert.strictEqual(Duration.toMillis(yield* RedeliveryPolicy.retryDelay(policy, counters, false)), 800)
    }))

  it.effect.prop(
    "exponentialBackoff stays within [0.8, 1.2] of min(base · 2^(n−1), max)",
    { n: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 40 })) },
    ({ n }) =>
      Effect.gen(function*() {
        const policy = RedeliveryPolicy.make({ backoff: RedeliveryPolicy.exponentialBackoff({ base: "1 second", max: "1 minute" }) })
        const full = Math.min(60_000, 1000 * 2 ** (n - 1))
        const got = yield* millis(policy, n)
        assert.isAtLeast(got, full * 0.8 - 1e-6)
        assert.isAtMost(got, full * 1.2 + 1e-6)
      })
  )

  it.effect("the default backoff grows from about 1 s to about 1 min and varies between units", () =>
    Effect.gen(function*() {
      const first = yield* millis(RedeliveryPolicy.defaultPolicy, 1)
      const late = yield* millis(RedeliveryPolicy.defaultPolicy, 30)
      assert.isTrue(first >= 800 && first <= 1200, `${first}`)
      assert.isTrue(late >= 48_000 && late <= 72_000, `${late}`)
      const samples = new Set<number>()
      for (let i = 0; i < 20; i++) samples.add(yield* millis(RedeliveryPolicy.defaultPolicy, 3))
      assert.isAbove(samples.size, 1, "jitter spreads units that wait together")
    }))
})
