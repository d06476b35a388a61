import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import * as Pacer from "../src/internal/pacer.ts"
import { Region } from "../src/Region.ts"
import * as RegionGovernor from "../src/RegionGovernor.ts"

const settings: Pacer.PacerSettings = { windowMillis: 2_000, cooldownMillis: 1_000, aim: 0.95, growth: 0.25, minRate: 0.2 }

describe("Pacer (issue 16)", () => {
  it("is unpaced until a throttle, then guesses from what the last second admitted and spaces starts 1/rate apart", () => {
    const pacer = Pacer.make()
    // 10 starts at once (an unpaced burst), 4 throttled.
    for (let i = 0; i < 10; i++) assert.strictEqual(Pacer.reserve(pacer, settings, 1_000), 0)
    for (let i = 0; i < 4; i++) Pacer.throttled(pacer, settings, 1_010)
    // The first throttle guesses at once (9 of 10 not throttled yet, all at once: over 250 ms); the
    // next three are within the cooldown, and were in flight before it engaged: no change.
    assert.closeTo(pacer.rate!, 0.95 * 36, 1e-9)
    assert.isFalse(pacer.learned)
    const waits = Array.from({ length: 4 }, () => Pacer.reserve(pacer, settings, 1_010))
    const gaps = waits.slice(1).map((w, i) => w - waits[i]!)
    for (const gap of gaps) assert.closeTo(gap, 1000 / 34.2, 1e-6, "1 / rate apart")
    // Reserving slots says nothing about the quota: no step up without answers.
    Pacer.reserve(pacer, settings, 2_100)
    assert.closeTo(pacer.rate!, 0.95 * 36, 1e-9, "reservations alone do not step the guess up")
    // A whole second with two answers admitted at the guess and no throttle steps it up by half.
    Pacer.succeeded(pacer, settings, 1_500)
    assert.closeTo(pacer.rate!, 0.95 * 36, 1e-9, "less than a second since it engaged")
    Pacer.succeeded(pacer, settings, 2_100)
    assert.closeTo(pacer.rate!, 0.95 * 36 * 1.5, 1e-9)
    assert.strictEqual(pacer.steps, 1)
  })

  it("a first throttle after answers came back guesses from the answers, not from the requests in flight", () => {
    const pacer = Pacer.make()
    for (let i = 0; i < 2; i++) Pacer.reserve(pacer, settings, 0)
    Pacer.succeeded(pacer, settings, 200) // one answer; then three more requests go out
    for (let i = 0; i < 3; i++) Pacer.reserve(pacer, settings, 200)
    Pacer.throttled(pacer, settings, 250)
    assert.closeTo(pacer.rate!, 0.95 * 1, 1e-9, "one request completed in the last second (5 sent − 1 throttled would say 4)")
  })

  it("while guessing, a request sent at the guessed pace and throttled halves the guess at once; one sent before does not", () => {
    const pacer = Pacer.make()
    Pacer.reserve(pacer, settings, 0)
    Pacer.reserve(pacer, settings, 0)
    Pacer.throttled(pacer, settings, 5) // engaged: 1 admitted over 250 ms → 3.8 requests/s
    assert.closeTo(pacer.rate!, 3.8, 1e-9)
    Pacer.throttled(pacer, settings, 40, true, 0)
    assert.closeTo(pacer.rate!, 3.8, 1e-9, "sent before the pace began: in flight from the burst")
    const wait = Pacer.reserve(pacer, settings, 40)
    const sentAt = 40 + wait
    Pacer.throttled(pacer, settings, sentAt + 10, true, sentAt)
    assert.closeTo(pacer.rate!, 1.9, 1e-9, "sent at the guessed pace and throttled: halved within the cooldown")
    assert.isFalse(pacer.learned)
    Pacer.throttled(pacer, settings, sentAt + 20, true, sentAt)
    assert.closeTo(pacer.rate!, 1.9, 1e-9, "that request went out at the old pace: no second halving")
    // The cut restarts the spacing: the next slot is one new interval after the cut.
    assert.closeTo(Pacer.reserve(pacer, settings, sentAt + 20), 1000 / 1.9 - 10, 1e-6)
  })

  it("a throttled step up goes back to the rate before it, learned as aim × the ceiling, and creeps from there", () => {
    const pacer = Pacer.make()
    Pacer.reserve(pacer, settings, 0)
    Pacer.succeeded(pacer, settings, 300)
    Pacer.reserve(pacer, settings, 300)
    Pacer.throttled(pacer, settings, 310) // the guess: one answer in the last second → 0.95
    assert.closeTo(pacer.rate!, 0.95, 1e-9)
    Pacer.succeeded(pacer, settings, 900)
    Pacer.succeeded(pacer, settings, 1_400) // a second and two answers: step up
    assert.closeTo(pacer.rate!, 0.95 * 1.5, 1e-9)
    Pacer.throttled(pacer, settings, 2_500)
    assert.closeTo(pacer.rate!, 0.95, 1e-9, "back to the rate before the step")
    assert.isTrue(pacer.learned)
    assert.closeTo(pacer.ceiling, 1, 1e-9)
    Pacer.reserve(pacer, settings, 4_000)
    assert.closeTo(pacer.rate!, 0.95 * 1.002, 1e-9, "at aim × the ceiling it creeps: 0.2 % of the rate per start")
  })

  it("a later throttle measures what the quota admitted since an earlier throttle, bisected with the pace that was throttled", () => {
    const pacer = Pacer.make()
    Pacer.reserve(pacer, settings, 0)
    Pacer.throttled(pacer, settings, 0) // engaged at 0: the quota was empty then
    pacer.rate = 4
    // 12 starts over the next 3 s, 3 of them throttled (within the cooldown, sent before any cut: no change).
    for (let i = 1; i <= 12; i++) {
      pacer.nextStart = 0
      Pacer.reserve(pacer, settings, i * 250)
    }
    for (const at of [1_100, 1_600, 2_100]) Pacer.throttled(pacer, settings, at, false)
    Pacer.throttled(pacer, settings, 3_000)
    // Between the throttles at 0 and 3 000: 12 starts − 4 throttles (+ half a token) over 3 s.
    const admitted = 8.5 / 3
    assert.closeTo(pacer.ceiling, Math.sqrt(admitted * 4), 1e-9)
    assert.closeTo(pacer.rate!, 0.95 * Math.sqrt(admitted * 4), 1e-9)
    assert.isTrue(pacer.learned)
    const before = pacer.rate!
    pacer.rate = 0.5 * pacer.ceiling
    Pacer.reserve(pacer, settings, 10_000)
    assert.closeTo(pacer.rate - 0.5 * pacer.ceiling, 0.02 * 0.5 * pacer.ceiling, 1e-9, "well below it (a cut in a quiet window) it climbs: 2 % of the rate per start")
    assert.isBelow(0.5 * pacer.ceiling, before)
  })

  it("a cut at most halves the rate and never goes below minRate; disengage unpaces it", () => {
    const pacer = Pacer.make()
    Pacer.throttled(pacer, settings, 0)
    assert.closeTo(pacer.rate!, 3.8, 1e-9, "nothing sent: the guess is one request over 250 ms")
    Pacer.throttled(pacer, settings, 3_000)
    assert.closeTo(pacer.rate!, 1.9, 1e-9, "nothing admitted since: halved, not zeroed")
    for (let t = 4_000; t <= 12_000; t += 1_000) Pacer.throttled(pacer, settings, t)
    assert.strictEqual(pacer.rate, settings.minRate)
    Pacer.disengage(pacer)
    assert.strictEqual(pacer.rate, null)
    assert.strictEqual(Pacer.reserve(pacer, settings, 13_000), 0)
  })
})

