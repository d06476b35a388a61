/**
 * The Queue conformance suite: every Queue adapter runs it in one line and must pass it.
 *
 * `suite(name, makeLayer)` builds the layer once, from the suite's own {@link Config} (a redelivery
 * policy with short, jitter-free delays and per-region limits on two regions only the suite uses),
 * and shares it across the tests (a Redis-backed queue keeps one connection). The redelivery tests
 * check the `RedeliveryPolicy` contract against the policy the queue reports, so no adapter keeps its
 * own copy of them. Each test uses a fresh job id and only looks at deliveries of its own job: units
 * left by another test are acknowledged and ignored, and counts are compared as deltas. Bodies run on
 * the live clock (`TestClock.withLive`) because queues wait on real timers; every assertion is on
 * counted events or on lower bounds of waits, which a slow machine cannot break. A consumer runs in
 * its own `Scope`, so both styles of `consume` pass: one that returns once started and one that runs
 * until interrupted.
 *
 * ```ts
 * QueueTest.suite("memory", (config) => MemoryQueue.layer(config))
 * ```
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import type * as Domain from "../Domain.ts"
import * as Q from "../Queue.ts"
import * as QueueSchedule from "../QueueSchedule.ts"
import * as RedeliveryPolicy from "../RedeliveryPolicy.ts"
import type { Region } from "../Region.ts"
import * as Fixtures from "./Fixtures.ts"

/** Options of the Queue conformance suite. */
export interface SuiteOptions {
  /** How long to wait for a unit whose consumer died or failed to be redelivered (default 5 seconds). */
  readonly redeliveryTimeout?: Duration.Input
}

/** A region with a concurrency limit of 2 (no start-rate limit); no other test uses it. */
const limitedRegion = "ap-south-1"
/** A region with a start rate of 4 per second; no other test uses it. */
const pacedRegion = "eu-north-1"
const pacedRate = 4

/** What the adapter's layer must be built with: the suite's redelivery policy and region limits. */
export interface Config {
  readonly redelivery: RedeliveryPolicy.RedeliveryPolicy
  readonly regionLimits: {
    readonly [limitedRegion]: Q.RegionLimit
    readonly [pacedRegion]: Q.RegionLimit
  }
}

/**
 * The suite's configuration. Delays are short and deterministic (100 ms doubling, at most 400 ms, no
 * jitter), so the suite can check that redeliveries wait at least what the policy says.
 */
export const config: Config = {
  redelivery: RedeliveryPolicy.make({
    maxAttempts: 3,
    maxStarts: 5,
    backoff: Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("400 millis")])
  }),
  regionLimits: {
    [limitedRegion]: { concurrency: 2, ratePerSecond: 0 },
    [pacedRegion]: { concurrency: 100, ratePerSecond: pacedRate }
  }
}

const usEast1 = "us-east-1" as Region

const messagesOf = (jobId: Domain.JobId, n: number, region: Region = usEast1): Array<Q.UnitMessage> =>
  Array.from({ length: n }, () =>
    new Q.UnitMessage({ unitId: Fixtures.makeUnitId(), jobId, modelId: Fixtures.makeModelId(), region }))

/** A record of one delivery seen by a test handler. */
interface Seen {
  readonly unitId: Domain.UnitId
  readonly attempt: number
  readonly failures: number
  readonly at: number
}

/** A record of one dead letter. */
interface Dead {
  readonly unitId: Domain.UnitId
  readonly lastError: string
  readonly attempts: number
}

const noDeadLetter = () => Effect.void

/** A delivery handler that records what it sees before answering. */
const recordInto = (seen: Array<Seen>) => (delivery: Q.Delivery) =>
  Clock.currentTimeMillis.pipe(Effect.map((at) => {
    seen.push({ unitId: delivery.message.unitId, attempt: delivery.attempt, failures: delivery.failures, at })
  }))

const deadInto = (dead: Array<Dead>) => (message: Q.UnitMessage, lastError: string, attempts: number) =>
  Effect.sync(() => {
    dead.push({ unitId: message.unitId, lastError, attempts })
  })

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

