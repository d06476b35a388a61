/**
 * The reconciler (issue 15): storage is the source of truth, and this makes the queue agree with it,
 * so no unit is ever stranded.
 *
 * One pass (`reconcileOnce`), with `cutoff = now − grace` (now on the database's clock):
 * 1. **Resume enqueues**: a job created before the cutoff whose enqueue never finished (its creator
 *    died between the commit and the enqueue) has its non-terminal units queued in storage and
 *    enqueued (idempotent by unit id), then is marked enqueued. Anyone may do it, any number of times.
 * 2. **Check units against the queue**: each non-terminal unit of a live job enqueued before the
 *    cutoff is looked up in the queue. Waiting, delayed or active: fine. Dead-lettered (`failed`):
 *    the policy is spent, so the unit ends INCONCLUSIVE with the dead letter's error. Missing or
 *    acknowledged (`completed`) while the row is not terminal (the queue lost its data, or a poison
 *    payload): re-enqueued afresh, unless its starts already reach the redelivery policy's
 *    `maxStarts`, then INCONCLUSIVE with the reason. Walked by unit id in batches.
 * 3. **Finish jobs** whose units are all terminal (a worker died between the last unit's write and
 *    the job's transition).
 *
 * Every terminal write is the fenced `claimUnit` + `completeUnit` a worker does, so a pass racing a
 * worker (or another pass) writes at most one terminal row per unit. `run` does one pass at once
 * (worker start-up) and then one per tick of `Queue.schedule` — one actor across every process.
 * What a pass repaired is logged, counted (`certification_reconciler_repairs_total`) and published
 * as progress events.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { JobId, Timestamp, Unit } from "./Domain.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import * as JobStateMachine from "./JobStateMachine.ts"
import * as Metrics from "./Metrics.ts"
import * as Progress from "./Progress.ts"
import { type Entry, ProgressEvent, Queue, type QueueError, UnitMessage } from "./Queue.ts"
import * as Runner from "./Runner.ts"
import { Storage } from "./Storage.ts"

/** Options of the reconciler. */
export interface Options {
  /** How often a pass runs across all processes (default 30 seconds). */
  readonly every?: Duration.Input | undefined
  /**
   * How old a job's creation (or enqueue) must be before a pass touches its units (default 60
   * seconds): leaves time to the creator's own enqueue.
   */
  readonly grace?: Duration.Input | undefined
  /** Units read and looked up per batch (default 500). */
  readonly batch?: number | undefined
  /** The schedule's name (default `reconciler`; several deployments on one queue: give each its own). */
  readonly name?: string | undefined
}

/** What one pass repaired. */
export interface Report {
  /** Jobs whose interrupted enqueue was finished. */
  readonly resumedJobs: number
  /** Units whose queue entry was missing or acknowledged, enqueued again. */
  readonly requeuedUnits: number
  /** Units ended INCONCLUSIVE (dead-lettered, or lost with their starts spent). */
  readonly inconclusiveUnits: number
  /** Jobs moved to COMPLETED because all their units were terminal. */
  readonly finishedJobs: number
}

const defaults = { every: Duration.seconds(30), grace: Duration.seconds(60), batch: 500, name: "reconciler" }

const nowIso = Effect.map(DateTime.now, DateTime.formatIso)

const messageOf = (unit: Unit) =>
  new UnitMessage({ unitId: unit.id, jobId: unit.jobId, modelId: unit.modelId, region: unit.region })

const publish = Effect.fnUntraced(function*(
  jobId: JobId,
  type: ProgressEvent["type"],
  unitId: Unit["id"] | null,
  status: string
) {
  const queue = yield* Queue
  const storage = yield* Storage
  // Issue 18: stored (numbered per job, so SSE resumes see it) and published.
  yield* Progress.record(storage, queue)(new ProgressEvent({ jobId, type, unitId, status, at: yield* nowIso }))
})

