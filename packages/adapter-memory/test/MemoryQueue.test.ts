/**
 * What only the in-memory queue promises beyond `QueueTest.suite`: its waits are `Clock` timers (so
 * `TestClock` drives them exactly), and its options map onto core's `RedeliveryPolicy`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Queue, RedeliveryPolicy } from "@myia/certification"
import type { Domain } from "@myia/certification"
import { Fixtures } from "@myia/certification/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import { TestClock } from "effect/testing"
import { MemoryQueue } from "../src/index.ts"

const east = "us-east-1" as Domain.Region

const messages = (n: number, region: Domain.Region) => {
  const jobId = Fixtures.makeJobId()
  return Array.from({ length: n }, () =>
    new Queue.UnitMessage({ unitId: Fixtures.makeUnitId(), jobId, modelId: Fixtures.makeModelId(), region }))
}

/** Let forked fibers run after a clock move. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("MemoryQueue", () => {
  it.effect("a failed unit comes back exactly when the clock reaches the policy's delay for that failure", () =>
    Effect.gen(function*() {
      const queue = yield* MemoryQueue.make({ redelivery: { maxAttempts: 3, backoff: Schedule.exponential("1 second") } })
      const attempts: Array<number> = []
      const dead: Array<number> = []
      yield* queue.enqueue(messages(1, east))
      yield* queue.consume({
        concurrency: 1,
        handler: (d) => Effect.sync(() => attempts.push(d.attempt)).pipe(Effect.andThen(Effect.fail("boom"))),
        onDeadLetter: (_, __, n) => Effect.sync(() => dead.push(n))
      })
      yield* settle
      assert.deepStrictEqual(attempts, [1])
      // After failure 1 the wait is 1 s; after failure 2 it is 2 s.
      for (const [wait, expected] of [[999, [1]], [1, [1, 2]], [1999, [1, 2]], [1, [1, 2, 3]]] as const) {
        yield* TestClock.adjust(`${wait} millis`)
        yield* settle
        assert.deepStrictEqual(attempts, [...expected], `after +${wait} ms`)
      }
      assert.deepStrictEqual(dead, [3])
      assert.deepStrictEqual(yield* queue.counts, { waiting: 0, active: 0, delayed: 0, failed: 1 })
    }))

  it.effect("the options map onto the policy the queue reports; maxAttempts is a shorthand that wins", () =>
    Effect.gen(function*() {
      const defaults = yield* MemoryQueue.make()
      assert.strictEqual(defaults.redelivery.maxAttempts, RedeliveryPolicy.defaultPolicy.maxAttempts)
      assert.strictEqual(defaults.redelivery.maxStarts, RedeliveryPolicy.defaultPolicy.maxStarts)
      const custom = yield* MemoryQueue.make({ redelivery: { maxAttempts: 5, maxStarts: 9 }, maxAttempts: 2 })
      assert.deepStrictEqual([custom.redelivery.maxAttempts, custom.redelivery.maxStarts], [2, 9])
      const exit = yield* Effect.exit(MemoryQueue.make({ maxAttempts: 0 }))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(error, RedeliveryPolicy.InvalidRedeliveryPolicy)
      assert.strictEqual((error as RedeliveryPolicy.InvalidRedeliveryPolicy).field, "maxAttempts")
    }))
})
