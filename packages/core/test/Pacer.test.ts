import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
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

  it("while guessing, only answers to requests that waited for a slot at the current pace step the guess up", () => {
    const pacer = Pacer.make()
    Pacer.reserve(pacer, settings, 0)
    Pacer.succeeded(pacer, settings, 300)
    Pacer.reserve(pacer, settings, 300)
    Pacer.throttled(pacer, settings, 310) // the guess: 0.95 requests/s, cut at 310
    // Requests that find their slot long free went out further apart than the pace: their answers
    // say nothing about it, however many come back.
    for (const at of [2_000, 4_000, 6_000]) {
      assert.strictEqual(Pacer.reserve(pacer, settings, at), 0)
      Pacer.succeeded(pacer, settings, at + 100, at)
    }
    assert.closeTo(pacer.rate!, 0.95, 1e-9, "no step on requests sent apart from the pace")
    // Two requests that waited for their slot, a slot apart, answered: the pace itself was admitted.
    let t = 6_200
    for (let i = 0; i < 2; i++) {
      const wait = Pacer.reserve(pacer, settings, t)
      assert.isAbove(wait, 0)
      t += wait
      Pacer.succeeded(pacer, settings, t + 100, t)
    }
    assert.closeTo(pacer.rate!, 0.95 * 1.5, 1e-9, "stepped up on two answers at the pace")
    // The slot handed out before the step keeps the old spacing: its answer is no evidence for the new pace.
    const old = t + 150 + Pacer.reserve(pacer, settings, t + 150)
    Pacer.succeeded(pacer, settings, old + 1_500, old)
    const next = old + 10 + Pacer.reserve(pacer, settings, old + 10)
    Pacer.succeeded(pacer, settings, next + 100, next)
    assert.strictEqual(pacer.answers, 1, "only the answer sent at the stepped pace counts")
    assert.closeTo(pacer.rate!, 0.95 * 1.5, 1e-9)
  })

  it("a throttled step up goes back to the rate before it, learned as aim × the ceiling, climbs to 98 % of it and creeps from there", () => {
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
    assert.closeTo(pacer.rate!, 0.95 * 1.02, 1e-9, "below 98 % of the ceiling it climbs: 2 % of the rate per start")
    Pacer.reserve(pacer, settings, 6_000)
    assert.closeTo(pacer.rate!, 0.98, 1e-9, "the climb stops at 98 % of the ceiling")
    Pacer.reserve(pacer, settings, 8_000)
    assert.closeTo(pacer.rate!, 0.98 * (1 + 0.0003 * 1.02), 1e-9, "there it creeps: 0.03 % × (1 + starts since the cut / 100)")
  })

  it("a probe after the pace held for 20 starts steps back 2 % (the ceiling); one sooner steps back 4 % when the measure puts the quota near the pace, and cuts to the measure when it fell", () => {
    const pacer = Pacer.make()
    Pacer.reserve(pacer, settings, 0)
    Pacer.succeeded(pacer, settings, 300)
    Pacer.reserve(pacer, settings, 300)
    Pacer.throttled(pacer, settings, 310) // guess 0.95
    Pacer.succeeded(pacer, settings, 900)
    Pacer.succeeded(pacer, settings, 1_400) // step up to 1.425
    Pacer.throttled(pacer, settings, 2_500) // throttled step: back to 0.95, learned, ceiling 1
    const cutsBefore = pacer.cuts
    // The quota holds: 22 starts a slot apart, each answered (the cut's own throttle is still kept).
    let t = 2_500
    for (let i = 0; i < 22; i++) {
      t += Pacer.reserve(pacer, settings, t)
      Pacer.succeeded(pacer, settings, t + 50)
    }
    const probed = pacer.rate!
    assert.isAbove(probed, 0.95, "it crept up while the pace held")
    Pacer.throttled(pacer, settings, t + 60, true, t)
    assert.closeTo(pacer.rate!, 0.98 * probed, 1e-9, "2 % under the pace the probe found too fast")
    assert.closeTo(pacer.ceiling, probed, 1e-9)
    assert.strictEqual(pacer.cuts, cutsBefore + 1, "a cut: slots reserved at the old pace are taken again")
    // Five starts later (past the cooldown), all admitted, another throttle: the measure puts the
    // quota near the pace — the pace's jitter crossed its top: a 4 % step back, not a measured cut.
    t += 60
    for (let i = 0; i < 5; i++) t += Pacer.reserve(pacer, settings, t)
    const atTop = pacer.rate!
    Pacer.throttled(pacer, settings, t + 10, true, t)
    assert.closeTo(pacer.rate!, 0.96 * atTop, 1e-9)
    assert.closeTo(pacer.ceiling, atTop, 1e-9)
    // Then the quota falls to a third: of the next six starts (past the cooldown) four are
    // throttled: the measure is far under the pace — a measured cut.
    const before = pacer.rate!
    t += 10
    for (let i = 0; i < 6; i++) t += Pacer.reserve(pacer, settings, t)
    for (let i = 0; i < 3; i++) Pacer.throttled(pacer, settings, t - 500 + i, false)
    Pacer.throttled(pacer, settings, t + 10, true, t)
    assert.isBelow(pacer.rate!, 0.8 * before, "far more than a step back: aim × the measure")
  })

  it("the creep above the ceiling speeds up the longer the pace holds, and restarts gently after a cut", () => {
    const pacer = Pacer.make()
    Pacer.throttled(pacer, settings, 0)
    pacer.learned = true
    pacer.rate = 1
    pacer.ceiling = 1
    pacer.sinceCut = 0
    const growth = (n: number) => {
      pacer.sinceCut = n
      const before = pacer.rate!
      Pacer.commit(pacer, settings, 1_000 * (n + 1))
      const g = pacer.rate! / before - 1
      pacer.rate = before
      return g
    }
    assert.closeTo(growth(0), 0.0003, 1e-12)
    assert.closeTo(growth(100), 0.0006, 1e-12, "doubled after 100 starts")
    assert.closeTo(growth(300), 0.0012, 1e-12)
    pacer.sinceCut = 300
    Pacer.throttled(pacer, settings, 400_000, true, 399_990)
    assert.strictEqual(pacer.sinceCut, 0, "a cut restarts the count")
    assert.closeTo(growth(pacer.sinceCut), 0.0003, 1e-12)
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

  it.effect("one throttle of a model that sent a few requests is the region's, though the others were not throttled", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({})
      // A slow regional quota: b sends most of the region's requests, a a few; neither is throttled yet.
      for (let i = 0; i < 20; i++) {
        yield* governor.pace(east, "b")
        if (i % 5 === 0) yield* governor.pace(east, "a")
        yield* TestClock.adjust("100 millis")
      }
      // a's share of one throttle (1 of 4) is far above the others' (none of 20), yet one throttle
      // tells no quota of its own: the region is paced, every model alike.
      yield* governor.recordThrottle(east, "a")
      yield* waitOf(governor, "b")
      assert.isAbove(yield* waitOf(governor, "b"), 0, "b is paced by the region")
      assert.isAbove(yield* waitOf(governor, "c"), 0, "… and so is any other model of it")
    }))

  it.effect("a caller whose slot was reserved in the same millisecond as a cut, before it, takes a slot at the new pace", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({})
      for (const m of ["a", "b", "c"]) yield* governor.pace(east, m)
      // All three throttled at once: the region's quota; one admitted over 250 ms → 3.8 requests/s.
      for (const m of ["a", "b", "c"]) yield* governor.recordThrottle(east, m)
      yield* TestClock.adjust("2 seconds")
      yield* governor.pace(east, "a") // the slot is free: at once
      const oldSlot = yield* waitOf(governor, "b") // how far apart slots are at the guessed pace
      assert.isAbove(oldSlot, 0)
      // c reserves the next slot and sleeps; in the same millisecond a request sent at the guessed
      // pace comes back throttled: the guess halves, and c's slot belongs to the old pace.
      const fiber = yield* Effect.forkChild(governor.pace(east, "c"))
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      const now = yield* Clock.currentTimeMillis
      yield* governor.recordThrottle(east, "a", now)
      yield* TestClock.adjust(`${oldSlot + 20} millis`)
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      assert.isUndefined(fiber.pollUnsafe(), "c took a new slot, a new interval after the cut")
      yield* TestClock.adjust(`${oldSlot * 2} millis`)
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      assert.isDefined(fiber.pollUnsafe(), "… and goes out then")
    }))

  it.effect("with pacing: false it never waits", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ pacing: false })
      for (let i = 0; i < 20; i++) yield* governor.pace(east, "a")
      yield* governor.recordThrottle(east, "a")
      for (let i = 0; i < 5; i++) assert.strictEqual(yield* waitOf(governor, "a"), 0)
    }))
})
