import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import * as ErrorCategory from "../src/ErrorCategory.ts"
import { Region } from "../src/Region.ts"
import * as RegionGovernor from "../src/RegionGovernor.ts"

const east = Schema.decodeSync(Region)("us-east-1")
const west = Schema.decodeSync(Region)("us-west-2")

// Lets forked fibers run up to their next suspension point.
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

const repeat = (n: number, effect: Effect.Effect<void>) =>
  Effect.forEach(Array.from({ length: n }), () => effect, { discard: true })

/** Counts how many holders run at once, and the peak. */
const concurrencyProbe = () => {
  const probe = { current: 0, peak: 0, entered: 0 }
  const hold = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        probe.current++
        probe.entered++
        probe.peak = Math.max(probe.peak, probe.current)
      }),
      () => effect,
      () => Effect.sync(() => void probe.current--)
    )
  return { probe, hold }
}

describe("RegionGovernor", () => {
  it.effect("halves the limit on a throttle (down to min) and grows it by one per successesToGrow (up to max)", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ initial: 8, min: 1, max: 10, successesToGrow: 2 })
      const limit = Effect.map(governor.state(east), (s) => s.limit)

      assert.strictEqual(yield* limit, 8)
      const afterThrottles: Array<number> = []
      for (let i = 0; i < 5; i++) {
        yield* governor.recordThrottle(east)
        afterThrottles.push(yield* limit)
        yield* TestClock.adjust("1 second") // past the cut cooldown: each throttle is a new event
      }
      assert.deepStrictEqual(afterThrottles, [4, 2, 1, 1, 1])

      yield* governor.recordSuccess(east)
      assert.strictEqual(yield* limit, 1, "one success is not enough to grow")
      yield* governor.recordSuccess(east)
      assert.strictEqual(yield* limit, 2)

      // A throttle restarts the success streak.
      yield* governor.recordSuccess(east)
      yield* governor.recordThrottle(east)
      yield* governor.recordSuccess(east)
      assert.strictEqual(yield* limit, 1)

      yield* repeat(40, governor.recordSuccess(east))
      assert.strictEqual(yield* limit, 10, "never above max")
      const state = yield* governor.state(east)
      assert.strictEqual(state.throttles, 6)
      assert.strictEqual(state.successes, 44)
    }))

  it.effect("throttles within the cut cooldown count once: in-flight calls hit by one congestion event cut the limit once", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ initial: 16, max: 16, cutCooldown: "1 second" })
      const limit = Effect.map(governor.state(east), (s) => s.limit)
      for (let i = 0; i < 6; i++) yield* governor.recordThrottle(east)
      assert.strictEqual(yield* limit, 8, "six simultaneous throttles halve once")
      yield* TestClock.adjust("999 millis")
      yield* governor.recordThrottle(east)
      assert.strictEqual(yield* limit, 8, "still inside the cooldown")
      yield* TestClock.adjust("1 millis")
      yield* governor.recordThrottle(east)
      assert.strictEqual(yield* limit, 4, "a throttle after the cooldown is a new event")
      assert.strictEqual((yield* governor.state(east)).throttles, 8, "every throttle is still counted")
    }))

  it.effect("never runs more calls at once than the region's limit, and obeys a lowered limit", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ initial: 3, max: 3 })
      const { hold, probe } = concurrencyProbe()
      const fibers = yield* Effect.forEach(
        Array.from({ length: 20 }),
        () => Effect.forkChild(governor.withPermit(east)(hold(Effect.sleep("1 second"))))
      )
      yield* settle
      assert.strictEqual(probe.current, 3)
      const busy = yield* governor.state(east)
      assert.strictEqual(busy.inFlight, 3)
      assert.strictEqual(busy.waiting, 17)

      // Throttled while 3 are running: from now on at most 1 at a time.
      yield* governor.recordThrottle(east)
      yield* governor.recordThrottle(east)
      probe.peak = 0
      for (let i = 0; i < 40 && (probe.entered < 20 || probe.current > 0); i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      yield* Fiber.joinAll(fibers)
      assert.strictEqual(probe.entered, 20)
      assert.strictEqual(probe.peak, 1)
      const idle = yield* governor.state(east)
      assert.strictEqual(idle.inFlight, 0)
      assert.strictEqual(idle.waiting, 0)
    }))

  it.effect("a failing or interrupted call gives its slot back", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ initial: 1, max: 1 })
      const exit = yield* Effect.exit(governor.withPermit(east)(Effect.fail("boom")))
      assert.deepStrictEqual(exit, Exit.fail("boom"))

      const holder = yield* Effect.forkChild(governor.withPermit(east)(Effect.never))
      yield* settle
      const waiter = yield* Effect.forkChild(governor.withPermit(east)(Effect.succeed("waited")))
      yield* settle
      assert.strictEqual((yield* governor.state(east)).waiting, 1)
      yield* Fiber.interrupt(waiter)
      assert.strictEqual((yield* governor.state(east)).waiting, 0, "an interrupted waiter leaves the queue")
      yield* Fiber.interrupt(holder)
      assert.strictEqual((yield* governor.state(east)).inFlight, 0)
      assert.strictEqual(yield* governor.withPermit(east)(Effect.succeed("next")), "next")
    }))

  it.effect("opens the breaker after failureThreshold consecutive failures; callers wait until it half-opens", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ failureThreshold: 3, openDuration: "10 seconds" })
      const breaker = Effect.map(governor.state(east), (s) => s.breaker)

      yield* repeat(2, governor.recordFailure(east))
      yield* governor.recordSuccess(east)
      yield* repeat(2, governor.recordFailure(east))
      assert.strictEqual(yield* breaker, "closed", "a success resets the consecutive count")
      yield* governor.recordFailure(east)
      assert.strictEqual(yield* breaker, "open")

      const ran: Array<string> = []
      const fiber = yield* Effect.forkChild(governor.withPermit(east)(Effect.sync(() => ran.push("ran"))))
      yield* settle
      yield* TestClock.adjust("9 seconds")
      yield* settle
      assert.isUndefined(fiber.pollUnsafe(), "the caller waits: neither done nor failed")
      assert.deepStrictEqual(ran, [])
      assert.strictEqual((yield* governor.state(east)).waiting, 1)

      yield* TestClock.adjust("1 second")
      yield* settle
      assert.deepStrictEqual(yield* Fiber.join(fiber), 1)
      assert.deepStrictEqual(ran, ["ran"])
      const state = yield* governor.state(east)
      assert.strictEqual(state.breaker, "half-open")
      assert.strictEqual(state.trips, 1)
      assert.strictEqual(state.failures, 5)
    }))

  it.effect("does not open below the minimum volume of outcomes", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ failureThreshold: 2, minimumVolume: 5 })
      yield* repeat(4, governor.recordFailure(east))
      assert.strictEqual((yield* governor.state(east)).breaker, "closed")
      yield* governor.recordFailure(east)
      assert.strictEqual((yield* governor.state(east)).breaker, "open")
    }))

  it.effect("half-open admits exactly halfOpenTrials of 50 concurrent waiters, and a trial success closes it", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({
        initial: 64,
        max: 64,
        failureThreshold: 1,
        openDuration: "10 seconds",
        halfOpenTrials: 2
      })
      yield* governor.recordFailure(east)
      const { hold, probe } = concurrencyProbe()
      const fibers = yield* Effect.forEach(
        Array.from({ length: 50 }),
        () => Effect.forkChild(governor.withPermit(east)(hold(Effect.never)))
      )
      yield* settle
      assert.strictEqual(probe.entered, 0, "zero calls while open")

      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.strictEqual(probe.entered, 2)
      const halfOpen = yield* governor.state(east)
      assert.strictEqual(halfOpen.breaker, "half-open")
      assert.strictEqual(halfOpen.inFlight, 2)
      assert.strictEqual(halfOpen.waiting, 48)

      yield* TestClock.adjust("1 minute")
      yield* settle
      assert.strictEqual(probe.entered, 2, "time alone admits no more trials")

      yield* governor.recordSuccess(east)
      yield* settle
      assert.strictEqual(probe.entered, 50)
      assert.strictEqual((yield* governor.state(east)).breaker, "closed")
      yield* Fiber.interruptAll(fibers)
    }))

  it.effect("a failed trial re-opens the breaker for twice as long, capped, and a close resets the backoff", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({
        failureThreshold: 1,
        openDuration: "10 seconds",
        maxOpenDuration: "25 seconds"
      })
      const breaker = Effect.map(governor.state(east), (s) => s.breaker)
      /** Seconds the breaker stays open, measured one second at a time. */
      const openFor = Effect.gen(function*() {
        let seconds = 0
        while ((yield* breaker) === "open" && seconds < 100) {
          yield* TestClock.adjust("1 second")
          seconds++
        }
        return seconds
      })

      yield* governor.recordFailure(east)
      assert.strictEqual(yield* openFor, 10)
      yield* governor.recordFailure(east)
      assert.strictEqual(yield* openFor, 20)
      yield* governor.recordFailure(east)
      assert.strictEqual(yield* openFor, 25)
      assert.strictEqual(yield* breaker, "half-open")
      yield* governor.recordSuccess(east)
      assert.strictEqual(yield* breaker, "closed")
      yield* governor.recordFailure(east)
      assert.strictEqual(yield* openFor, 10)
      assert.strictEqual((yield* governor.state(east)).trips, 4)
    }))

  it.effect("a trial that ends without deciding the breaker lets the next waiter try", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ failureThreshold: 1, openDuration: "1 second", halfOpenTrials: 1 })
      yield* governor.recordFailure(east)
      const { hold, probe } = concurrencyProbe()
      const fibers = yield* Effect.forEach(
        Array.from({ length: 3 }),
        () => Effect.forkChild(governor.withPermit(east)(hold(Effect.sleep("5 seconds"))))
      )
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.strictEqual(probe.entered, 1)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      assert.strictEqual(probe.entered, 2, "the finished trial's slot went to the next waiter")
      assert.strictEqual(probe.peak, 1)
      // A trial failure re-opens the breaker, now for 2 seconds (second trip in a row).
      yield* governor.recordFailure(east)
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.strictEqual(probe.entered, 2, "a trial failure re-opened the breaker")
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.strictEqual(probe.entered, 3)
      yield* Fiber.interruptAll(fibers)
    }))

  it.effect("one region's throttles and open breaker never affect another region", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ initial: 4, failureThreshold: 1, openDuration: "1 hour" })
      yield* governor.recordThrottle(east)
      yield* governor.recordFailure(east)
      assert.strictEqual(yield* governor.withPermit(west)(Effect.succeed("west ran")), "west ran")
      const [eastState, westState] = [yield* governor.state(east), yield* governor.state(west)]
      assert.strictEqual(eastState.breaker, "open")
      assert.strictEqual(eastState.limit, 2)
      assert.strictEqual(westState.breaker, "closed")
      assert.strictEqual(westState.limit, 4)
      assert.strictEqual(westState.throttles, 0)
      assert.strictEqual(westState.failures, 0)
      const regions = (yield* governor.snapshot).map((s) => s.region).sort()
      assert.deepStrictEqual(regions, [east, west])
    }))

  it.effect("every error category moves the governor as its signal says", () =>
    Effect.gen(function*() {
      for (const category of [...ErrorCategory.categories, null]) {
        const governor = yield* RegionGovernor.make({ initial: 4, successesToGrow: 1, failureThreshold: 1 })
        yield* governor.recordOutcome(east, category)
        const s = yield* governor.state(east)
        const moved = {
          success: s.limit === 5 && s.successes === 1,
          throttle: s.limit === 2 && s.throttles === 1,
          failure: s.breaker === "open" && s.failures === 1,
          none: s.limit === 4 && s.breaker === "closed" && s.successes + s.throttles + s.failures === 0
        }
        const signal = ErrorCategory.signalOf(category)
        assert.isTrue(moved[signal], `${category}: expected ${signal}, state ${JSON.stringify(s)}`)
      }
    }))
})

