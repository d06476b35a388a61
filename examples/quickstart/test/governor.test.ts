/**
 * Regression found by the seeded grid: a region whose breaker turned half-open lazily (a unit asked
 * for a permit after the open period ended but before the half-open timer ran) left its earlier
 * waiters blocked forever — units stuck PROCESSING with no Bedrock call. Waiters must always wake.
 *
 * The race is reproduced exactly, on any machine however busy: a hand-driven clock moves time past
 * the open period while holding back every timer, then releases them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Region, RegionGovernor } from "@myia/certification"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"

const east = Schema.decodeSync(Region.Region)("us-east-1")

/** A clock whose time moves only when told to, and whose timers fire only when released. */
const manualClock = () => {
  let now = 0
  const timers: Array<() => void> = []
  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => now,
    currentTimeMillis: Effect.sync(() => now),
    currentTimeNanosUnsafe: () => BigInt(now) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    monotonicTimeNanosUnsafe: () => BigInt(now) * 1_000_000n,
    monotonicTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    sleep: () => Effect.callback<void>((resume) => void timers.push(() => resume(Effect.void)))
  }
  return {
    clock,
    /** Move time forward without running any timer. */
    advance: (millis: number) => {
      now += millis
    },
    pendingTimers: () => timers.length,
    /** Fire every timer scheduled so far. */
    fireTimers: () => timers.splice(0).forEach((fire) => fire())
  }
}

/** Let forked fibers run until they park (no time passes on the manual clock). */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

describe("region governor under a late half-open timer", () => {
  it.effect("hands the half-open trial to the earliest waiter, and every waiter eventually runs", () => {
    const time = manualClock()
    return Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ failureThreshold: 1, minimumVolume: 1, openDuration: "30 millis" })
      yield* governor.recordFailure(east) // breaker open for 30 ms
      yield* settle
      assert.strictEqual(time.pendingTimers(), 1, "opening the breaker schedules its half-open timer")
      const order: Array<string> = []
      const first = yield* Effect.forkChild(governor.withPermit(east)(Effect.sync(() => order.push("first"))))
      yield* settle
      assert.strictEqual((yield* governor.state(east)).waiting, 1, "the first unit waits on the open breaker")

      time.advance(60) // the open period ends while the half-open timer is held back
      // Asked before any timer can run: the breaker turns half-open lazily here.
      const second = yield* Effect.forkChild(
        governor.withPermit(east)(Effect.sync(() => order.push("second"))).pipe(
          Effect.tap(() => governor.recordSuccess(east))
        )
      )
      yield* settle
      // Both ran while the half-open timer was still held: the earliest waiter got the trial, its
      // call ended without an outcome (trial slot freed), and the second unit got the next trial.
      assert.deepStrictEqual(order, ["first", "second"], "waiters woke without the half-open timer")
      time.fireTimers() // the late timer finally runs: it must change nothing
      yield* settle
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.strictEqual((yield* governor.state(east)).breaker, "closed", "the second unit's success closes it")
      assert.strictEqual((yield* governor.state(east)).waiting, 0)
    }).pipe(Effect.provideService(Clock.Clock, time.clock))
  })
})
