/**
 * Core's reconciler (issue 15) on the in-memory Storage and Queue, under `TestClock`: what a pass
 * repairs, what it leaves alone, and that it repeats safely. The real-process version (API killed
 * at commit, Redis flushed, poison payloads) is in `examples/worker/test/reconcile.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Domain, Queue, Reconciler, Storage } from "@myia/certification"
import { Fixtures } from "@myia/certification/testing"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { TestClock } from "effect/testing"
import { MemoryQueue, MemoryStorage } from "../src/index.ts"

const grace = "1 minute"
const options: Reconciler.Options = { grace, batch: 2 }
const maxStarts = 3

const services = Layer.mergeAll(
  MemoryStorage.layer,
  MemoryQueue.layer({ redelivery: { maxAttempts: 1, maxStarts } })
)

/** Let forked fibers run. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

/** A job committed with its units, as `Certification` writes it before enqueueing (not yet enqueued). */
const committed = Effect.fnUntraced(function*(n: number) {
  const storage = yield* Storage.Storage
  const job = Fixtures.makeJob({ createdAt: new Date(yield* Clock.currentTimeMillis).toISOString() as Domain.Timestamp })
  const units = Fixtures.makeUnits(job, n)
  yield* storage.createJob(job, units)
  return { job, units }
})

/** A job whose enqueue finished, with only `inQueue` of its units actually in the queue. */
const enqueued = Effect.fnUntraced(function*(n: number, inQueue: (i: number) => boolean) {
  const storage = yield* Storage.Storage
  const queue = yield* Queue.Queue
  const { job, units } = yield* committed(n)
  yield* storage.markQueued(units.map((u) => u.id))
  yield* storage.transitionJob(job.id, { from: ["PENDING"], to: "QUEUED" })
  yield* queue.enqueue(units.filter((_, i) => inQueue(i)).map(messageOf))
  yield* storage.markEnqueued(job.id)
  return { job, units }
})

const messageOf = (u: Domain.Unit) =>
  new Queue.UnitMessage({ unitId: u.id, jobId: u.jobId, modelId: u.modelId, region: u.region })

const statesOf = Effect.fnUntraced(function*(units: ReadonlyArray<Domain.Unit>) {
  const entries = yield* (yield* Queue.Queue).inspect(units.map((u) => u.id))
  return entries.map((e) => e.state)
})

const unitOf = Effect.fnUntraced(function*(id: Domain.UnitId) {
  return Option.getOrThrow(yield* (yield* Storage.Storage).getUnit(id))
})

const jobOf = Effect.fnUntraced(function*(id: Domain.JobId) {
  return Option.getOrThrow(yield* (yield* Storage.Storage).getJob(id))
})

