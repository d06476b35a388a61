/**
 * The Queue port: how units reach workers, possibly on many machines.
 *
 * Delivery is at least once; exactly-one-result is Storage's job (fenced writes). Every adapter
 * (`@myia/certification-memory`, `@myia/certification-bullmq`) implements this contract and passes
 * `QueueTest.suite` from `@myia/certification/testing`. Retry policy is core's: the handler tells the
 * queue what to do with each delivery, and how often and how late a unit comes back is the
 * `RedeliveryPolicy` the queue was built with (it reports it as `redelivery`).
 *
 * **Contract**
 * - `enqueue` is idempotent by unit id (the unit id is the queue's job id): enqueueing a unit that is
 *   already waiting, delayed or active adds nothing.
 * - `consume` runs `handler` for each delivery with at most `concurrency` deliveries in flight in this
 *   process, and at most the configured per-region concurrency and start rate across *all* processes
 *   consuming the same queue.
 * - A delivery whose handler succeeds with `Done` is acknowledged and never redelivered. `Retry` and
 *   `Postpone` redeliver it after `delayMillis`. A handler failure or defect is redelivered after the
 *   policy's backoff; a process that dies mid-delivery has its unit redelivered after its lock expires.
 *   What each outcome spends (failures, starts) and when the unit is dead-lettered instead is the
 *   `RedeliveryPolicy` contract; `onDeadLetter` then runs once with the last error so core can write a
 *   terminal verdict.
 * - Interrupting `consume`'s scope stops fetching; in-flight deliveries are interrupted and released
 *   for redelivery (not failed, not acknowledged).
 * - `cancelJob` removes the job's waiting and delayed units and publishes a cancellation that reaches
 *   `cancellations` in every process (so in-flight units can be interrupted there).
 * - `publish` / `events` carry progress events to every process (for SSE).
 * - `schedule` (issue 15) runs a periodic task as exactly one actor: each tick of a named schedule runs
 *   `run` in exactly one of the processes (and calls) that scheduled that name on the same queue,
 *   until their scopes close. Ticks are aligned to multiples of `every` since the epoch (or to the
 *   cron's instants), so every process agrees on them; `key` names the tick the same way everywhere.
 *   A failing `run` is logged; later ticks still run.
 * - `inspect` says where units are (waiting, delayed, active, completed, failed, missing) and `requeue`
 *   enqueues afresh those the queue finished or lost (issue 15: the reconciler's queue checks). A
 *   payload that cannot be decoded is dead-lettered at once and reported to `onUndecodable`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { JobId, ModelId, Region, UnitId } from "./Domain.ts"
import type { Counters, RedeliveryPolicy } from "./RedeliveryPolicy.ts"

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/**
 * What travels on the queue for one unit. Identifiers only: never credentials, prompts or config.
 */
export class UnitMessage extends Schema.Class<UnitMessage>("@myia/certification/UnitMessage")({
  unitId: UnitId,
  jobId: JobId,
  modelId: ModelId,
  region: Region,
  /** Issue 18: the W3C `traceparent` of the span that created the job (trace ids only, never a secret). */
  traceparent: Schema.optionalKey(Schema.String)
}) {}

/**
 * One delivery of a unit to a worker: `attempt` (1-based) counts every start, this one included;
 * `failures` counts the failures spent before it (see `RedeliveryPolicy`).
 */
export interface Delivery extends Counters {
  readonly message: UnitMessage
}

/** What the handler asks the queue to do with a delivery. */
export type DeliveryResult =
  | { readonly _tag: "Done" }
  | {
    readonly _tag: "Retry"
    readonly delayMillis: number
    /** Throttling and outage waits do not count as failures (they do count as starts). */
    readonly countsAsFailure: boolean
    readonly reason: string
  }
  | {
    /** The unit did not run (e.g. its job is paused): give the start back; spends nothing. */
    readonly _tag: "Postpone"
    readonly delayMillis: number
    readonly reason: string
  }

/** Acknowledge the delivery: the unit is finished. */
export const Done: DeliveryResult = { _tag: "Done" }

/** Redeliver after `delayMillis`; spends a start, and a failure when `countsAsFailure`. */
export const Retry = (
  options: { readonly delayMillis: number; readonly countsAsFailure: boolean; readonly reason: string }
): DeliveryResult => ({ _tag: "Retry", ...options })

/** Redeliver after `delayMillis` without spending anything: for a unit that did not run. */
export const Postpone = (options: { readonly delayMillis: number; readonly reason: string }): DeliveryResult => ({
  _tag: "Postpone",
  ...options
})

/** Progress events, published by workers and the service; delivered to every process. */
export class ProgressEvent extends Schema.Class<ProgressEvent>("@myia/certification/ProgressEvent")({
  jobId: JobId,
  /** `recertification-scheduled` (issue 14): a scheduled run created this job; `status` says why. */
  type: Schema.Literals(["job-status", "unit-started", "unit-completed", "recertification-scheduled"]),
  unitId: Schema.NullOr(UnitId),
  /** The job status (job-status) or unit status (unit-*) after the change. */
  status: Schema.String,
  at: Schema.String
}) {}