/**
 * Enqueue `units` units of a fresh job and consume them, one at a time unless told otherwise, with
 * `answer`; every delivery and dead letter is recorded.
 */
const consumeRecorded = Effect.fnUntraced(function*(
  units: number,
  answer: (
    delivery: Q.Delivery,
    recorded: { readonly messages: ReadonlyArray<Q.UnitMessage>; readonly seen: ReadonlyArray<Seen> }
  ) => Effect.Effect<Q.DeliveryResult, unknown>,
  concurrency = 1
) {
  const queue = yield* Q.Queue
  const jobId = Fixtures.makeJobId()
  const messages = messagesOf(jobId, units)
  yield* queue.enqueue(messages)
  const seen: Array<Seen> = []
  const dead: Array<Dead> = []
  yield* startConsumer([jobId], {
    concurrency,
    handler: (d) => recordInto(seen)(d).pipe(Effect.andThen(Effect.suspend(() => answer(d, { messages, seen })))),
    onDeadLetter: deadInto(dead)
  })
  return { queue, jobId, messages, seen, dead }
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

/** The policy's delay n in milliseconds (the suite's schedule has no jitter). */
const delayMillis = (policy: RedeliveryPolicy.RedeliveryPolicy, n: number) =>
  Effect.map(RedeliveryPolicy.delay(policy, n), Duration.toMillis)

/** `[attempt, failures]` of `n` starts that each failed: 1..n, with 0..n−1 failures before them. */
const countedStarts = (n: number) => Array.from({ length: n }, (_, i) => [i + 1, i])

/** `[attempt, failures]` of `n` starts that spent no failure. */
const uncountedStarts = (n: number) => Array.from({ length: n }, (_, i) => [i + 1, 0])

/** Timers and Redis keep whole milliseconds: a wait may look this much shorter than asked. */
const timerSlackMillis = 5

/** One conformance test: its body runs on the live clock with the suite's Queue and a scope. */
type Test = <A, E>(title: string, body: () => Effect.Effect<A, E, Q.Queue | Scope.Scope>) => void

/**
 * Run the Queue conformance suite against the layer `makeLayer` builds from the suite's {@link config}
 * (one shared instance; tests filter by their own job id).
 */
export const suite = (
  name: string,
  makeLayer: (config: Config) => Layer.Layer<Q.Queue, unknown>,
  options: SuiteOptions = {}
): void => {
  const redelivery = Duration.fromInputUnsafe(options.redeliveryTimeout ?? "5 seconds")
  const patience = Duration.sum(redelivery, Duration.seconds(5))
  describe(`Queue conformance (${name})`, () => {
    it.layer(makeLayer(config), { timeout: "60 seconds" })((it) => {
      const test: Test = (title, body) => it.effect(title, () => TestClock.withLive(Effect.suspend(body)))

      deliveryTests(test)
      redeliveryTests(test, patience)
      limitTests(test, patience)
      broadcastTests(test, patience)
      scheduleTests(test, patience)
      reconcileTests(test, patience)
      traceContextTests(test)
    })
  })
}

/** Delivery: the policy it reports, idempotent enqueue, acknowledgement. */
const deliveryTests = (test: Test): void => {
  test("the queue reports the redelivery policy it was built with", () =>
    Effect.gen(function*() {
      const { redelivery } = yield* Q.Queue
      assert.strictEqual(redelivery.maxAttempts, config.redelivery.maxAttempts)
      assert.strictEqual(redelivery.maxStarts, config.redelivery.maxStarts)
      for (const n of [1, 2, 3, 9]) {
        assert.strictEqual(yield* delayMillis(redelivery, n), yield* delayMillis(config.redelivery, n), `delay ${n}`)
      }
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
      yield* startConsumer([jobId], { concurrency: 4, handler: (d) => recordInto(seen)(d).pipe(Effect.as(Q.Done)) })
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
      yield* startConsumer([jobId], { concurrency: 2, handler: (d) => recordInto(seen)(d).pipe(Effect.as(Q.Done)) })
      yield* eventually("five deliveries", Effect.sync(() => seen.length >= 5))
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(seen.map((s) => s.unitId).sort(), messages.map((m) => m.unitId).sort())
    }))
}

/** Redelivery: retries, failures, starts, postpones, interruptions, dead letters. */
const redeliveryTests = (test: Test, patience: Duration.Duration): void => {
  test("an uncounted Retry redelivers the unit with attempt + 1 after its delay, spending no failure", () =>
    Effect.gen(function*() {
      const { seen } = yield* consumeRecorded(1, (d) =>
        Effect.succeed(
          d.attempt === 1 ? Q.Retry({ delayMillis: 300, countsAsFailure: false, reason: "throttled" }) : Q.Done
        ))
      yield* eventually("the retried delivery", Effect.sync(() => seen.length >= 2), patience)
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(seen.map((s) => [s.attempt, s.failures]), [[1, 0], [2, 0]])
      assert.isAtLeast(seen[1]!.at - seen[0]!.at, 300 - timerSlackMillis)
    }))

  test("failures and defects are redelivered after the policy's backoff until maxAttempts, then dead-lettered once with the last error", () =>
    Effect.gen(function*() {
      const { dead, jobId, messages: [message], queue, seen } = yield* consumeRecorded(1, (d, { messages }) =>
        d.message.unitId !== messages[0]!.unitId
          ? Effect.succeed(Q.Done)
          : d.attempt % 2 === 0
          ? Effect.die(new Error(`defect-${d.attempt}`))
          : Effect.fail(new Error(`boom-${d.attempt}`)))
      const policy = queue.redelivery
      const [healthy] = messagesOf(jobId, 1)
      yield* eventually("the dead letter", Effect.sync(() => dead.length >= 1), Duration.times(patience, 3))
      const max = policy.maxAttempts
      const mine = seen.filter((s) => s.unitId === message!.unitId)
      assert.deepStrictEqual(mine.map((s) => [s.attempt, s.failures]), countedStarts(max))
      for (let n = 1; n < max; n++) {
        // The wait before start n + 1 is at least the policy's delay n (the failure came after start n).
        assert.isAtLeast(mine[n]!.at - mine[n - 1]!.at, (yield* delayMillis(policy, n)) - timerSlackMillis, `wait ${n}`)
      }
      assert.deepStrictEqual(dead.map((d) => [d.unitId, d.attempts]), [[message!.unitId, max]])
      assert.include(dead[0]!.lastError, max % 2 === 0 ? `defect-${max}` : `boom-${max}`)
      // The consumer survived the failures: it still delivers.
      yield* queue.enqueue([healthy!])
      yield* eventually("a later delivery", Effect.sync(() => seen.some((s) => s.unitId === healthy!.unitId)))
      yield* Effect.sleep("300 millis")
      assert.strictEqual(dead.length, 1)
      assert.strictEqual(seen.filter((s) => s.unitId === message!.unitId).length, max)
    }))

  test("a counted Retry spends the failure budget: after maxAttempts the unit is dead-lettered once with its last reason", () =>
    Effect.gen(function*() {
      const { dead, messages: [message], queue, seen } = yield* consumeRecorded(1, (d) =>
        Effect.succeed(Q.Retry({ delayMillis: 20, countsAsFailure: true, reason: `unavailable-${d.attempt}` })))
      const max = queue.redelivery.maxAttempts
      yield* eventually("the dead letter", Effect.sync(() => dead.length >= 1), patience)
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(seen.map((s) => [s.attempt, s.failures]), countedStarts(max))
      assert.deepStrictEqual(dead, [{ unitId: message!.unitId, lastError: `unavailable-${max}`, attempts: max }])
    }))

  test("uncounted Retries never dead-letter before maxStarts, and a unit that reaches maxStarts is dead-lettered once", () =>
    Effect.gen(function*() {
      const { maxAttempts, maxStarts } = (yield* Q.Queue).redelivery
      assert.isAbove(maxStarts, maxAttempts, "the suite's policy lets uncounted starts outnumber failures")
      const { dead, messages: [waitsForever, recovers], seen } = yield* consumeRecorded(2, (d, { messages }) =>
        Effect.succeed(
          d.message.unitId === messages[1]!.unitId && d.attempt === maxStarts - 1
            ? Q.Done
            : Q.Retry({ delayMillis: 20, countsAsFailure: false, reason: `throttled-${d.attempt}` })
        ), 2)
      yield* eventually("the dead letter", Effect.sync(() => dead.length >= 1), patience)
      yield* eventually(
        "the recovering unit's last start",
        Effect.sync(() => seen.filter((s) => s.unitId === recovers!.unitId).length >= maxStarts - 1),
        patience
      )
      yield* Effect.sleep("300 millis")
      const startsOf = (unitId: Domain.UnitId) => seen.filter((s) => s.unitId === unitId)
      assert.deepStrictEqual(startsOf(waitsForever!.unitId).map((s) => [s.attempt, s.failures]), uncountedStarts(maxStarts))
      assert.deepStrictEqual(startsOf(recovers!.unitId).map((s) => [s.attempt, s.failures]), uncountedStarts(maxStarts - 1))
      assert.deepStrictEqual(dead, [
        { unitId: waitsForever!.unitId, lastError: `throttled-${maxStarts}`, attempts: maxStarts }
      ])
    }))

  test("Postpone spends nothing: a unit postponed more often than maxStarts keeps its attempt and is never dead-lettered", () =>
    Effect.gen(function*() {
      const postpones = (yield* Q.Queue).redelivery.maxStarts * 2
      const { dead, seen } = yield* consumeRecorded(1, (_, recorded) =>
        Effect.sync(() =>
          recorded.seen.length <= postpones ? Q.Postpone({ delayMillis: 10, reason: "job paused" }) : Q.Done
        ))
      yield* eventually("the delivery after the pause", Effect.sync(() => seen.length > postpones), patience)
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(seen.map((s) => [s.attempt, s.failures]), Array.from({ length: postpones + 1 }, () => [1, 0]))
      assert.deepStrictEqual(dead, [])
    }))

  test("interrupting the consumer mid-delivery releases the unit to a new consumer without counting a failure", () =>
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
      yield* startConsumer([jobId], { concurrency: 1, handler: (d) => recordInto(seen)(d).pipe(Effect.as(Q.Done)) })
      yield* eventually("the redelivery", Effect.sync(() => seen.length >= 1), patience)
      assert.strictEqual(seen[0]!.unitId, message!.unitId)
      assert.isAbove(seen[0]!.attempt, firstAttempt)
      assert.strictEqual(seen[0]!.failures, 0)
    }))

  test("a unit whose starts were all spent by interruptions is dead-lettered without running the handler again", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const maxStarts = queue.redelivery.maxStarts
      const jobId = Fixtures.makeJobId()
      const [message] = messagesOf(jobId, 1)
      yield* queue.enqueue([message!])
      for (let start = 1; start <= maxStarts; start++) {
        const started = yield* Deferred.make<number>()
        const stop = yield* startConsumer([jobId], {
          concurrency: 1,
          handler: (d) => Deferred.succeed(started, d.attempt).pipe(Effect.andThen(Effect.never))
        })
        assert.strictEqual(yield* Deferred.await(started).pipe(Effect.timeout(patience)), start)
        yield* stop
      }
      const seen: Array<Seen> = []
      const dead: Array<Dead> = []
      yield* startConsumer([jobId], {
        concurrency: 1,
        handler: (d) => recordInto(seen)(d).pipe(Effect.as(Q.Done)),
        onDeadLetter: deadInto(dead)
      })
      yield* eventually("the dead letter", Effect.sync(() => dead.length >= 1), patience)
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(seen, [])
      assert.deepStrictEqual(dead.map((d) => [d.unitId, d.attempts]), [[message!.unitId, maxStarts]])
      assert.include(dead[0]!.lastError, "maxStarts")
    }))
}

