import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Redis } from "ioredis"
import type { Domain, Queue } from "@myia/certification"
import { RegionLimiter } from "../src/index.ts"
import { cleanup, freshPrefix, redisUrl, shouldRun } from "./RedisTest.ts"

const region = "eu-west-1" as Domain.Region

const limiterWith = (limit: Queue.RegionLimit, leaseMillis = 10_000) =>
  Effect.gen(function*() {
    const prefix = freshPrefix()
    const redis = yield* Effect.acquireRelease(
      Effect.sync(() => new Redis(redisUrl)),
      (redis) => Effect.promise(() => cleanup(prefix)).pipe(Effect.andThen(Effect.sync(() => redis.disconnect())))
    )
    return RegionLimiter.make({ redis, keyPrefix: `${prefix}:limiter`, limitOf: () => limit, leaseMillis })
  })

describe.skipIf(!shouldRun)("RegionLimiter", () => {
  it.live("a full region answers Wait until a lease is released", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterWith({ concurrency: 2, ratePerSecond: 0 })
      assert.strictEqual((yield* limiter.acquire(region, "a"))._tag, "Acquired")
      assert.strictEqual((yield* limiter.acquire(region, "b"))._tag, "Acquired")
      assert.deepStrictEqual(yield* limiter.acquire(region, "c"), { _tag: "Wait", millis: 0, full: true })
      assert.strictEqual(yield* limiter.inFlight(region), 2)
      yield* limiter.release(region, "a")
      assert.strictEqual((yield* limiter.acquire(region, "c"))._tag, "Acquired")
    }))

  it.live("a lease that is not renewed expires, so a dead process frees its slot", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterWith({ concurrency: 1, ratePerSecond: 0 }, 300)
      assert.strictEqual((yield* limiter.acquire(region, "dead"))._tag, "Acquired")
      assert.strictEqual((yield* limiter.acquire(region, "next"))._tag, "Wait")
      yield* Effect.sleep("400 millis")
      assert.isFalse(yield* limiter.renew(region, "dead"))
      assert.strictEqual((yield* limiter.acquire(region, "next"))._tag, "Acquired")
    }))

  it.live("a renewed lease outlives its first expiry", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterWith({ concurrency: 1, ratePerSecond: 0 }, 300)
      assert.strictEqual((yield* limiter.acquire(region, "alive"))._tag, "Acquired")
      for (let i = 0; i < 4; i++) {
        yield* Effect.sleep("100 millis")
        assert.isTrue(yield* limiter.renew(region, "alive"))
      }
      assert.strictEqual((yield* limiter.acquire(region, "other"))._tag, "Wait")
    }))

  it.live("the start rate paces starts 1/rate apart (no burst), saying how long to wait; fractional rates stretch it", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterWith({ concurrency: 100, ratePerSecond: 3 })
      assert.strictEqual((yield* limiter.acquire(region, "1"))._tag, "Acquired")
      const wait = yield* limiter.acquire(region, "2")
      assert.strictEqual(wait._tag, "Wait")
      assert.isTrue(wait._tag === "Wait" && !wait.full && wait.millis > 250 && wait.millis <= 334, `waited ${JSON.stringify(wait)}`)
      yield* Effect.sleep(wait._tag === "Wait" ? wait.millis : 0)
      assert.strictEqual((yield* limiter.acquire(region, "2"))._tag, "Acquired", "admitted once the interval has passed")

      const slow = yield* limiterWith({ concurrency: 100, ratePerSecond: 0.5 })
      assert.strictEqual((yield* slow.acquire(region, "a"))._tag, "Acquired")
      const slowWait = yield* slow.acquire(region, "b")
      assert.isTrue(slowWait._tag === "Wait" && slowWait.millis > 1000 && slowWait.millis <= 2001)
    }))
})
