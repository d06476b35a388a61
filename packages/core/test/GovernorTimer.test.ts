/**
 * Issue 15: a breaker's half-open timer that fires before the clock reads the end of the open time
 * must still wake the lane's waiters. Node starts a timer from the event loop's cached time, so after
 * a busy tick it can fire early as `Date.now()` sees it; the governor then found the breaker still
 * open, drained nothing, and a unit waited for a permit forever (seen in the distributed grid under
 * load: lanes open "until" minutes ago, their last units idle, woken only by a `/metrics` scrape).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { type Domain, RegionGovernor } from "../src/index.ts"

const live = Clock.Clock.defaultValue()

/** The real clock, except that every timer fires `earlyBy` ms before the time it was asked for. */
const earlyTimers = (earlyBy: number): Clock.Clock => ({
  currentTimeMillisUnsafe: () => live.currentTimeMillisUnsafe(),
  currentTimeMillis: Effect.sync(() => live.currentTimeMillisUnsafe()),
  currentTimeNanosUnsafe: () => live.currentTimeNanosUnsafe(),
  currentTimeNanos: Effect.sync(() => live.currentTimeNanosUnsafe()),
  monotonicTimeNanosUnsafe: () => live.monotonicTimeNanosUnsafe(),
  monotonicTimeNanos: live.monotonicTimeNanos,
  sleep: (duration) =>
    live.sleep(Duration.millis(Math.max(0, Duration.toMillis(Duration.fromInputUnsafe(duration)) - earlyBy)))
})

const region = "us-east-1" as Domain.Region

describe("RegionGovernor: breaker timers that fire early", () => {
  it.live("a waiter on an open breaker gets its trial once the open time is over", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({
        failureThreshold: 1,
        minimumVolume: 1,
        openDuration: "60 millis",
        maxOpenDuration: "60 millis"
      })
      yield* governor.recordFailure(region, "m")
      assert.strictEqual((yield* governor.state(region, "m")).breaker, "open")
      const waiter = yield* Effect.forkChild(governor.withPermit(region, "m")(Effect.succeed("served")))
      const served = yield* Fiber.join(waiter).pipe(Effect.timeoutOption("3 seconds"))
      assert.deepStrictEqual(served._tag === "Some" ? served.value : "still waiting", "served")
    }).pipe(Effect.provideService(Clock.Clock, earlyTimers(25)), Effect.scoped))
})