describe("RegionGovernor per (region, model) (issue 16)", () => {
  const modelA = "vendor.model-a-v1:0"
  const modelB = "vendor.model-b-v1:0"

  it.effect("a throttled model halves only its own lane; the region's other models keep their limit", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ initial: 8, max: 8 })
      yield* governor.recordThrottle(east, modelA)
      assert.strictEqual((yield* governor.state(east, modelA)).limit, 4)
      assert.strictEqual((yield* governor.state(east, modelB)).limit, 8)
      assert.strictEqual((yield* governor.state(east)).limit, 8, "the region-only lane is its own lane")
      yield* governor.recordOutcome(east, "THROTTLED", modelB)
      assert.strictEqual((yield* governor.state(east, modelB)).limit, 4)
      assert.strictEqual((yield* governor.state(east, modelB)).throttles, 1)
    }))

  it.effect("a failing model opens only its own breaker: other models of the region still run at once", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ failureThreshold: 2, openDuration: "10 seconds" })
      yield* repeat(2, governor.recordOutcome(east, "SERVICE_UNAVAILABLE", modelA))
      assert.strictEqual((yield* governor.state(east, modelA)).breaker, "open")
      assert.strictEqual(yield* governor.withPermit(east, modelB)(Effect.succeed("b ran")), "b ran")
      const a = yield* Effect.forkChild(governor.withPermit(east, modelA)(Effect.succeed("a ran")))
      yield* settle
      assert.isUndefined(a.pollUnsafe(), "the failing model waits")
      assert.strictEqual((yield* governor.regionState(east)).breaker, "closed", "one model is not an outage")
      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.strictEqual(yield* Fiber.join(a), "a ran")
    }))

  it.effect("a lane at its limit is skipped: the next caller in arrival order that can run runs", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ initial: 1, max: 1, regionCap: 4 })
      const order: Array<string> = []
      const run = (m: string) => governor.withPermit(east, m)(Effect.andThen(Effect.sync(() => order.push(m)), Effect.sleep("1 second")))
      const fibers = yield* Effect.forEach([modelA, modelA, modelB], (m) => Effect.forkChild(run(m)))
      yield* settle
      assert.deepStrictEqual(order, [modelA, modelB], "B does not wait behind A's second call")
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.deepStrictEqual(order, [modelA, modelB, modelA])
      yield* TestClock.adjust("1 second")
      yield* Fiber.joinAll(fibers)
    }))

  it.effect("the region cap bounds the calls in flight over all model lanes", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ initial: 4, max: 4, regionCap: 3 })
      const { hold, probe } = concurrencyProbe()
      const fibers = yield* Effect.forEach(
        [modelA, modelA, modelA, modelB, modelB, modelB],
        (m) => Effect.forkChild(governor.withPermit(east, m)(hold(Effect.sleep("1 second"))))
      )
      yield* settle
      assert.strictEqual(probe.current, 3)
      const region = yield* governor.regionState(east)
      assert.strictEqual(region.inFlight, 3)
      // Arrival order over the region: the first three callers (model A) hold its three slots.
      assert.strictEqual((yield* governor.state(east, modelA)).inFlight, 3)
      assert.strictEqual((yield* governor.state(east, modelB)).waiting, 3)
      for (let i = 0; i < 10 && (probe.entered < 6 || probe.current > 0); i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      yield* Fiber.joinAll(fibers)
      assert.strictEqual(probe.entered, 6)
      assert.strictEqual(probe.peak, 3)
      assert.strictEqual((yield* governor.regionState(east)).inFlight, 0)
      // Other regions have their own cap.
      assert.strictEqual((yield* governor.regionState(west)).inFlight, 0)
    }))

  it.effect("throttles of several models at once halve the region's cap; one model's throttles leave it alone", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ initial: 8, max: 8, regionCap: 16, successesToGrow: 2 })
      const holders = yield* Effect.forEach(
        [modelA, modelA, modelA, modelA, modelB, modelB, modelB, modelB],
        (m) => Effect.forkChild(governor.withPermit(east, m)(Effect.never))
      )
      yield* settle
      yield* governor.recordThrottle(east, modelA)
      yield* TestClock.adjust("2 seconds")
      yield* governor.recordThrottle(east, modelA)
      assert.strictEqual((yield* governor.regionState(east)).cap, 16, "one model throttled: its own quota")
      yield* governor.recordThrottle(east, modelB)
      assert.strictEqual((yield* governor.regionState(east)).cap, 4, "two models within the cooldown: half of the 8 in flight")
      yield* repeat(4, governor.recordSuccess(east, modelB))
      assert.strictEqual((yield* governor.regionState(east)).cap, 6, "grows by one per successesToGrow successes")
      yield* Effect.forEach(holders, Fiber.interrupt)
    }))

  it.effect("a region opens only when most of its active models fail at once, and recovers when they half-open", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ failureThreshold: 1, openDuration: "10 seconds", regionOutageModels: 3 })
      const models = ["m1", "m2", "m3", "m4", "m5"]
      for (const m of models) yield* governor.recordSuccess(east, m)
      yield* governor.recordFailure(east, "m1")
      yield* governor.recordFailure(east, "m2")
      assert.strictEqual((yield* governor.regionState(east)).breaker, "closed", "2 of 5 models is not most")
      yield* governor.recordFailure(east, "m3")
      const outage = yield* governor.regionState(east)
      assert.strictEqual(outage.breaker, "open", "3 of 5 models open at once is an outage")
      assert.strictEqual(outage.openModels, 3)
      assert.strictEqual(outage.outages, 1)
      // While the region is open, even a healthy model waits; another region does not.
      const healthy = yield* Effect.forkChild(governor.withPermit(east, "m5")(Effect.succeed("m5 ran")))
      assert.strictEqual(yield* governor.withPermit(west, "m5")(Effect.succeed("west ran")), "west ran")
      yield* settle
      assert.isUndefined(healthy.pollUnsafe())
      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.strictEqual(yield* Fiber.join(healthy), "m5 ran")
      assert.strictEqual((yield* governor.regionState(east)).breaker, "closed")
      assert.strictEqual((yield* governor.regionState(east)).outages, 1)
    }))

  it.effect("models idle longer than the region window do not count toward an outage", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ failureThreshold: 1, openDuration: "1 hour", regionOutageModels: 2, regionWindow: "1 minute" })
      for (const m of ["old1", "old2", "old3", "old4"]) yield* governor.recordSuccess(east, m)
      yield* TestClock.adjust("2 minutes")
      yield* governor.recordFailure(east, "new1")
      yield* governor.recordSuccess(east, "new2")
      assert.strictEqual((yield* governor.regionState(east)).breaker, "closed", "1 of 2 active models")
      yield* governor.recordFailure(east, "new2")
      assert.strictEqual((yield* governor.regionState(east)).breaker, "open", "2 of 2 active models, the idle ones aside")
    }))
})
