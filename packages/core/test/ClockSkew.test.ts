import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { TestClock } from "effect/testing"
import { ClockSkew } from "../src/index.ts"

describe("ClockSkew.measure", () => {
  it.effect("is this clock minus the remote one, at the midpoint of the round trip", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-12-01T12:00:00.000Z"))
      // The remote answers with a clock an hour behind ours, and the round trip takes 200 ms.
      const remote = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* TestClock.adjust("100 millis")
        const theirs = now + 100 - 3_600_000
        yield* TestClock.adjust("100 millis")
        return theirs
      })
      assert.strictEqual(yield* ClockSkew.measure(remote), 3_600_000)
      const ahead = Effect.map(Clock.currentTimeMillis, (now) => now + 90_000)
      assert.strictEqual(yield* ClockSkew.measure(ahead), -90_000)
    }))
})
