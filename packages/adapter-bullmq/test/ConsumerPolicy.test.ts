/**
 * Issue 15: the policy that decides a unit's redeliveries is the consuming layer's, whatever the
 * layer that enqueued it was built with. An API process on the default `maxAttempts` (3) and workers
 * on `CERTIFICATION_MAX_RETRIES=4` once disagreed: BullMQ failed the unit on the producer's count
 * right after the worker had released it for its fourth try, and the unit sat QUEUED until the
 * reconciler ended it INCONCLUSIVE ("dead-lettered by the queue") — the distributed grid's misses.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Queue, RedeliveryPolicy } from "@myia/certification"
import { BullMqQueue } from "../src/index.ts"
import { cleanup, freshPrefix, message, redisUrl, shouldRun } from "./RedisTest.ts"

const options = (prefix: string, maxAttempts: number): BullMqQueue.Options => ({
  connection: redisUrl,
  prefix,
  lockDuration: "1 second",
  stalledInterval: "500 millis",
  redelivery: { maxAttempts, backoff: RedeliveryPolicy.exponentialBackoff({ base: "20 millis", max: "50 millis" }) }
})

const build = (opts: BullMqQueue.Options) =>
  Effect.addFinalizer(() => Effect.promise(() => cleanup(opts.prefix ?? "bull"))).pipe(
    Effect.andThen(Layer.build(BullMqQueue.layer(opts))),
    Effect.map((context) => Context.get(context, Queue.Queue))
  )

const waitUntil = (what: string, predicate: () => boolean, timeoutMillis = 8_000) =>
  Effect.gen(function*() {
    const deadline = performance.now() + timeoutMillis
    while (!predicate()) {
      if (performance.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

const countedRetry = Queue.Retry({ delayMillis: 10, countsAsFailure: true, reason: "SERVICE_UNAVAILABLE: 5xx" })

describe.skipIf(!shouldRun)("BullMqQueue: the consumer's redelivery policy decides", () => {
  it.live("a producer with fewer attempts cannot make BullMQ fail a unit the consumer retries", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const producer = yield* build(options(prefix, 2))
      const consumer = yield* build(options(prefix, 4))
      const unit = message()
      const deliveries: Array<{ attempt: number; failures: number }> = []
      const dead: Array<number> = []
      yield* consumer.consume({
        concurrency: 1,
        // Three counted failures, then an answer: the consumer's policy (4) allows it.
        handler: (delivery) =>
          Effect.sync(() => {
            deliveries.push({ attempt: delivery.attempt, failures: delivery.failures })
            return deliveries.length < 4 ? countedRetry : Queue.Done
          }),
        onDeadLetter: (_, __, attempts) => Effect.sync(() => dead.push(attempts))
      })
      yield* producer.enqueue([unit])
      yield* waitUntil("the fourth delivery", () => deliveries.length === 4 || dead.length > 0)
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(dead, [])
      assert.deepStrictEqual(deliveries.map((d) => d.failures), [0, 1, 2, 3])
      const [entry] = yield* consumer.inspect([unit.unitId])
      assert.strictEqual(entry!.state, "completed")
      assert.strictEqual((yield* consumer.counts).failed, 0)
    }))

  it.live("a producer with more attempts does not keep a unit alive past the consumer's policy", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const producer = yield* build(options(prefix, 6))
      const consumer = yield* build(options(prefix, 2))
      const unit = message()
      let deliveries = 0
      const dead: Array<number> = []
      yield* consumer.consume({
        concurrency: 1,
        handler: () => Effect.sync(() => (deliveries += 1, countedRetry)),
        onDeadLetter: (_, __, attempts) => Effect.sync(() => dead.push(attempts))
      })
      yield* producer.enqueue([unit])
      yield* waitUntil("the dead letter", () => dead.length > 0)
      yield* Effect.sleep("300 millis")
      assert.strictEqual(deliveries, 2)
      assert.deepStrictEqual(dead, [2])
    }))
})