describe("Reconciler", () => {
  it.effect("a job committed but never enqueued is enqueued by the first pass after the grace, once", () =>
    Effect.gen(function*() {
      const { job, units } = yield* committed(5)
      const early = yield* Reconciler.reconcileOnce(options)
      assert.strictEqual(early.resumedJobs, 0, "within the grace the creator may still be enqueueing")
      assert.deepStrictEqual(yield* statesOf(units), units.map(() => "missing"))
      yield* TestClock.adjust("61 seconds")
      const report = yield* Reconciler.reconcileOnce(options)
      assert.strictEqual(report.resumedJobs, 1)
      assert.deepStrictEqual(yield* statesOf(units), units.map(() => "waiting"))
      assert.strictEqual((yield* jobOf(job.id)).status, "QUEUED")
      for (const u of units) assert.strictEqual((yield* unitOf(u.id)).status, "QUEUED")
      // Repeating is a no-op: nothing to resume, nothing missing (the units are waiting).
      assert.deepStrictEqual(yield* Reconciler.reconcileOnce(options), {
        resumedJobs: 0,
        requeuedUnits: 0,
        inconclusiveUnits: 0,
        finishedJobs: 0
      })
    }).pipe(Effect.provide(services)))

  it.effect("issue 10: the grace runs on the store's clock, whatever clock stamped the job's createdAt (far ahead, far behind)", () =>
    Effect.gen(function*() {
      const storage = yield* Storage.Storage
      const now = yield* Clock.currentTimeMillis
      assert.strictEqual(yield* storage.databaseTime, now, "the memory store's clock is its Clock")
      const stamped = (millis: number) => {
        const job = Fixtures.makeJob({ createdAt: new Date(millis).toISOString() as Domain.Timestamp })
        return storage.createJob(job, Fixtures.makeUnits(job, 2)).pipe(Effect.as(job))
      }
      const ahead = yield* stamped(now + 365 * 86_400_000)
      const behind = yield* stamped(Date.UTC(1990, 0, 1))
      const early = yield* Reconciler.reconcileOnce(options)
      assert.strictEqual(early.resumedJobs, 0, "a creator whose clock is behind still gets its grace")
      yield* TestClock.adjust("61 seconds")
      const report = yield* Reconciler.reconcileOnce(options)
      assert.strictEqual(report.resumedJobs, 2, "a creator whose clock is ahead does not hide its job from the reconciler")
      for (const job of [ahead, behind]) assert.strictEqual((yield* jobOf(job.id)).status, "QUEUED")
    }).pipe(Effect.provide(services)))

  it.effect("units the queue lost are enqueued again, in batches; those already waiting are left alone", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.Queue
      const { units } = yield* enqueued(5, (i) => i === 0)
      yield* TestClock.adjust("61 seconds")
      const before = yield* queue.counts
      const report = yield* Reconciler.reconcileOnce(options)
      assert.strictEqual(report.requeuedUnits, 4)
      assert.deepStrictEqual(yield* statesOf(units), units.map(() => "waiting"))
      assert.strictEqual((yield* queue.counts).waiting - before.waiting, 4)
    }).pipe(Effect.provide(services)))

  it.effect("a dead-lettered unit, and one lost after its starts are spent, end INCONCLUSIVE with the reason; the job completes", () =>
    Effect.gen(function*() {
      const storage = yield* Storage.Storage
      const queue = yield* Queue.Queue
      const { job, units } = yield* enqueued(3, (i) => i === 0)
      const [dead, spent, done] = units
      // The dead letter: the policy gives up after one failure, and nobody wrote its verdict.
      yield* queue.consume({
        concurrency: 1,
        handler: () => Effect.fail(new Error("ThrottlingException: rate exceeded\n    at stack")),
        onDeadLetter: () => Effect.void
      })
      yield* settle
      assert.deepStrictEqual(yield* statesOf([dead!]), ["failed"])
      // Lost with its starts spent: claimed maxStarts times already.
      for (let i = 0; i < maxStarts; i++) {
        const lease = `l${i}`
        yield* storage.claimUnit(spent!.id, lease)
        yield* storage.releaseUnit(spent!.id, lease)
      }
      // The third unit is finished already.
      yield* storage.claimUnit(done!.id, "x")
      yield* storage.completeUnit(done!.id, "x", Fixtures.makeOutcome("CERTIFIED"))
      yield* TestClock.adjust("61 seconds")
      const report = yield* Reconciler.reconcileOnce(options)
      assert.strictEqual(report.inconclusiveUnits, 2)
      assert.strictEqual(report.requeuedUnits, 0)
      const deadRow = yield* unitOf(dead!.id)
      assert.strictEqual(deadRow.status, "INCONCLUSIVE")
      assert.include(deadRow.error?.message ?? "", "dead-lettered by the queue: Error: ThrottlingException: rate exceeded")
      assert.notInclude(deadRow.error?.message ?? "", "at stack")
      const spentRow = yield* unitOf(spent!.id)
      assert.strictEqual(spentRow.status, "INCONCLUSIVE")
      assert.include(spentRow.error?.message ?? "", `after ${maxStarts} starts`)
      assert.strictEqual((yield* jobOf(job.id)).status, "COMPLETED", "its last unit ended: the job finishes")
    }).pipe(Effect.provide(services)))

  it.effect("a job whose units are all terminal but which never moved to COMPLETED is finished", () =>
    Effect.gen(function*() {
      const storage = yield* Storage.Storage
      const { job, units } = yield* enqueued(2, () => true)
      for (const u of units) {
        yield* storage.claimUnit(u.id, "l")
        yield* storage.completeUnit(u.id, "l", Fixtures.makeOutcome("FAILED"))
      }
      assert.strictEqual((yield* jobOf(job.id)).status, "QUEUED")
      const report = yield* Reconciler.reconcileOnce(options)
      assert.strictEqual(report.finishedJobs, 1)
      assert.strictEqual((yield* jobOf(job.id)).status, "COMPLETED")
    }).pipe(Effect.provide(services)))

  it.effect("paused and cancelled jobs are left alone", () =>
    Effect.gen(function*() {
      const storage = yield* Storage.Storage
      const paused = yield* enqueued(2, () => false)
      yield* storage.transitionJob(paused.job.id, { from: ["QUEUED"], to: "PAUSED" })
      const cancelled = yield* enqueued(2, () => false)
      yield* storage.transitionJob(cancelled.job.id, { from: ["QUEUED"], to: "CANCELLED" })
      yield* TestClock.adjust("61 seconds")
      const report = yield* Reconciler.reconcileOnce(options)
      assert.strictEqual(report.requeuedUnits, 0)
      assert.deepStrictEqual(yield* statesOf([...paused.units, ...cancelled.units]), ["missing", "missing", "missing", "missing"])
    }).pipe(Effect.provide(services)))

  it.effect("run reconciles at once and then on every tick of its schedule", () =>
    Effect.gen(function*() {
      const { units } = yield* enqueued(1, () => false)
      yield* TestClock.adjust("61 seconds")
      yield* Reconciler.run({ ...options, every: "10 seconds" })
      yield* settle
      assert.deepStrictEqual(yield* statesOf(units), ["waiting"], "the start-up pass")
      const later = yield* enqueued(1, () => false)
      for (let i = 0; i < 7; i++) {
        yield* TestClock.adjust("10 seconds")
        yield* settle
        if (i < 5) assert.deepStrictEqual(yield* statesOf(later.units), ["missing"], `within the grace (+${(i + 1) * 10} s)`)
      }
      assert.deepStrictEqual(yield* statesOf(later.units), ["waiting"], "a scheduled pass once the grace is over")
    }).pipe(Effect.scoped, Effect.provide(services)))
})