/** Limits: per-consumer concurrency, per-region concurrency and start rate across consumers. */
const limitTests = (test: Test, patience: Duration.Duration): void => {
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

  test("the per-region concurrency limit holds across two consumers, and an unlimited region is not held back", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const limit = config.regionLimits[limitedRegion].concurrency
      const jobId = Fixtures.makeJobId()
      const limited = messagesOf(jobId, limit * 3, limitedRegion as Region)
      const free = messagesOf(jobId, 3, "us-west-2" as Region)
      const gate = yield* Deferred.make<void>()
      const inFlight = new Map<string, number>()
      const most = new Map<string, number>()
      let done = 0
      const handler = (d: Q.Delivery) =>
        Effect.sync(() => {
          const n = (inFlight.get(d.message.region) ?? 0) + 1
          inFlight.set(d.message.region, n)
          most.set(d.message.region, Math.max(most.get(d.message.region) ?? 0, n))
        }).pipe(
          Effect.andThen(Deferred.await(gate)),
          Effect.ensuring(Effect.sync(() => {
            inFlight.set(d.message.region, inFlight.get(d.message.region)! - 1)
            done++
          })),
          Effect.as(Q.Done)
        )
      yield* startConsumer([jobId], { concurrency: 4, handler })
      yield* startConsumer([jobId], { concurrency: 4, handler })
      yield* queue.enqueue([...limited, ...free])
      yield* eventually(
        "the limited region full and every unit of the free region running",
        Effect.sync(() => inFlight.get(limitedRegion) === limit && inFlight.get("us-west-2") === free.length),
        patience
      )
      // Held at the limit: no further unit of the region starts while the slots stay taken.
      yield* Effect.sleep("300 millis")
      assert.strictEqual(inFlight.get(limitedRegion), limit)
      yield* Deferred.succeed(gate, undefined)
      yield* eventually("every unit", Effect.sync(() => done === limited.length + free.length), patience)
      assert.strictEqual(most.get(limitedRegion), limit)
      assert.strictEqual(most.get("us-west-2"), free.length)
    }))

  test("the per-region start rate holds across two consumers", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const interval = 1000 / pacedRate
      const jobId = Fixtures.makeJobId()
      const messages = messagesOf(jobId, 6, pacedRegion as Region)
      let started = 0
      const handler = () => Effect.sync(() => started++).pipe(Effect.as(Q.Done))
      yield* startConsumer([jobId], { concurrency: 4, handler })
      yield* startConsumer([jobId], { concurrency: 4, handler })
      const t0 = yield* Clock.currentTimeMillis
      yield* queue.enqueue(messages)
      // Starts are at least `interval` apart from t0 on: by any instant t, at most 1 + (t − t0) / interval
      // have started (plus one for clock granularity). A slow machine only starts fewer.
      yield* eventually(
        "every start",
        Effect.gen(function*() {
          const count = started
          const elapsed = (yield* Clock.currentTimeMillis) - t0
          assert.isAtMost(count, 2 + Math.floor(elapsed / interval), `${count} starts after ${elapsed} ms`)
          return count === messages.length
        }),
        patience
      )
    }))
}