/** Move the job to COMPLETED if all its units are terminal (storage refuses otherwise); true when it did. */
export const finishJob = Effect.fn("Reconciler.finishJob")(function*(jobId: JobId) {
  const storage = yield* Storage
  const done = yield* storage.transitionJob(jobId, { from: JobStateMachine.claimableJobStatuses, to: "COMPLETED" })
  if (Option.isNone(done)) return false
  yield* publish(jobId, "job-status", null, "COMPLETED")
  return true
})

/**
 * End a non-terminal unit INCONCLUSIVE with `reason`, through the same fenced claim and write as a
 * worker, then finish its job if that was its last unit. True when this call wrote the verdict.
 */
export const endInconclusive = Effect.fn("Reconciler.endInconclusive")(function*(
  unit: Pick<Unit, "id" | "jobId" | "region">,
  reason: string
) {
  const storage = yield* Storage
  const lease = `${unit.id}.reconciler.${crypto.randomUUID()}`
  const claimed = yield* storage.claimUnit(unit.id, lease)
  if (Option.isNone(claimed)) return false
  const error = ErrorCategory.make("UNKNOWN", { message: reason.slice(0, 500) })
  const written = yield* storage.completeUnit(unit.id, lease, Runner.outcomeWithoutTests("INCONCLUSIVE", error))
  if (written) {
    yield* Metrics.recordUnit("INCONCLUSIVE", unit.region)
    yield* publish(unit.jobId, "unit-completed", unit.id, "INCONCLUSIVE")
  }
  yield* finishJob(unit.jobId)
  return written
})

/**
 * Finish an interrupted enqueue: queue the job's non-terminal units in storage, move a PENDING job
 * to QUEUED, enqueue the units (idempotent) and mark the job enqueued. Safe to repeat and to race.
 */
export const resumeEnqueue = Effect.fn("Reconciler.resumeEnqueue")(function*(jobId: JobId) {
  const storage = yield* Storage
  const queue = yield* Queue
  const job = yield* storage.getJob(jobId)
  if (Option.isNone(job)) return false
  if (JobStateMachine.isTerminalJob(job.value.status)) {
    yield* storage.markEnqueued(jobId)
    return false
  }
  const units = (yield* storage.getUnits(jobId)).filter((u) => !JobStateMachine.isTerminalUnit(u.status))
  yield* storage.markQueued(units.map((u) => u.id))
  const queued = yield* storage.transitionJob(jobId, { from: ["PENDING"], to: "QUEUED" })
  if (Option.isSome(queued)) yield* publish(jobId, "job-status", null, "QUEUED")
  yield* queue.enqueue(units.map(messageOf))
  yield* storage.markEnqueued(jobId)
  return true
})

/** What to do with a non-terminal unit, given its queue entry. */
type Action =
  | { readonly _tag: "Keep" }
  | { readonly _tag: "Requeue" }
  | { readonly _tag: "Inconclusive"; readonly reason: string }

/** The policy as data: a queue state and the unit's starts decide. */
export const actionOf = (unit: Pick<Unit, "attempts">, entry: Entry, maxStarts: number): Action => {
  switch (entry.state) {
    case "waiting":
    case "delayed":
    case "active":
      return { _tag: "Keep" }
    case "failed":
      return {
        _tag: "Inconclusive",
        reason: `dead-lettered by the queue: ${firstLine(entry.lastError ?? "no error recorded")}`
      }
    case "missing":
    case "completed":
      return unit.attempts >= maxStarts
        ? {
          _tag: "Inconclusive",
          reason: `the queue lost this unit (${entry.state}) after ${unit.attempts} starts; the redelivery policy allows ${maxStarts}`
        }
        : { _tag: "Requeue" }
  }
}

const firstLine = (text: string): string =>
  (text.split("\n").find((l) => l.trim().length > 0) ?? text).trim().slice(0, 300)

