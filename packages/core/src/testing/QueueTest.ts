/**
 * The Queue conformance suite: every Queue adapter runs it in one line and must pass it.
 *
 * `suite(name, layer)` builds the layer once and shares it across the tests (a Redis-backed queue keeps
 * one connection). Each test uses a fresh job id and only looks at deliveries of its own job: units
 * left by another test are acknowledged and ignored, and counts are compared as deltas. Bodies run on
 * the live clock (`TestClock.withLive`) because queues wait on real timers. A consumer runs in its own
 * `Scope`, so both styles of `consume` pass: one that returns once started and one that runs until
 * interrupted.
 *
 * ```ts
 * QueueTest.suite("memory", MemoryQueue.layer())
 * ```
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import type * as Domain from "../Domain.ts"
import type { Region } from "../Region.ts"
import * as Q from "../Queue.ts"
import * as Fixtures from "./Fixtures.ts"

/** Options of the Queue conformance suite. */
export interface SuiteOptions {
  /** How long to wait for a unit whose consumer died or failed to be redelivered (default 5 seconds). */
  readonly redeliveryTimeout?: Duration.Input
}

const usEast1 = "us-east-1" as Region

const messagesOf = (jobId: Domain.JobId, n: number, region: Region = usEast1): Array<Q.UnitMessage> =>
  Array.from({ length: n }, () =>
    new Q.UnitMessage({ unitId: Fixtures.makeUnitId(), jobId, modelId: Fixtures.makeModelId(), region }))

/** A record of one delivery seen by a test handler. */
interface Seen {
  readonly unitId: Domain.UnitId
  readonly attempt: number
  readonly maxAttempts: number
  readonly at: number
}

const noDeadLetter = () => Effect.void

/**
 * Start a consumer in its own scope; `stop` closes the scope and interrupts the consumer.
 * Deliveries of other jobs are acknowledged at once.
 */
const startConsumer = Effect.fnUntraced(function*(
  jobIds: ReadonlyArray<Domain.JobId>,
  options: {
    readonly concurrency: number
    readonly handler: (delivery: Q.Delivery) => Effect.Effect<Q.DeliveryResult, unknown>
    readonly onDeadLetter?: (message: Q.UnitMessage, lastError: string, attempts: number) => Effect.Effect<void>
  }
) {
  const queue = yield* Q.Queue
  const scope = yield* Scope.make()
  const mine = new Set<string>(jobIds)
  const fiber = yield* queue.consume({
    concurrency: options.concurrency,
    handler: (delivery) => mine.has(delivery.message.jobId) ? options.handler(delivery) : Effect.succeed(Q.Done),
    onDeadLetter: (message, lastError, attempts) =>
      mine.has(message.jobId) ? (options.onDeadLetter ?? noDeadLetter)(message, lastError, attempts) : Effect.void
  }).pipe(Scope.provide(scope), Effect.forkDetach)
  const stop = Effect.gen(function*() {
    yield* Scope.close(scope, Exit.void)
    yield* Fiber.interrupt(fiber)
  })
  yield* Effect.addFinalizer(() => stop)
  return stop
})

