import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import * as Pacer from "../src/internal/pacer.ts"
import { Region } from "../src/Region.ts"
import * as RegionGovernor from "../src/RegionGovernor.ts"

const settings: Pacer.PacerSettings = { windowMillis: 2_000, cooldownMillis: 1_000, aim: 0.95, growth: 0.1, minRate: 0.2 }

describe("Pacer (issue 16)", () => {
  it("is unpaced until a throttle, then spaces starts at the aimed share of the admitted rate", () => {
    const pacer = Pacer.make()
    // 40 starts over 2 s, all at once per 50 ms: 20 req/s sent.
    for (let i = 0; i < 40; i++) assert.strictEqual(Pacer.reserve(pacer, settings, i * 50), 0)
    // The first throttle: 39 of 40 admitted over the 1.99 s since the first start → aim at 95 % of that.
    const aimed = 0.95 * (39 / 1.99)
    Pacer.throttled(pacer, settings, 1_990)
    Pacer.throttled(pacer, settings, 1_995)
    assert.closeTo(pacer.rate!, aimed, 0.01, "the second throttle within the cooldown does not cut again")
    const waits = Array.from({ length: 5 }, () => Pacer.reserve(pacer, settings, 2_000))
    const gaps = waits.slice(1).map((w, i) => w - waits[i]!)
    for (const gap of gaps) assert.closeTo(gap, 1000 / aimed, 1)
    assert.closeTo(pacer.rate! - aimed, 0.4, 0.1, "each start probes upward, about growth per start")
    // Near the admitted rate measured at the cut, it grows ten times slower.
    const ceiling = 39 / 1.99
    while (pacer.rate! < 0.97 * ceiling) Pacer.reserve(pacer, settings, 3_000)
    const before = pacer.rate!
    Pacer.reserve(pacer, settings, 3_000)
    assert.closeTo(pacer.rate! - before, settings.growth / 10, 1e-9)
  })

  it("a throttle soon after the first start measures over the time since then, not the whole window", () => {
    const pacer = Pacer.make()
    for (let i = 0; i < 10; i++) Pacer.reserve(pacer, settings, 1_000 + i * 50) // 20 req/s for 0.5 s
    Pacer.throttled(pacer, settings, 1_500)
    assert.closeTo(pacer.rate!, 0.95 * (9 / 0.5), 0.01)
  })

  it("never aims below minRate", () => {
    const pacer = Pacer.make()
    Pacer.reserve(pacer, settings, 0)
    Pacer.throttled(pacer, settings, 3_000)
    assert.strictEqual(pacer.rate, settings.minRate)
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
  it.effect("a throttle paces every model of its region, and no other region", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ pacing: true })
      for (let i = 0; i < 20; i++) {
        yield* governor.pace(east, "a")
        yield* governor.pace(east, "b")
        yield* governor.pace(west, "a")
        yield* TestClock.adjust("50 millis")
      }
      assert.strictEqual(yield* waitOf(governor, "b"), 0, "unpaced before any throttle")
      yield* governor.recordThrottle(east, "a")
      yield* waitOf(governor, "a") // the first paced start goes at once
      assert.isAbove(yield* waitOf(governor, "b"), 0, "b shares the region's pace")
      assert.strictEqual(yield* waitOf(governor, "a", west), 0, "another region is not paced")
    }))

  it.effect("without pacing: true it never waits", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({})
      for (let i = 0; i < 20; i++) yield* governor.pace(east, "a")
      yield* governor.recordThrottle(east, "a")
      for (let i = 0; i < 5; i++) assert.strictEqual(yield* waitOf(governor, "a"), 0)
    }))
})