const east = Schema.decodeSync(Region)("us-east-1")
const west = Schema.decodeSync(Region)("us-west-2")

/** How long `pace` makes a caller wait now, in ms of TestClock time. */
const waitOf = (governor: RegionGovernor.RegionGovernor["Service"], modelId: string, region = east) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(governor.pace(region, modelId))
    for (let ms = 0; ms < 10_000; ms += 10) {
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      if (fiber.pollUnsafe() !== undefined) return ms
      yield* TestClock.adjust("10 millis")
    }
    yield* Fiber.interrupt(fiber)
    return Number.POSITIVE_INFINITY
  })

describe("RegionGovernor.pace (issue 16)", () => {
  it.effect("a model whose requests are throttled while the others' pass paces only itself; a regional quota paces the region, no other", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({})
      for (let i = 0; i < 20; i++) {
        yield* governor.pace(east, "a")
        yield* governor.pace(east, "b")
        yield* governor.pace(west, "a")
        yield* TestClock.adjust("50 millis")
      }
      assert.strictEqual(yield* waitOf(governor, "b"), 0, "unpaced before any throttle")
      for (let i = 0; i < 12; i++) yield* governor.recordThrottle(east, "a") // most of a's 20 requests
      yield* waitOf(governor, "a")
      assert.isAbove(yield* waitOf(governor, "a"), 0, "a is paced (pacing is on by default)")
      assert.strictEqual(yield* waitOf(governor, "b"), 0, "b has its own quota: a's throttles leave it alone")
      yield* governor.recordThrottle(east, "b") // b's first throttle while a's are many: the region's quota
      yield* waitOf(governor, "b")
      assert.isAbove(yield* waitOf(governor, "b"), 0, "b is paced by the region")
      assert.isAbove(yield* waitOf(governor, "c"), 0, "… and so is every other model of the region")
      assert.strictEqual(yield* waitOf(governor, "a", west), 0, "another region is not paced")
    }))

  it.effect("a throttle while the other models are throttled too is the region's, even for a model throttled often", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({})
      for (let i = 0; i < 20; i++) {
        for (const m of ["a", "b", "c"]) yield* governor.pace(east, m)
        yield* TestClock.adjust("50 millis")
      }
      // Every model loses about half its requests: a regional quota, not c's own.
      for (let i = 0; i < 10; i++) {
        for (const m of ["a", "b", "c"]) yield* governor.recordThrottle(east, m)
      }
      const cWait = yield* waitOf(governor, "c")
      const aWait = yield* waitOf(governor, "a")
      assert.isAbove(aWait + cWait, 0, "the region is paced")
      // c has no pace of its own: right after its slot, a's next slot is as near as c's.
      assert.isAtMost(Math.abs((yield* waitOf(governor, "c")) - (yield* waitOf(governor, "a"))), 200)
    }))

  it.effect("with pacing: false it never waits", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ pacing: false })
      for (let i = 0; i < 20; i++) yield* governor.pace(east, "a")
      yield* governor.recordThrottle(east, "a")
      for (let i = 0; i < 5; i++) assert.strictEqual(yield* waitOf(governor, "a"), 0)
    }))
})
