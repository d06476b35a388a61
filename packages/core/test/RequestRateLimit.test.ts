import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import { Region } from "../src/Region.ts"
import * as RequestRateLimit from "../src/RequestRateLimit.ts"

const east = Region.make("us-east-1")
const west = Region.make("us-west-2")

describe("RequestRateLimit (in-process)", () => {
  it.effect("paces a region's requests evenly, 1/rate apart (never more than `rate` in any 1 s window), and leaves other regions alone", () =>
    Effect.gen(function*() {
      const limiter = RequestRateLimit.make({ "us-east-1": 5 })
      const admitted: Array<number> = []
      const fibers = yield* Effect.forEach(
        Array.from({ length: 12 }),
        () =>
          Effect.forkChild(
            Effect.andThen(limiter.take(east), Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => admitted.push(t))))
          )
      )
      yield* Effect.yieldNow
      assert.strictEqual(admitted.length, 1, "no burst: one request now, the next 200 ms later")
      for (let i = 0; i < 12; i++) yield* TestClock.adjust("200 millis")
      yield* Effect.forEach(fibers, Fiber.join)
      assert.deepStrictEqual(admitted, Array.from({ length: 12 }, (_, i) => i * 200))
      for (const t of admitted) {
        const inWindow = admitted.filter((s) => s >= t && s < t + 1000).length
        assert.isAtMost(inWindow, 5, `window starting at ${t} admitted ${inWindow}`)
      }
      // An unlimited region never waits.
      const before = yield* Clock.currentTimeMillis
      for (let i = 0; i < 50; i++) yield* limiter.take(west)
      assert.strictEqual(yield* Clock.currentTimeMillis, before)
    }))

  it("rateOf falls back to '*' and treats missing or non-positive rates as unlimited", () => {
    assert.strictEqual(RequestRateLimit.rateOf({ "*": 3 }, east), 3)
    assert.strictEqual(RequestRateLimit.rateOf({ "us-east-1": 7, "*": 3 }, east), 7)
    assert.isUndefined(RequestRateLimit.rateOf({}, east))
    assert.isUndefined(RequestRateLimit.rateOf({ "us-east-1": 0 }, east))
  })
})