/** Poll `check` until it holds, or fail the test with `what` after `timeout`. */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeout: Duration.Input = "10 seconds") =>
  Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(Duration.fromInputUnsafe(timeout))
    while (!(yield* check)) {
      if ((yield* Clock.currentTimeMillis) > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

/** Run the Queue conformance suite against `layer` (one shared instance; tests filter by their own job id). */
export const suite = (name: string, layer: Layer.Layer<Q.Queue, unknown>, options: SuiteOptions = {}): void => {
  const redelivery = Duration.fromInputUnsafe(options.redeliveryTimeout ?? "5 seconds")
  const patience = Duration.sum(redelivery, Duration.seconds(5))
  describe(`Queue conformance (${name})`, () => {
    it.layer(layer, { timeout: "60 seconds" })((it) => {
      const test = <A, E>(title: string, body: () => Effect.Effect<A, E, Q.Queue | Scope.Scope>) =>
        it.effect(title, () => TestClock.withLive(Effect.suspend(body)))

      const record = (seen: Array<Seen>, delivery: Q.Delivery) =>
        Clock.currentTimeMillis.pipe(Effect.map((at) => {
          seen.push({ unitId: delivery.message.unitId, attempt: delivery.attempt, maxAttempts: delivery.maxAttempts, at })
        }))

      test("enqueue is idempotent by unit id: a unit enqueued three times is handled once", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const jobId = Fixtures.makeJobId()
          const [message] = messagesOf(jobId, 1)
          const before = yield* queue.counts
          yield* queue.enqueue([message!])
          yield* queue.enqueue([message!])
          yield* queue.enqueue([message!, message!])
          const after = yield* queue.counts
          assert.strictEqual(after.waiting - before.waiting, 1)
          const seen: Array<Seen> = []
          yield* startConsumer([jobId], { concurrency: 4, handler: (d) => record(seen, d).pipe(Effect.as(Q.Done)) })
          yield* eventually("the delivery", Effect.sync(() => seen.length >= 1))
          yield* Effect.sleep("300 millis")
          assert.strictEqual(seen.length, 1)
          assert.strictEqual(seen[0]!.attempt, 1)
        }))

      test("every enqueued unit is delivered and Done acknowledges it for good", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const jobId = Fixtures.makeJobId()
          const messages = messagesOf(jobId, 5)
          yield* queue.enqueue(messages)
          const seen: Array<Seen> = []
          yield* startConsumer([jobId], { concurrency: 2, handler: (d) => record(seen, d).pipe(Effect.as(Q.Done)) })
          yield* eventually("five deliveries", Effect.sync(() => seen.length >= 5))
          yield* Effect.sleep("300 millis")
          assert.deepStrictEqual(seen.map((s) => s.unitId).sort(), messages.map((m) => m.unitId).sort())
        }))

      test("Retry redelivers the unit with attempt + 1 after the delay", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const jobId = Fixtures.makeJobId()
          yield* queue.enqueue(messagesOf(jobId, 1))
          const seen: Array<Seen> = []
          yield* startConsumer([jobId], {
            concurrency: 1,
            handler: (d) =>
              record(seen, d).pipe(Effect.as(
                d.attempt === 1 ? Q.Retry({ delayMillis: 300, countsAsFailure: false, reason: "throttled" }) : Q.Done
              ))
          })
          yield* eventually("the retried delivery", Effect.sync(() => seen.length >= 2), patience)
          yield* Effect.sleep("300 millis")
          assert.deepStrictEqual(seen.map((s) => s.attempt), [1, 2])
          assert.isAtLeast(seen[1]!.at - seen[0]!.at, 290)
        }))

      test("a failing handler is redelivered until maxAttempts, then onDeadLetter runs once with the last error", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const jobId = Fixtures.makeJobId()
          const [message, healthy] = messagesOf(jobId, 2)
          yield* queue.enqueue([message!])
          const seen: Array<Seen> = []
          const dead: Array<{ unitId: string; lastError: string; attempts: number }> = []
          yield* startConsumer([jobId], {
            concurrency: 1,
            handler: (d) =>
              record(seen, d).pipe(Effect.andThen(
                d.message.unitId === message!.unitId ? Effect.fail(new Error(`boom-${d.attempt}`)) : Effect.succeed(Q.Done)
              )),
            onDeadLetter: (m, lastError, attempts) =>
              Effect.sync(() => {
                dead.push({ unitId: m.unitId, lastError, attempts })
              })
          })
          yield* eventually("the dead letter", Effect.sync(() => dead.length >= 1), Duration.times(patience, 3))
          const max = seen[0]!.maxAttempts
          assert.isAtLeast(max, 1)
          assert.deepStrictEqual(seen.map((s) => s.attempt), Array.from({ length: max }, (_, i) => i + 1))
          assert.strictEqual(dead[0]!.unitId, message!.unitId)
          assert.strictEqual(dead[0]!.attempts, max)
          assert.include(dead[0]!.lastError, `boom-${max}`)
          // The consumer survived the failures: it still delivers.
          yield* queue.enqueue([healthy!])
          yield* eventually("a later delivery", Effect.sync(() => seen.some((s) => s.unitId === healthy!.unitId)))
          yield* Effect.sleep("300 millis")
          assert.strictEqual(dead.length, 1)
          assert.strictEqual(seen.filter((s) => s.unitId === message!.unitId).length, max)
        }))

      test("a handler that dies is redelivered", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const jobId = Fixtures.makeJobId()
          yield* queue.enqueue(messagesOf(jobId, 1))
          const seen: Array<Seen> = []
          yield* startConsumer([jobId], {
            concurrency: 1,
            handler: (d) => record(seen, d).pipe(Effect.andThen(d.attempt === 1 ? Effect.die("defect") : Effect.succeed(Q.Done)))
          })
          yield* eventually("the redelivery", Effect.sync(() => seen.length >= 2), patience)
          assert.deepStrictEqual(seen.map((s) => s.attempt), [1, 2])
        }))

      test("interrupting the consumer mid-delivery releases the unit to a new consumer", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const jobId = Fixtures.makeJobId()
          const [message] = messagesOf(jobId, 1)
          yield* queue.enqueue([message!])
          const started = yield* Deferred.make<number>()
          const stop = yield* startConsumer([jobId], {
            concurrency: 1,
            handler: (d) => Deferred.succeed(started, d.attempt).pipe(Effect.andThen(Effect.never))
          })
          const firstAttempt = yield* Deferred.await(started)
          yield* stop
          const seen: Array<Seen> = []
          yield* startConsumer([jobId], { concurrency: 1, handler: (d) => record(seen, d).pipe(Effect.as(Q.Done)) })
          yield* eventually("the redelivery", Effect.sync(() => seen.length >= 1), patience)
          assert.strictEqual(seen[0]!.unitId, message!.unitId)
          assert.isAbove(seen[0]!.attempt, firstAttempt)
        }))

      test("at most `concurrency` deliveries are in flight in one consumer", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const jobId = Fixtures.makeJobId()
          const regions = ["us-east-1", "us-west-2", "eu-west-1"] as const
          yield* queue.enqueue(regions.flatMap((r) => messagesOf(jobId, 3, r as Region)))
          let inFlight = 0
          let maxInFlight = 0
          let done = 0
          yield* startConsumer([jobId], {
            concurrency: 2,
            handler: () =>
              Effect.sync(() => {
                inFlight++
                maxInFlight = Math.max(maxInFlight, inFlight)
              }).pipe(
                Effect.andThen(Effect.sleep("40 millis")),
                Effect.ensuring(Effect.sync(() => {
                  inFlight--
                  done++
                })),
                Effect.as(Q.Done)
              )
          })
          yield* eventually("nine deliveries", Effect.sync(() => done >= 9))
          assert.isAtMost(maxInFlight, 2)
          assert.isAtLeast(maxInFlight, 1)
        }))

      test("cancelJob removes only that job's waiting units and reaches cancellations", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const cancelled = Fixtures.makeJobId()
          const other = Fixtures.makeJobId()
          const received = yield* Deferred.make<Domain.JobId>()
          yield* queue.cancellations.pipe(
            Stream.filter((id) => id === cancelled),
            Stream.take(1),
            Stream.runForEach((id) => Deferred.succeed(received, id)),
            Effect.forkScoped
          )
          const doomed = messagesOf(cancelled, 3)
          const kept = messagesOf(other, 2)
          yield* queue.enqueue([...doomed, ...kept])
          // Subscriptions may become active asynchronously (Redis SUBSCRIBE): cancel until one arrives.
          let got: Domain.JobId | undefined
          for (let i = 0; i < 50 && got === undefined; i++) {
            yield* queue.cancelJob(cancelled)
            const result = yield* Deferred.await(received).pipe(Effect.timeoutOption("200 millis"))
            if (result._tag === "Some") got = result.value
          }
          assert.strictEqual(got, cancelled)
          const seen: Array<Seen> = []
          yield* startConsumer([cancelled, other], { concurrency: 2, handler: (d) => record(seen, d).pipe(Effect.as(Q.Done)) })
          yield* eventually("the other job's units", Effect.sync(() => seen.length >= 2))
          yield* Effect.sleep("300 millis")
          assert.deepStrictEqual(seen.map((s) => s.unitId).sort(), kept.map((m) => m.unitId).sort())
        }))

      test("published progress events reach events subscribers", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const jobId = Fixtures.makeJobId()
          const received = yield* Deferred.make<Q.ProgressEvent>()
          yield* queue.events.pipe(
            Stream.filter((event) => event.jobId === jobId),
            Stream.take(1),
            Stream.runForEach((event) => Deferred.succeed(received, event)),
            Effect.forkScoped
          )
          const event = new Q.ProgressEvent({
            jobId,
            type: "unit-completed",
            unitId: Fixtures.makeUnitId(),
            status: "CERTIFIED",
            at: Fixtures.nextInstant()
          })
          let got: Q.ProgressEvent | undefined
          for (let i = 0; i < 50 && got === undefined; i++) {
            yield* queue.publish(event)
            const result = yield* Deferred.await(received).pipe(Effect.timeoutOption("200 millis"))
            if (result._tag === "Some") got = result.value
          }
          assert.isDefined(got)
          assert.deepStrictEqual({ ...got! }, { ...event })
        }))

      test("counts reflect waiting, active, delayed and failed units", () =>
        Effect.gen(function*() {
          const queue = yield* Q.Queue
          const jobId = Fixtures.makeJobId()
          const [toDelay, toFail, toHold] = messagesOf(jobId, 3)
          const before = yield* queue.counts
          yield* queue.enqueue([toDelay!, toFail!, toHold!])
          const enqueued = yield* queue.counts
          assert.strictEqual(enqueued.waiting - before.waiting, 3)
          const release = yield* Deferred.make<void>()
          const dead = yield* Deferred.make<void>()
          yield* startConsumer([jobId], {
            concurrency: 3,
            handler: (d) =>
              d.message.unitId === toDelay!.unitId
                ? Effect.succeed(Q.Retry({ delayMillis: 60_000, countsAsFailure: false, reason: "wait" }))
                : d.message.unitId === toFail!.unitId
                ? Effect.fail(new Error("always fails"))
                : Deferred.await(release).pipe(Effect.as(Q.Done)),
            onDeadLetter: () => Deferred.succeed(dead, undefined).pipe(Effect.asVoid)
          })
          yield* Deferred.await(dead).pipe(Effect.timeout(Duration.times(patience, 3)))
          yield* eventually(
            "one active, one delayed, one failed",
            queue.counts.pipe(Effect.map((c) =>
              c.waiting === before.waiting && c.active - before.active === 1 && c.delayed - before.delayed === 1 &&
              c.failed - before.failed === 1
            ))
          )
          yield* Deferred.succeed(release, undefined)
          yield* eventually("the held unit to finish", queue.counts.pipe(Effect.map((c) => c.active === before.active)))
          yield* queue.cancelJob(jobId)
          const after = yield* queue.counts
          assert.strictEqual(after.delayed, before.delayed)
          assert.strictEqual(after.waiting, before.waiting)
        }))
    })
  })
}