/** Cancellation, progress events and counts. */
const broadcastTests = (test: Test, patience: Duration.Duration): void => {
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
      yield* startConsumer([cancelled, other], { concurrency: 2, handler: (d) => recordInto(seen)(d).pipe(Effect.as(Q.Done)) })
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
}

/** Issue 15: the scheduler seam (`Queue.schedule`): one run per tick across schedulers, aligned ticks, cron, bad options. */
const scheduleTests = (test: Test, patience: Duration.Duration): void => {
  test("schedule runs each tick exactly once across two schedulers of one name, on aligned instants, until their scopes close", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const name = `contract-${Fixtures.makeJobId().slice(-12)}`
      const every = 300
      const runs: Array<{ readonly by: string; readonly key: string; readonly at: number }> = []
      const start = (by: string) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          yield* queue.schedule({ name, every: Duration.millis(every) }, (tick) =>
            Effect.sync(() => {
              assert.strictEqual(tick.name, name)
              runs.push({ by, key: tick.key, at: DateTime.toEpochMillis(tick.at) })
            })).pipe(Scope.provide(scope))
          return scope
        })
      const first = yield* start("first")
      const second = yield* start("second")
      yield* eventually("four ticks", Effect.sync(() => runs.length >= 4), patience)
      yield* Scope.close(first, Exit.void)
      yield* Scope.close(second, Exit.void)
      const stopped = runs.length
      yield* Effect.sleep(Duration.millis(every * 4))
      assert.strictEqual(runs.length, stopped, "no tick runs once every scheduler's scope is closed")
      const keys = runs.map((r) => r.key)
      assert.strictEqual(new Set(keys).size, keys.length, `each tick runs once: ${keys.join(", ")}`)
      for (const run of runs) {
        assert.strictEqual(run.at % every, 0, "ticks are aligned to multiples of every")
        assert.strictEqual(run.key, QueueSchedule.keyOf(name, run.at), "the key names the tick")
      }
    }))

  test("a cron schedule runs on the cron's instants", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const name = `contract-cron-${Fixtures.makeJobId().slice(-12)}`
      const runs: Array<number> = []
      yield* queue.schedule({ name, cron: "* * * * * *" }, (tick) =>
        Effect.sync(() => {
          runs.push(DateTime.toEpochMillis(tick.at))
        }))
      yield* eventually("two cron ticks", Effect.sync(() => runs.length >= 2), patience)
      assert.deepStrictEqual(runs.map((at) => at % 1000), runs.map(() => 0), "every second, on the second")
      assert.strictEqual(new Set(runs).size, runs.length)
    }))

  test("a failing tick is logged and later ticks still run", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const name = `contract-fail-${Fixtures.makeJobId().slice(-12)}`
      let runs = 0
      yield* queue.schedule({ name, every: "200 millis" }, () =>
        Effect.suspend(() => {
          runs++
          return runs === 1 ? Effect.fail(new Error("tick failed")) : Effect.void
        }))
      yield* eventually("a tick after the failed one", Effect.sync(() => runs >= 2), patience)
    }))

  test("schedule rejects invalid options with a non-retryable QueueError naming the problem", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const cases: ReadonlyArray<readonly [Q.ScheduleOptions, string]> = [
        [{ name: "both", every: "1 second", cron: "* * * * *" }, "exactly one of every or cron"],
        [{ name: "neither" }, "exactly one of every or cron"],
        [{ name: "bad name!", every: "1 second" }, "name"],
        [{ name: "zero", every: Duration.zero }, "every"],
        [{ name: "cron", cron: "not a cron" }, "cron"]
      ]
      for (const [options, mentions] of cases) {
        const exit = yield* queue.schedule(options, () => Effect.void).pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(exit), `${options.name} is rejected`)
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.instanceOf(error, Q.QueueError)
        assert.isFalse((error as Q.QueueError).retryable)
        assert.include((error as Q.QueueError).message, mentions)
      }
    }))
}

