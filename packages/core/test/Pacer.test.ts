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
    // The first throttle guesses at once (9 of 10 not throttled yet, all at once: over 100 ms); the
    // next three are within the cooldown.
    assert.closeTo(pacer.rate!, 0.95 * 90, 1e-9)
    assert.isFalse(pacer.learned)
    const waits = Array.from({ length: 4 }, () => Pacer.reserve(pacer, settings, 1_010))
    const gaps = waits.slice(1).map((w, i) => w - waits[i]!)
    for (const gap of gaps) assert.closeTo(gap, 1000 / 85.5, 1e-6, "1 / rate apart")
    // A whole second at the guess without a throttle steps it up by half; one with a throttle does not.
    Pacer.reserve(pacer, settings, 2_010)
    assert.closeTo(pacer.rate!, 0.95 * 90 * 1.5, 1e-9)
    Pacer.throttled(pacer, settings, 2_500, false)
    Pacer.reserve(pacer, settings, 3_020)
    assert.closeTo(pacer.rate!, 0.95 * 90 * 1.5, 1e-9)
  })

  it("a first throttle after answers came back guesses from the answers, not from the requests in flight", () => {
    const pacer = Pacer.make()
    for (let i = 0; i < 2; i++) Pacer.reserve(pacer, settings, 0)
    Pacer.succeeded(pacer, settings, 200) // one answer; then three more requests go out
    for (let i = 0; i < 3; i++) Pacer.reserve(pacer, settings, 200)
    Pacer.throttled(pacer, settings, 250)
    assert.closeTo(pacer.rate!, 0.95 * 1, 1e-9, "one request completed in the last second (5 sent − 1 throttled would say 4)")
  })

  it("a throttle after the cooldown measures the starts admitted since it engaged, and the ceiling is learned", () => {
    const pacer = Pacer.make()
    Pacer.reserve(pacer, settings, 0)
    Pacer.reserve(pacer, settings, 0)
    Pacer.throttled(pacer, settings, 0) // engaged at 0 with the guess 0.95 × 1
    // 7 paced starts over the next 1.75 s (a whole second without a throttle steps 4 up to 6), then a throttle.
    pacer.rate = 4
    for (let i = 1; i <= 7; i++) {
      pacer.nextStart = 0
      Pacer.reserve(pacer, settings, i * 250)
    }
    assert.strictEqual(pacer.rate, 6)
    Pacer.throttled(pacer, settings, 1_900)
    // Since engagement (0) — the 2 starts at 0 count too: 9 sent − 2 throttled over 1.9 s.
    const observed = 7 / 1.9
    assert.closeTo(pacer.ceiling, observed, 1e-9)
    assert.closeTo(pacer.rate!, 0.95 * observed, 1e-9)
    assert.isTrue(pacer.learned)
    const before = pacer.rate!
    Pacer.reserve(pacer, settings, 2_000)
    assert.closeTo(pacer.rate! - before, 0.002 * before, 1e-9, "at a learned ceiling it creeps: 0.2 % of the rate per start")
    pacer.rate = 0.5 * pacer.ceiling
    Pacer.reserve(pacer, settings, 10_000)
    assert.closeTo(pacer.rate - 0.5 * pacer.ceiling, settings.growth, 1e-9, "well below it (a cut in a quiet window), it grows fast")
  })

  it("a cut at most halves the rate and never goes below minRate; disengage unpaces it", () => {
    const pacer = Pacer.make()
    Pacer.throttled(pacer, settings, 0)
    assert.strictEqual(pacer.rate, 9.5, "nothing sent: the guess is one request over 100 ms")
    Pacer.throttled(pacer, settings, 3_000)
    assert.strictEqual(pacer.rate, 4.75, "nothing admitted since: halved, not zeroed")
    for (let t = 4_000; t <= 10_000; t += 1_000) Pacer.throttled(pacer, settings, t)
    assert.strictEqual(pacer.rate, settings.minRate)
    Pacer.disengage(pacer)
    assert.strictEqual(pacer.rate, null)
    assert.strictEqual(Pacer.reserve(pacer, settings, 3_000), 0)
  })

  it("the measure counts at least the requests that completed since it engaged", () => {
    const pacer = Pacer.make()
    for (let i = 0; i < 4; i++) Pacer.reserve(pacer, settings, 0)
    Pacer.throttled(pacer, settings, 0) // engaged: the burst before it is throttled after it
    pacer.rate = 3
    for (let i = 0; i < 3; i++) Pacer.throttled(pacer, settings, 100)
    for (const at of [500, 900, 1_300, 1_700]) Pacer.succeeded(pacer, settings, at)
    Pacer.throttled(pacer, settings, 2_000)
    // Sent − throttled since 0 is 4 − 5 < 0; four requests completed over 2 s: 2 requests/s.
    assert.closeTo(pacer.rate!, 0.95 * 2, 1e-9, "not halved to 1.5: the answers count")
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
