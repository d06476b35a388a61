import { assert, describe, it } from "@effect/vitest"
import { Queue } from "@myia/certification"
import type { Domain } from "@myia/certification"
import { Fixtures } from "@myia/certification/testing"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { MemoryQueue } from "../src/index.ts"

const east = "us-east-1" as Domain.Region
const west = "us-west-2" as Domain.Region

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
  it.effect("the per-region concurrency limit holds across two consumers of one queue", () =>
    Effect.gen(function*() {
      const queue = yield* MemoryQueue.make({ regionLimits: { [east]: { concurrency: 2, ratePerSecond: 1000 } } })
      const inFlight = new Map<string, number>()
      const max = new Map<string, number>()
      let done = 0
      const handler = (d: Queue.Delivery) =>
        Effect.sync(() => {
          const n = (inFlight.get(d.message.region) ?? 0) + 1
          inFlight.set(d.message.region, n)
          max.set(d.message.region, Math.max(max.get(d.message.region) ?? 0, n))
        }).pipe(
          Effect.andThen(Effect.sleep("1 second")),
          Effect.ensuring(Effect.sync(() => {
            inFlight.set(d.message.region, inFlight.get(d.message.region)! - 1)
            done++
          })),
          Effect.as(Queue.Done)
        )
      yield* queue.enqueue([...messages(8, east), ...messages(4, west)])
      yield* queue.consume({ concurrency: 5, handler, onDeadLetter: () => Effect.void })
      yield* queue.consume({ concurrency: 5, handler, onDeadLetter: () => Effect.void })
      yield* settle
      // The start rate (1 per millisecond) lets the second east unit start a millisecond later.
      yield* TestClock.adjust("10 millis")
      yield* settle
      // West has no limit: all four start at once beside east's two.
      assert.strictEqual(inFlight.get(east), 2)
      assert.strictEqual(inFlight.get(west), 4)
      for (let i = 0; i < 6 && done < 12; i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      assert.strictEqual(done, 12)
      assert.strictEqual(max.get(east), 2)
    }))

  it.effect("the per-region start rate spaces unit starts by 1 / ratePerSecond", () =>
    Effect.gen(function*() {
      const queue = yield* MemoryQueue.make({ defaultRegionLimit: { concurrency: 100, ratePerSecond: 2 } })
      let started = 0
      yield* queue.enqueue(messages(5, east))
      yield* queue.consume({
        concurrency: 10,
        handler: () => Effect.sync(() => started++).pipe(Effect.as(Queue.Done)),
        onDeadLetter: () => Effect.void
      })
      yield* settle
      assert.strictEqual(started, 1)
      yield* TestClock.adjust("499 millis")
      yield* settle
      assert.strictEqual(started, 1)
      yield* TestClock.adjust("1 millis")
      yield* settle
      assert.strictEqual(started, 2)
      yield* TestClock.adjust("1500 millis")
      yield* settle
      assert.strictEqual(started, 5)
    }))

  it.effect("a unit is dead-lettered after maxAttempts failures and kept as failed with its last error", () =>
    Effect.gen(function*() {
      const queue = yield* MemoryQueue.make({ maxAttempts: 2, retryBackoff: () => "1 second" })
      const dead: Array<[string, number]> = []
      yield* queue.enqueue(messages(1, east))
      yield* queue.consume({
        concurrency: 1,
        handler: (d) => Effect.fail(`attempt ${d.attempt} failed`),
        onDeadLetter: (_, lastError, attempts) => Effect.sync(() => dead.push([lastError, attempts]))
      })
      yield* settle
      assert.strictEqual((yield* queue.counts).delayed, 1)
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.deepStrictEqual(dead, [["attempt 2 failed", 2]])
      assert.deepStrictEqual(yield* queue.counts, { waiting: 0, active: 0, delayed: 0, failed: 1 })
    }))

  it.effect("a retry that does not count as a failure never dead-letters", () =>
    Effect.gen(function*() {
      const queue = yield* MemoryQueue.make({ maxAttempts: 1 })
      const attempts: Array<number> = []
      yield* queue.enqueue(messages(1, east))
      yield* queue.consume({
        concurrency: 1,
        handler: (d) =>
          Effect.sync(() => attempts.push(d.attempt)).pipe(Effect.as(
            d.attempt < 3 ? Queue.Retry({ delayMillis: 100, countsAsFailure: false, reason: "throttled" }) : Queue.Done
          )),
        onDeadLetter: () => Effect.die("must not dead-letter")
      })
      yield* settle
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust("100 millis")
        yield* settle
      }
      assert.deepStrictEqual(attempts, [1, 2, 3])
      assert.deepStrictEqual(yield* queue.counts, { waiting: 0, active: 0, delayed: 0, failed: 0 })
    }))
})
