import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import * as GovernorStore from "../src/GovernorStore.ts"
import { Region } from "../src/Region.ts"
import * as RegionGovernor from "../src/RegionGovernor.ts"
import * as GovernorStoreTest from "../src/testing/GovernorStoreTest.ts"

GovernorStoreTest.suite("memory", GovernorStore.layerMemory)

const east = Schema.decodeSync(Region)("us-east-1")
const model = "vendor.model-v1:0"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

/** Two governors — two worker processes — over one store. */
const twoProcesses = (options: RegionGovernor.Options) =>
  Effect.gen(function*() {
    const store = GovernorStore.makeMemory()
    const build = RegionGovernor.make(options).pipe(Effect.provideService(GovernorStore.GovernorStore, store))
    return { a: yield* build, b: yield* build }
  })

describe("RegionGovernor over a shared GovernorStore (issue 16)", () => {
  it.effect("two processes split one lane's limit once it was cut, and a throttle seen by one cuts the share of both", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoProcesses({ initial: 8, max: 8 })
      yield* a.recordSuccess(east, model)
      yield* b.recordSuccess(east, model)
      yield* a.recordSuccess(east, model)
      yield* settle
      assert.strictEqual((yield* a.state(east, model)).limit, 8, "never throttled: no quota to split, each keeps its own")
      assert.strictEqual((yield* b.state(east, model)).limit, 8)
      yield* TestClock.adjust("500 millis")
      yield* a.recordThrottle(east, model)
      yield* settle
      assert.strictEqual((yield* a.state(east, model)).limit, 2, "the shared limit is 4 now, shared by 2: a synced its cut")
      // b's successes sync at most once a second: its next sync after that brings the shared state.
      yield* TestClock.adjust("250 millis")
      yield* b.recordSuccess(east, model)
      yield* settle
      assert.strictEqual((yield* b.state(east, model)).limit, 8, "not synced yet")
      yield* TestClock.adjust("250 millis")
      yield* b.recordSuccess(east, model)
      yield* settle
      assert.strictEqual((yield* b.state(east, model)).limit, 2, "synced: 4 shared by 2")
      yield* b.recordThrottle(east, model)
      yield* settle
      assert.strictEqual((yield* b.state(east, model)).limit, 2, "a second cut within the cooldown, from another process, is ignored")
    }))

  it.effect("a breaker opened by one process holds the lane in the other until it half-opens", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoProcesses({ failureThreshold: 2, openDuration: "10 seconds" })
      yield* b.recordSuccess(east, model)
      yield* a.recordFailure(east, model)
      yield* a.recordFailure(east, model)
      yield* settle
      assert.strictEqual((yield* a.state(east, model)).breaker, "open")
      yield* b.recordSuccess(east, "other.model-v1:0") // another lane: b does not learn of this one
      yield* settle
      assert.strictEqual((yield* b.state(east, model)).breaker, "closed")
      yield* TestClock.adjust("1 second") // b syncs an outcome that changes nothing at most once a second
      yield* b.recordOutcome(east, "SERVICE_UNAVAILABLE", model)
      yield* settle
      assert.strictEqual((yield* b.state(east, model)).breaker, "open", "b's next outcome brings the shared breaker")
      const waiter = yield* Effect.forkChild(b.withPermit(east, model)(Effect.succeed("ran")))
      yield* settle
      assert.isUndefined(waiter.pollUnsafe())
      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.strictEqual(yield* Fiber.join(waiter), "ran")
      assert.strictEqual((yield* b.state(east, model)).trips, 0, "a shared open is not b's own trip")
    }))
})
