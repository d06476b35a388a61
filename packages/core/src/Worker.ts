/**
 * The worker loop: consumes units from the Queue, certifies each with the Runner, and writes the
 * verdict to Storage — exactly once per unit, whatever the queue redelivers.
 *
 * For each delivery: claim the unit with a fresh fencing lease (a terminal unit or an ended job
 * acknowledges the delivery without a Bedrock call); run it; then either finish it (fenced write),
 * give it back for a later retry (an environment problem such as throttling, while the queue's
 * `RedeliveryPolicy` allows one more start), or, on a systemic error such as invalid credentials,
 * fail the whole job. When the policy is spent the unit's own INCONCLUSIVE outcome is written, with
 * its real error, rather than left to the dead letter. A cancelled job's
 * in-flight units are interrupted (their Bedrock calls aborted) and nothing is written after the
 * cancel; no new test starts once the cancellation is known.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { BedrockRuntime } from "./BedrockRuntime.ts"
import { type JobId, type Unit, UnitId, type UnitOutcome } from "./Domain.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import * as JobStateMachine from "./JobStateMachine.ts"
import * as Metrics from "./Metrics.ts"
import * as Progress from "./Progress.ts"
import * as Tracing from "./Tracing.ts"
import { type Delivery, type DeliveryResult, Done, Postpone, ProgressEvent, Queue, Retry, type UnitMessage } from "./Queue.ts"
import * as Reconciler from "./Reconciler.ts"
import * as RedeliveryPolicy from "./RedeliveryPolicy.ts"
import type { RegionGovernor } from "./RegionGovernor.ts"
import type { Registry } from "./Registry.ts"
import * as Runner from "./Runner.ts"
import { Storage } from "./Storage.ts"

export interface WorkerOptions {
  /** Units certified at once by this process (default 4). */
  readonly concurrency?: number | undefined
  /**
   * Issue 15: the reconciler this worker takes part in (one pass at start-up, then one per tick
   * across every worker); `false` turns it off here (run `Reconciler.layer` elsewhere then).
   */
  readonly reconcile?: Reconciler.Options | false | undefined
}

const nowIso = Effect.map(DateTime.now, DateTime.formatIso)

const decodeUnitId = Schema.decodeUnknownOption(UnitId)

/**
 * Run the worker until the surrounding scope closes. Requires the Queue, Storage, the Bedrock
 * runtime, the registry and the region governor.
 */
export const run = Effect.fn("Worker.run")(function*(options: WorkerOptions = {}) {
  const queue = yield* Queue
  const storage = yield* Storage
  const concurrency = options.concurrency ?? 4
  // Retry decisions and delays follow the queue's own policy, so the worker and the queue never disagree.
  const policy = queue.redelivery

  // Cancellations from any process: remember the job, and interrupt its in-flight units here.
  const cancelled = new Set<JobId>()
  const inFlight = new Map<JobId, Set<Deferred.Deferred<void>>>()
  yield* queue.cancellations.pipe(
    Stream.runForEach((jobId) =>
      Effect.gen(function*() {
        if (cancelled.size >= 10_000) cancelled.clear() // bounded memory; storage stays the truth
        cancelled.add(jobId)
        for (const d of inFlight.get(jobId) ?? []) yield* Deferred.succeed(d, undefined)
      })
    ),
    Effect.catchCause((cause) => Effect.logWarning("cancellation stream ended", cause)),
    Effect.forkScoped
  )

  const state: WorkerState = { queue, storage, policy, cancelled, inFlight }
  const signals = jobSignals(state)
  const { handle, retryDelayMillis } = unitWork(state, signals)
  const { onDeadLetter, onUndecodable } = deadLetters(state, signals)

  const handler = (delivery: Delivery): Effect.Effect<DeliveryResult, unknown, BedrockRuntime | Registry | RegionGovernor> =>
    handle(delivery).pipe(
      // Storage unreachable is the environment's failure, not the unit's: wait, without spending attempts.
      Effect.catchTag("StorageError", (error) =>
        error.isRetryable
          ? Effect.map(retryDelayMillis(delivery, false), (delayMillis) =>
            Retry({ delayMillis, countsAsFailure: false, reason: `storage unavailable: ${error.message}` }))
          : Effect.fail(error)),
      Effect.withSpan("Worker.unit", {
        attributes: {
          unitId: delivery.message.unitId,
          modelId: delivery.message.modelId,
          region: delivery.message.region,
          // Issue 18
          "certification.job_id": delivery.message.jobId,
          "certification.attempt": delivery.attempt
        },
        // Issue 18: continue the trace of the request that created the job (from any process).
        ...withParent(Tracing.parentOf(delivery.message.traceparent))
      })
    )

  const started = yield* Clock.currentTimeMillis
  yield* Effect.logInfo("certification worker started").pipe(Effect.annotateLogs({ concurrency, started }))
  if (options.reconcile !== false) {
    yield* Reconciler.run(options.reconcile ?? {}).pipe(
      Effect.catchCause((cause) => Effect.logWarning("reconciler not started", cause))
    )
  }
  yield* queue.consume({ concurrency, handler, onDeadLetter, onUndecodable })
})

