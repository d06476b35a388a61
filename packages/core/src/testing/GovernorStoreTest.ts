/**
 * The GovernorStore conformance suite (issue 16): every store runs it in one line.
 *
 * `suite(name, layer)` builds the store once; each test uses fresh lane and process ids. Bodies run
 * on the live clock, so stores that take time from `Clock` and stores that take it from their
 * server both pass; cooldowns and open times are long enough for a loaded machine.
 *
 * @since 0.2.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { TestClock } from "effect/testing"
import { GovernorStore, type LaneUpdate, type SharedLane } from "../GovernorStore.ts"

const base: LaneUpdate = { initialLimit: 8, activeWindowMillis: 60_000 }

const fresh = () => `lane-${crypto.randomUUID()}`

const sync = (lane: string, processId: string, update: Partial<LaneUpdate> = {}) =>
  Effect.flatMap(Effect.service(GovernorStore), (store) => store.sync(lane, processId, { ...base, ...update })).pipe(
    Effect.map((shared): SharedLane => {
      if (shared === undefined) throw new Error("the store did not answer")
      return shared
    })
  )

/** Run the GovernorStore conformance suite against `layer`. */
export const suite = (name: string, layer: Layer.Layer<GovernorStore, unknown>): void => {
  describe(`GovernorStore conformance (${name})`, () => {
    it.layer(layer, { timeout: "60 seconds" })((it) => {
      const test = <A, E>(title: string, body: () => Effect.Effect<A, E, GovernorStore>) =>
        it.effect(title, () => TestClock.withLive(Effect.suspend(body)))

      test("a new lane starts at its initial limit, closed, with the caller as its one process", () =>
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* sync(fresh(), "p1"), { limit: 8, openForMillis: 0, processes: 1, cut: false })
        }))

      test("grow adds up to max; cut scales down to min at most once per cooldown across processes", () =>
        Effect.gen(function*() {
          const lane = fresh()
          assert.strictEqual((yield* sync(lane, "p1", { grow: { by: 1, max: 9 } })).limit, 9)
          assert.strictEqual((yield* sync(lane, "p2", { grow: { by: 1, max: 9 } })).limit, 9)
          assert.isFalse((yield* sync(lane, "p2")).cut, "grown, never cut")
          const cut = { factor: 0.5, min: 3, cooldownMillis: 60_000 }
          const once = yield* sync(lane, "p1", { cut })
          assert.strictEqual(once.limit, 4)
          assert.isTrue(once.cut)
          assert.isTrue((yield* sync(lane, "p2")).cut, "every process sees the lane was cut")
          assert.strictEqual((yield* sync(lane, "p2", { cut })).limit, 4, "another process's cut within the cooldown is ignored")
          const other = fresh()
          yield* sync(other, "p1", { cut: { ...cut, cooldownMillis: 0 } })
          assert.strictEqual((yield* sync(other, "p1", { cut: { ...cut, cooldownMillis: 0 } })).limit, 3, "never below min")
        }))

      test("an open breaker is shared until its time is over, then close clears it", () =>
        Effect.gen(function*() {
          const lane = fresh()
          const opened = yield* sync(lane, "p1", { openForMillis: 600 })
          assert.isAbove(opened.openForMillis, 0)
          assert.isAtMost(opened.openForMillis, 600)
          const seen = yield* sync(lane, "p2", { close: true })
          assert.isAbove(seen.openForMillis, 0, "close does not end a breaker whose time is not over")
          yield* Effect.sleep("700 millis")
          assert.strictEqual((yield* sync(lane, "p2", { close: true })).openForMillis, 0)
          assert.strictEqual((yield* sync(lane, "p1")).openForMillis, 0)
        }))

      test("processes counts the distinct processes that synced the lane within the active window", () =>
        Effect.gen(function*() {
          const lane = fresh()
          yield* sync(lane, "p1")
          yield* sync(lane, "p2")
          assert.strictEqual((yield* sync(lane, "p3")).processes, 3)
          assert.strictEqual((yield* sync(lane, "p1")).processes, 3)
          yield* Effect.sleep("300 millis")
          assert.strictEqual((yield* sync(lane, "p1", { activeWindowMillis: 200 })).processes, 1)
          assert.strictEqual((yield* sync(fresh(), "p1")).processes, 1, "lanes never share processes")
        }))
    })
  })
}
