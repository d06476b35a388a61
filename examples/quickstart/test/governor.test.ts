/**
 * Regression found by the seeded grid: a region whose breaker turned half-open lazily (a unit asked
 * for a permit after the open period ended but before the half-open timer ran) left its earlier
 * waiters blocked forever — units stuck PROCESSING with no Bedrock call. Waiters must always wake.
 */
import { assert, describe, it } from "@effect/vitest"
import { Region, RegionGovernor } from "@myia/certification"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"

const east = Schema.decodeSync(Region.Region)("us-east-1")

// Holds the event loop so the half-open timer cannot run before the next permit request.
const blockEventLoop = (ms: number) =>
  Effect.sync(() => {
    const until = performance.now() + ms
    while (performance.now() < until) {
      // busy wait on purpose
    }
  })

describe("region governor under a late half-open timer", () => {
  it.live("hands the half-open trial to the earliest waiter, and every waiter eventually runs", () =>
    Effect.gen(function*() {
      const governor = yield* RegionGovernor.make({ failureThreshold: 1, minimumVolume: 1, openDuration: "30 millis" })
      yield* governor.recordFailure(east) // breaker open for 30 ms
      const order: Array<string> = []
      const first = yield* Effect.forkChild(governor.withPermit(east)(Effect.sync(() => order.push("first"))))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      assert.strictEqual((yield* governor.state(east)).waiting, 1, "the first unit waits on the open breaker")
      yield* blockEventLoop(60) // the open period ends while the half-open timer is held back
      // Asked in the same turn, before any timer can run: the breaker turns half-open lazily here.
      const second = yield* governor.withPermit(east)(Effect.sync(() => order.push("second"))).pipe(
        Effect.tap(() => governor.recordSuccess(east)),
        Effect.timeoutOption("2 seconds")
      )
      const firstDone = yield* Fiber.join(first).pipe(Effect.timeoutOption("2 seconds"))
      assert.deepStrictEqual([second._tag, firstDone._tag], ["Some", "Some"], `waiters stuck; ran: ${order.join(",")}`)
      assert.deepStrictEqual(order, ["first", "second"])
    }).pipe(Effect.scoped))
})