/** What the pieces of one running worker share. */
interface WorkerState {
  readonly queue: Queue["Service"]
  readonly storage: Storage["Service"]
  readonly policy: Queue["Service"]["redelivery"]
  /** Jobs known to be cancelled (from any process). */
  readonly cancelled: Set<JobId>
  /** The cancel signal of each in-flight unit, by job. */
  readonly inFlight: Map<JobId, Set<Deferred.Deferred<void>>>
}

/** Progress events, the job's COMPLETED transition and the stop check, over the worker's state. */
const jobSignals = (state: WorkerState) => {
  const { queue, storage, cancelled } = state
  // Issue 18: stored (numbered per job) and published.
  const recordProgress = Progress.record(storage, queue)
  const publish = (jobId: JobId, type: ProgressEvent["type"], unitId: UnitMessage["unitId"] | null, status: string) =>
    Effect.flatMap(nowIso, (at) => recordProgress(new ProgressEvent({ jobId, type, unitId, status, at })))

  /** COMPLETED once every unit is terminal (storage refuses otherwise); publish when it happens. */
  const maybeComplete = Effect.fnUntraced(function*(jobId: JobId) {
    const done = yield* storage.transitionJob(jobId, { from: ["QUEUED", "PROCESSING"], to: "COMPLETED" })
    if (Option.isSome(done)) yield* publish(jobId, "job-status", null, "COMPLETED")
  })

  /** Is the job stopped (cancelled here or in storage)? Checked before each test starts. */
  const stopped = (jobId: JobId) =>
    Effect.suspend(() => {
      if (cancelled.has(jobId)) return Effect.succeed(true)
      return storage.getJob(jobId).pipe(
        Effect.map((j) => Option.isSome(j) && JobStateMachine.isTerminalJob(j.value.status)),
        Effect.tap((stop) => Effect.sync(() => stop && cancelled.add(jobId))),
        Effect.orElseSucceed(() => false)
      )
    })

  return { publish, maybeComplete, stopped }
}

type JobSignals = ReturnType<typeof jobSignals>

