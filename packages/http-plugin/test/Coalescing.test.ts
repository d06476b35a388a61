/**
 * Issue 16: identical job-detail reads in flight at once share one computation (`coalescing`,
 * used by `GET /jobs/:jobId`): one storage read for a burst of pollers, nothing kept afterwards,
 * errors shared like answers, and a leader whose client left still answers its followers.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { coalescing } from "../src/Handlers.ts"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("coalescing identical reads", () => {
  it.effect("requests that arrive while one is computing share its answer; a later one computes again", () =>
    Effect.gen(function*() {
      const shared = coalescing<string, string>()
      let computed = 0
      const gate = yield* Deferred.make<void>()
      const read = Effect.gen(function*() {
        computed++
        yield* Deferred.await(gate)
        return `answer ${computed}`
      })
      const fibers = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.forkChild(shared("job-1/page-1", read)))
      const other = yield* Effect.forkChild(shared("job-1/page-2", read))
      yield* settle
      assert.strictEqual(computed, 2, "one computation per distinct key")
      yield* Deferred.succeed(gate, undefined)
      const answers = yield* Effect.forEach(fibers, Fiber.join)
      assert.deepStrictEqual(new Set(answers).size, 1)
      assert.match(yield* Fiber.join(other), /^answer /)
      // Finished: nothing is kept, the next read computes afresh.
      assert.strictEqual(yield* shared("job-1/page-1", read), "answer 3")
      assert.strictEqual(computed, 3)
    }))

  it.effect("a failure is shared with the requests that waited for it, and not remembered", () =>
    Effect.gen(function*() {
      const shared = coalescing<string, string>()
      let calls = 0
      const gate = yield* Deferred.make<void>()
      const failing = Effect.gen(function*() {
        calls++
        yield* Deferred.await(gate)
        return yield* Effect.fail("not found")
      })
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(shared("missing", failing)))
      yield* settle
      yield* Deferred.succeed(gate, undefined)
      for (const f of fibers) assert.deepStrictEqual(yield* Fiber.await(f), Exit.fail("not found"))
      assert.strictEqual(calls, 1)
      assert.strictEqual(yield* shared("missing", Effect.succeed("found now")), "found now")
    }))

  it.effect("a leader interrupted (its client went away) still completes the read for its followers", () =>
    Effect.gen(function*() {
      const shared = coalescing<string, never>()
      const gate = yield* Deferred.make<void>()
      const read = Effect.as(Deferred.await(gate), "page")
      const leader = yield* Effect.forkChild(shared("k", read))
      yield* settle
      const follower = yield* Effect.forkChild(shared("k", read))
      yield* settle
      const interrupting = yield* Effect.forkChild(Fiber.interrupt(leader))
      yield* settle
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(interrupting)
      assert.strictEqual(yield* Fiber.join(follower), "page")
    }))
})