/** Check one batch of units against the queue and repair what needs it. */
const repairBatch = Effect.fnUntraced(function*(units: ReadonlyArray<Unit>) {
  const queue = yield* Queue
  const entries = yield* queue.inspect(units.map((u) => u.id))
  const requeue: Array<Unit> = []
  let inconclusive = 0
  for (let i = 0; i < units.length; i++) {
    const unit = units[i]!
    const action = actionOf(unit, entries[i]!, queue.redelivery.maxStarts)
    if (action._tag === "Requeue") requeue.push(unit)
    else if (action._tag === "Inconclusive" && (yield* endInconclusive(unit, action.reason))) inconclusive++
  }
  if (requeue.length > 0) yield* queue.requeue(requeue.map(messageOf))
  return { requeued: requeue.length, inconclusive }
})

/** One reconciliation pass (see the module doc); requires Storage and Queue. */
export const reconcileOnce = Effect.fn("Reconciler.reconcileOnce")(function*(options: Options = {}) {
  const storage = yield* Storage
  const grace = Duration.fromInputUnsafe(options.grace ?? defaults.grace)
  const batch = Math.max(1, Math.floor(options.batch ?? defaults.batch))
  // The database's clock, not this process's: a reconciler whose clock is off still waits the grace.
  // Issue 10: the stamps it is compared with (job written, enqueue finished) are the backend's too.
  const cutoff = DateTime.formatIso(DateTime.makeUnsafe((yield* storage.databaseTime) - Duration.toMillis(grace))) as Timestamp

  let resumedJobs = 0
  for (const jobId of yield* storage.unenqueuedJobs(cutoff, batch)) {
    if (yield* resumeEnqueue(jobId)) resumedJobs++
  }

  let requeuedUnits = 0
  let inconclusiveUnits = 0
  let after: Unit["id"] | null = null
  while (true) {
    const units: ReadonlyArray<Unit> = yield* storage.activeUnits({ before: cutoff, after, limit: batch })
    if (units.length === 0) break
    const repaired = yield* repairBatch(units)
    requeuedUnits += repaired.requeued
    inconclusiveUnits += repaired.inconclusive
    if (units.length < batch) break
    after = units[units.length - 1]!.id
  }

  let finishedJobs = 0
  for (const jobId of yield* storage.finishableJobs(batch)) {
    if (yield* finishJob(jobId)) finishedJobs++
  }

  const report: Report = { resumedJobs, requeuedUnits, inconclusiveUnits, finishedJobs }
  yield* Metrics.recordRepairs("resumed-job", resumedJobs)
  yield* Metrics.recordRepairs("requeued-unit", requeuedUnits)
  yield* Metrics.recordRepairs("inconclusive-unit", inconclusiveUnits)
  yield* Metrics.recordRepairs("finished-job", finishedJobs)
  if (resumedJobs + requeuedUnits + inconclusiveUnits + finishedJobs > 0) {
    yield* Effect.logWarning("reconciler repaired storage and queue").pipe(Effect.annotateLogs({ ...report }))
  }
  return report
})

/** A pass whose failure is logged, not raised (the next tick tries again). */
const safePass = (options: Options) =>
  reconcileOnce(options).pipe(
    Effect.catchCause((cause) => Effect.logWarning("reconciler pass failed; the next tick retries", cause)),
    Effect.asVoid
  )

/**
 * Reconcile once now (in the background) and then on every tick of the `Queue.schedule` named
 * `options.name`, until the scope closes. Every process may call it: each tick runs in one.
 */
export const run = Effect.fn("Reconciler.run")(function*(
  options: Options = {}
): Effect.fn.Return<void, QueueError, Storage | Queue | Scope.Scope> {
  const queue = yield* Queue
  yield* Effect.forkScoped(safePass(options))
  yield* queue.schedule({ name: options.name ?? defaults.name, every: options.every ?? defaults.every }, () =>
    safePass(options))
})

/** The reconciler as a layer, for processes that run no worker (e.g. an API-only deployment). */
export const layer = (options: Options = {}): Layer.Layer<never, QueueError, Storage | Queue> =>
  Layer.effectDiscard(run(options))