/** Issue 15: the reconciler's queue checks (`inspect`, `requeue`). */
const reconcileTests = (test: Test, patience: Duration.Duration): void => {
  test("inspect tells waiting, active, failed (with its last error) and missing units apart", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const jobId = Fixtures.makeJobId()
      const [done, dead, held, never] = messagesOf(jobId, 4)
      const release = yield* Deferred.make<void>()
      let finished = 0
      yield* queue.enqueue([done!, dead!, held!])
      const waiting = yield* queue.inspect([done!.unitId])
      assert.deepStrictEqual(waiting.map((e) => e.state), ["waiting"])
      const deadLetters: Array<Dead> = []
      yield* startConsumer([jobId], {
        concurrency: 3,
        handler: (d) =>
          d.message.unitId === dead!.unitId
            ? Effect.fail(new Error("always fails"))
            : d.message.unitId === held!.unitId
            ? Deferred.await(release).pipe(Effect.as(Q.Done))
            : Effect.sync(() => (finished++, Q.Done)),
        onDeadLetter: deadInto(deadLetters)
      })
      yield* eventually("the dead letter and the done unit", Effect.sync(() => deadLetters.length === 1 && finished === 1), Duration.times(patience, 3))
      const entries = yield* eventually("settled states", Effect.map(queue.inspect([done!.unitId, dead!.unitId, held!.unitId, never!.unitId]), (es) =>
        es[1]!.state === "failed" && es[2]!.state === "active" && es[0]!.state !== "waiting" && es[0]!.state !== "active"))
        .pipe(Effect.andThen(queue.inspect([done!.unitId, dead!.unitId, held!.unitId, never!.unitId])))
      assert.deepStrictEqual(entries.map((e) => e.unitId), [done!.unitId, dead!.unitId, held!.unitId, never!.unitId])
      assert.include(["completed", "missing"], entries[0]!.state, "an acknowledged unit is completed or forgotten")
      assert.strictEqual(entries[1]!.state, "failed")
      assert.include(entries[1]!.lastError ?? "", "always fails")
      assert.strictEqual(entries[2]!.state, "active")
      assert.strictEqual(entries[3]!.state, "missing")
      assert.isNull(entries[3]!.lastError)
      yield* Deferred.succeed(release, undefined)
    }))

  test("requeue enqueues afresh units the queue finished, dead-lettered or lost, and leaves active ones alone", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const jobId = Fixtures.makeJobId()
      const [done, dead, held, lost] = messagesOf(jobId, 4)
      const release = yield* Deferred.make<void>()
      const seen: Array<Seen> = []
      const deadLetters: Array<Dead> = []
      let healed = false
      yield* queue.enqueue([done!, dead!, held!])
      yield* startConsumer([jobId], {
        concurrency: 4,
        handler: (d) =>
          recordInto(seen)(d).pipe(Effect.andThen(
            d.message.unitId === held!.unitId
              ? Deferred.await(release).pipe(Effect.as(Q.Done))
              : d.message.unitId === dead!.unitId && !healed
              ? Effect.fail(new Error("always fails"))
              : Effect.succeed(Q.Done)
          )),
        onDeadLetter: deadInto(deadLetters)
      })
      yield* eventually("the dead letter", Effect.sync(() => deadLetters.length === 1), Duration.times(patience, 3))
      // The dead-letter callback can run before the queue has settled the unit as failed (BullMQ
      // moves it after the handler returns): requeue now would find it still active and skip it.
      yield* eventually("settled states", Effect.map(queue.inspect([done!.unitId, dead!.unitId, held!.unitId]), (es) =>
        es[0]!.state !== "waiting" && es[0]!.state !== "active" && es[1]!.state === "failed" && es[2]!.state === "active"))
      healed = true
      const before = seen.length
      yield* queue.requeue([done!, dead!, held!, lost!])
      yield* eventually("three fresh deliveries", Effect.sync(() => seen.length - before >= 3), patience)
      yield* Deferred.succeed(release, undefined)
      yield* Effect.sleep("300 millis")
      const again = seen.slice(before)
      assert.deepStrictEqual(again.map((s) => s.unitId).sort(), [done!.unitId, dead!.unitId, lost!.unitId].sort())
      for (const s of again) assert.deepStrictEqual([s.attempt, s.failures], [1, 0], "counters start afresh")
      assert.strictEqual(seen.filter((s) => s.unitId === held!.unitId).length, 1, "the active unit is not duplicated")
    }))
}

/** Issue 18: the creating request's trace context travels with each unit, and its absence too. */
const traceContextTests = (test: Test): void => {
  test("a message's traceparent is delivered as enqueued; a message without one arrives without one", () =>
    Effect.gen(function*() {
      const queue = yield* Q.Queue
      const jobId = Fixtures.makeJobId()
      const [traced, plain] = messagesOf(jobId, 2)
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
      yield* queue.enqueue([new Q.UnitMessage({ ...traced!, traceparent }), plain!])
      const delivered = new Map<string, string | undefined>()
      yield* startConsumer([jobId], {
        concurrency: 2,
        handler: (d) => Effect.sync(() => delivered.set(d.message.unitId, d.message.traceparent)).pipe(Effect.as(Q.Done))
      })
      yield* eventually("both deliveries", Effect.sync(() => delivered.size >= 2))
      assert.strictEqual(delivered.get(traced!.unitId), traceparent)
      assert.strictEqual(delivered.get(plain!.unitId), undefined)
    }))
}