/** Claiming, certifying and finishing one delivered unit. */
const unitWork = (state: WorkerState, signals: JobSignals) => {
  const { queue, storage, policy, cancelled, inFlight } = state
  const { publish, maybeComplete, stopped } = signals

  /**
   * Resume, don't restart (issue 16): the run keeps what earlier runs of the unit stored, and stores
   * each test result as it is decided (fenced by the lease; a failed write only costs a re-run).
   */
  const progressOf = (message: UnitMessage, lease: string, claimed: Unit): Pick<Runner.RunOptions, "resume" | "onResult"> => ({
    resume: { invocationTarget: claimed.invocationTarget, tests: claimed.tests },
    onResult: (target, result) =>
      storage.saveProgress(message.unitId, lease, { invocationTarget: target, tests: [result] }).pipe(
        Effect.catch((e) => Effect.logDebug(`test progress not stored: ${e.message}`)),
        Effect.asVoid
      )
  })

  /** Certify a unit this worker has claimed with `lease`, and write its verdict (or give it back). */
  const certifyClaimed = Effect.fnUntraced(function*(delivery: Delivery, lease: string, claimed: Unit) {
    const { message } = delivery
    const job = yield* storage.getJob(message.jobId)
    if (Option.isNone(job)) return Done // deleted by retention while queued
    if (job.value.status === "QUEUED") {
      const started = yield* storage.transitionJob(message.jobId, { from: ["QUEUED"], to: "PROCESSING" })
      if (Option.isSome(started)) yield* publish(message.jobId, "job-status", null, "PROCESSING")
    }
    yield* publish(message.jobId, "unit-started", message.unitId, "PROCESSING")

    const cancel = yield* Deferred.make<void>()
    const set = inFlight.get(message.jobId) ?? new Set()
    set.add(cancel)
    inFlight.set(message.jobId, set)
    if (cancelled.has(message.jobId)) yield* Deferred.succeed(cancel, undefined)

    const outcome = yield* Effect.raceFirst(
      Runner.runUnit(
        // The verdict uses the threshold recorded on the job, whichever process created it.
        { modelId: message.modelId, region: message.region, certifyThreshold: job.value.config.certifyThreshold },
        { shouldStop: stopped(message.jobId), ...progressOf(message, lease, claimed) }
      ).pipe(Effect.map(Option.some)),
      Deferred.await(cancel).pipe(Effect.as(Option.none<UnitOutcome>()))
    ).pipe(
      Effect.ensuring(Effect.sync(() => {
        set.delete(cancel)
        if (set.size === 0) inFlight.delete(message.jobId)
      }))
    )
    if (Option.isNone(outcome)) return Done // cancelled: storage already ended the unit CANCELLED

    // From here on, the writes that finish the unit and its job run to the end even on shutdown:
    // a unit written without its job's COMPLETED transition would leave the job open.
    return yield* Effect.uninterruptible(finish(delivery, lease, outcome.value))
  })

  const finish = Effect.fnUntraced(function*(delivery: Delivery, lease: string, result: UnitOutcome) {
    const { message } = delivery
    if (result.error?.systemic === true) {
      if (yield* storage.completeUnit(message.unitId, lease, result)) yield* Metrics.recordUnit(result.verdict, message.region)
      const failed = yield* storage.transitionJob(message.jobId, {
        from: JobStateMachine.jobSourcesOf("FAILED"),
        to: "FAILED",
        reason: `${result.error.category}: ${result.error.message}`,
        unitError: result.error
      })
      if (Option.isSome(failed)) {
        yield* queue.cancelJob(message.jobId).pipe(Effect.ignore)
        yield* publish(message.jobId, "job-status", null, "FAILED")
      }
      return Done
    }

    const environmentBlocked = result.verdict === "INCONCLUSIVE" && result.error !== null && result.error.retryable &&
      result.error.blame === "environment"
    // What the runner waits out (throttling) is waited out here too, bounded by maxStarts; other
    // environment errors spend the failure budget.
    const countsAsFailure = result.error === null || ErrorCategory.describe(result.error.category).handling !== "wait"
    if (
      environmentBlocked && RedeliveryPolicy.canRetry(policy, delivery, countsAsFailure) &&
      !(yield* stopped(message.jobId))
    ) {
      const released = yield* storage.releaseUnit(message.unitId, lease)
      if (released) {
        const delayMillis = yield* retryDelayMillis(delivery, countsAsFailure)
        yield* Metrics.recordUnitRetry(result.error!.category)
        yield* Effect.logInfo("unit blocked by the environment; retrying later").pipe(
          Effect.annotateLogs({ unitId: message.unitId, category: result.error!.category, delayMillis })
        )
        return Retry({ delayMillis, countsAsFailure, reason: `${result.error!.category}: ${result.error!.message}` })
      }
      return Done
    }

    const written = yield* storage.completeUnit(message.unitId, lease, result)
    if (written) {
      yield* Metrics.recordUnit(result.verdict, message.region)
      yield* publish(message.jobId, "unit-completed", message.unitId, result.verdict)
    }
    yield* maybeComplete(message.jobId)
    return Done
  })

  /** The policy's wait before the unit's next start, in whole milliseconds. */
  const retryDelayMillis = (delivery: Delivery, countsAsFailure: boolean) =>
    Effect.map(
      RedeliveryPolicy.retryDelay(policy, delivery, countsAsFailure),
      (delay) => Math.round(Duration.toMillis(delay))
    )

  const handle = Effect.fnUntraced(function*(delivery: Delivery) {
    const { message } = delivery
    const lease = `${message.unitId}.${delivery.attempt}.${crypto.randomUUID()}`
    const claimed = yield* storage.claimUnit(message.unitId, lease)
    if (Option.isNone(claimed)) {
      const job = yield* storage.getJob(message.jobId)
      if (Option.isSome(job) && job.value.status === "PAUSED") {
        // Nothing ran: a pause of any length spends none of the unit's starts.
        return Postpone({ delayMillis: yield* retryDelayMillis(delivery, false), reason: "job paused" })
      }
      // Issue 14: the job was paused when we claimed and has been resumed since. Acknowledging now
      // would strand the unit (QUEUED in storage, gone from the queue): try it again instead.
      if (Option.isSome(job) && JobStateMachine.claimableJobStatuses.includes(job.value.status)) {
        const unit = yield* storage.getUnit(message.unitId)
        if (Option.isSome(unit) && !JobStateMachine.isTerminalUnit(unit.value.status)) {
          return Postpone({ delayMillis: 0, reason: "job resumed while the unit was being claimed" })
        }
      }
      // Already terminal (a redelivery) or the job ended. The previous worker may have died between
      // the unit's write and the job's transition: finishing the job here is idempotent.
      yield* maybeComplete(message.jobId)
      return Done
    }
    // The unit is ours now: on shutdown (interruption) give it back rather than leave it PROCESSING.
    return yield* certifyClaimed(delivery, lease, claimed.value).pipe(
      Effect.onInterrupt(() => storage.releaseUnit(message.unitId, lease).pipe(Effect.ignore))
    )
  })

  return { handle, retryDelayMillis }
}