export interface QueueCounts {
  readonly waiting: number
  readonly active: number
  readonly delayed: number
  readonly failed: number
}

/** Per-region limits that hold across every process consuming the queue. */
export interface RegionLimit {
  /** Most units of this region in flight at once. */
  readonly concurrency: number
  /** Most unit starts per second for this region; 0 (or less): no start-rate limit. */
  readonly ratePerSecond: number
}

export interface ConsumeOptions<R> {
  /** Most deliveries in flight in this process. */
  readonly concurrency: number
  readonly handler: (delivery: Delivery) => Effect.Effect<DeliveryResult, unknown, R>
  /**
   * Runs once when the redelivery policy gives up on a unit, with its last error and its starts
   * (`attempts`).
   */
  readonly onDeadLetter: (message: UnitMessage, lastError: string, attempts: number) => Effect.Effect<void, unknown, R>
  /**
   * Issue 15: runs once when a delivery's payload cannot be decoded (it is dead-lettered at once, the
   * handler never sees it), with the queue's id of the entry (the unit id, if it is one) and why.
   */
  readonly onUndecodable?: ((entryId: string, reason: string) => Effect.Effect<void, unknown, R>) | undefined
}

/**
 * Where a unit is in the queue (issue 15, for the reconciler): `missing` when the queue holds no
 * entry for it (never enqueued, lost with the queue's data, or acknowledged and forgotten).
 */
export type EntryState = "waiting" | "delayed" | "active" | "completed" | "failed" | "missing"

/** One answer of `Queue.inspect`. */
export interface Entry {
  readonly unitId: UnitId
  readonly state: EntryState
  /** The last error of a `failed` (dead-lettered) entry. */
  readonly lastError: string | null
}

/**
 * A named periodic task (issue 15): exactly one of `every` (aligned to multiples of it since the
 * epoch) or `cron` (a 5- or 6-field cron expression, UTC). `name`: letters, digits, `-` and `_`.
 */
export interface ScheduleOptions {
  readonly name: string
  readonly every?: Duration.Input | undefined
  readonly cron?: string | undefined
}

/** One tick of a schedule, as handed to the one process that runs it. */
export interface ScheduleTick {
  readonly name: string
  /** Unique per tick and the same in every process (e.g. to make the tick's work idempotent). */
  readonly key: string
  /** The instant the tick was due. */
  readonly at: DateTime.Utc
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export class QueueError extends Schema.TaggedError<QueueError>("@myia/certification/QueueError")("QueueError", {
  operation: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {
  get isRetryable(): boolean {
    return this.retryable
  }
}

// ---------------------------------------------------------------------------------------------
// Port
// ---------------------------------------------------------------------------------------------

export class Queue extends Context.Service<Queue, {
  /** The redelivery policy this queue obeys; the Worker takes its retry decisions and delays from it. */
  readonly redelivery: RedeliveryPolicy

  /** Add units; idempotent by unit id. */
  readonly enqueue: (messages: ReadonlyArray<UnitMessage>) => Effect.Effect<void, QueueError>

  /**
   * Consume deliveries until the surrounding scope closes. Fails only when the queue itself fails
   * irrecoverably; handler failures are redeliveries, not consumer failures.
   */
  readonly consume: <R>(options: ConsumeOptions<R>) => Effect.Effect<void, QueueError, R | Scope.Scope>

  /** Remove the job's waiting/delayed units and broadcast its cancellation to every process. */
  readonly cancelJob: (jobId: JobId) => Effect.Effect<void, QueueError>

  /** Job ids cancelled from any process, from the moment of subscription. */
  readonly cancellations: Stream.Stream<JobId, QueueError>

  /** Publish a progress event to every process. */
  readonly publish: (event: ProgressEvent) => Effect.Effect<void, QueueError>

  /** Progress events from every process, from the moment of subscription. */
  readonly events: Stream.Stream<ProgressEvent, QueueError>

  readonly counts: Effect.Effect<QueueCounts, QueueError>

  /** Issue 15: the state of each unit's queue entry, in the order asked (see `EntryState`). */
  readonly inspect: (unitIds: ReadonlyArray<UnitId>) => Effect.Effect<ReadonlyArray<Entry>, QueueError>

  /**
   * Issue 15: enqueue units afresh whose entry is `missing`, `completed` or `failed` (the old entry is
   * dropped, its starts and failures with it); units waiting, delayed or active are left alone.
   */
  readonly requeue: (messages: ReadonlyArray<UnitMessage>) => Effect.Effect<void, QueueError>

  /**
   * Run `run` on each tick of the named schedule, in exactly one process per tick across every
   * process scheduling that name on this queue, until the surrounding scope closes (issue 15).
   * Fails with a non-retryable `QueueError` for invalid options (see `QueueSchedule.validate`).
   */
  readonly schedule: <R>(
    options: ScheduleOptions,
    run: (tick: ScheduleTick) => Effect.Effect<void, unknown, R>
  ) => Effect.Effect<void, QueueError, R | Scope.Scope>
}>()("@myia/certification/Queue") {}