/** Units the queue gave up on, and payloads it could not decode: each unit still ends INCONCLUSIVE once. */
const deadLetters = (state: WorkerState, signals: JobSignals) => {
  const { queue, storage } = state
  const { publish, maybeComplete } = signals

  /**
   * A unit that used all its attempts still gets exactly one terminal row: INCONCLUSIVE. Storage
   * hiccups are retried here, since the queue forgets the unit once this returns.
   */
  const onDeadLetter = (message: UnitMessage, lastError: string, attempts: number) =>
    deadLetter(message, lastError, attempts).pipe(
      Effect.retry({
        schedule: Schedule.exponential("200 millis"),
        times: 8,
        while: (e) => e.isRetryable
      })
    )

  const deadLetter = Effect.fnUntraced(function*(message: UnitMessage, lastError: string, attempts: number) {
    const lease = `${message.unitId}.dead.${crypto.randomUUID()}`
    const claimed = yield* storage.claimUnit(message.unitId, lease)
    if (Option.isNone(claimed)) return yield* maybeComplete(message.jobId)
    // The last error can be a stack trace: keep its first line, which says what happened.
    const reason = (lastError.split("\n").find((l) => l.trim().length > 0) ?? "unknown error").trim().slice(0, 300)
    const error = ErrorCategory.make("UNKNOWN", { message: `gave up after ${attempts} attempts: ${reason}` })
    const outcome = Runner.outcomeWithoutTests("INCONCLUSIVE", error)
    if (yield* storage.completeUnit(message.unitId, lease, outcome)) {
      yield* Metrics.recordUnit("INCONCLUSIVE", message.region)
      yield* publish(message.jobId, "unit-completed", message.unitId, "INCONCLUSIVE")
    }
    yield* maybeComplete(message.jobId)
  })

  /**
   * Issue 15: a poison payload was dead-lettered by the queue. If its entry id is a unit id, that
   * unit still gets its one terminal row (INCONCLUSIVE with the reason), so its job can finish.
   */
  const onUndecodable = (entryId: string, reason: string) =>
    Effect.gen(function*() {
      yield* Metrics.recordRepairs("poison", 1)
      yield* Effect.logWarning("undecodable queue payload dead-lettered").pipe(Effect.annotateLogs({ entryId, reason }))
      const id = decodeUnitId(entryId)
      if (Option.isNone(id)) return
      const unit = yield* storage.getUnit(id.value)
      if (Option.isNone(unit) || JobStateMachine.isTerminalUnit(unit.value.status)) return
      yield* Reconciler.endInconclusive(unit.value, `undecodable queue payload: ${reason}`)
    }).pipe(
      Effect.retry({ schedule: Schedule.exponential("200 millis"), times: 8, while: (e) => e.isRetryable }),
      Effect.provideService(Storage, storage),
      Effect.provideService(Queue, queue)
    )
  return { onDeadLetter, onUndecodable }
}

const withParent = (parent: ReturnType<typeof Tracing.parentOf>) => parent === undefined ? {} : { parent }

/** The worker as a layer: runs in the background for the layer's lifetime. */
export const layer = (
  options: WorkerOptions = {}
): Layer.Layer<never, never, Queue | Storage | BedrockRuntime | Registry | RegionGovernor> =>
  Layer.effectDiscard(
    run(options).pipe(
      Effect.catchCause((cause) => Effect.logError("certification worker stopped", cause)),
      Effect.forkScoped
    )
  )
