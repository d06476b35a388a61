/**
 * The Queue port: how units reach workers, possibly on many machines.
 *
 * Delivery is at least once; exactly-one-result is Storage's job (fenced writes). Every adapter
 * (`@myia/certification-memory`, `@myia/certification-bullmq`) implements this contract and passes
 * `QueueTest.suite` from `@myia/certification/testing`. Retry policy (which errors, how long to wait)
 * is core's: the handler tells the queue what to do with each delivery.
 *
 * **Contract**
 * - `enqueue` is idempotent by unit id (the unit id is the queue's job id): enqueueing a unit that is
 *   already waiting, delayed or active adds nothing.
 * - `consume` runs `handler` for each delivery with at most `concurrency` deliveries in flight in this
 *   process, and at most the configured per-region concurrency and start rate across *all* processes
 *   consuming the same queue.
 * - A delivery whose handler succeeds with `Done` is acknowledged and never redelivered. `Retry`
 *   redelivers it after `delayMillis` (attempt + 1). If the handler fails or dies, or the process
 *   dies mid-delivery, the unit is redelivered (after the lock expires for a dead process) until
 *   `maxAttempts`; then `onDeadLetter` runs with the last error so core can write a terminal verdict.
 * - Interrupting `consume`'s scope stops fetching; in-flight deliveries are interrupted and released
 *   for redelivery (not failed, not acknowledged).
 * - `cancelJob` removes the job's waiting and delayed units and publishes a cancellation that reaches
 *   `cancellations` in every process (so in-flight units can be interrupted there).
 * - `publish` / `events` carry progress events to every process (for SSE).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { JobId, ModelId, Region, UnitId } from "./Domain.ts"

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
  region: Region
}) {}

/** Decode an untrusted payload (e.g. from Redis) into a `UnitMessage`. */
export const decodeUnitMessage = Schema.decodeUnknownEffect(UnitMessage)

/** One delivery of a unit to a worker. `attempt` is 1-based and counts every start. */
export interface Delivery {
  readonly message: UnitMessage
  readonly attempt: number
  readonly maxAttempts: number
}

/** What the handler asks the queue to do with a delivery. */
export type DeliveryResult =
  | { readonly _tag: "Done" }
  | {
    readonly _tag: "Retry"
    readonly delayMillis: number
    /** Throttling and breaker waits do not count as failures (they do count as starts). */
    readonly countsAsFailure: boolean
    readonly reason: string
  }

export const Done: DeliveryResult = { _tag: "Done" }
export const Retry = (options: { readonly delayMillis: number; readonly countsAsFailure: boolean; readonly reason: string }): DeliveryResult => ({
  _tag: "Retry",
  ...options
})

/** Progress events, published by workers and the service; delivered to every process. */
export class ProgressEvent extends Schema.Class<ProgressEvent>("@myia/certification/ProgressEvent")({
  jobId: JobId,
  type: Schema.Literals(["job-status", "unit-started", "unit-completed"]),
  unitId: Schema.NullOr(UnitId),
  /** The job status (job-status) or unit status (unit-*) after the change. */
  status: Schema.String,
  at: Schema.String
}) {}

export const decodeProgressEvent = Schema.decodeUnknownEffect(ProgressEvent)

export interface QueueCounts {
  readonly waiting: number
  readonly active: number
  readonly delayed: number
  readonly failed: number
}

/**
 * The redelivery backoff every adapter and the worker use (policy lives once, in core): exponential
 * in the number of failures, capped, with half jitter — `full/2 + random · full/2` where
 * `full = min(max, base · 2^(failures−1))`; `random` in [0, 1] (1 gives the full, deterministic delay).
 */
export const redeliveryDelayMillis = (
  failures: number,
  backoff: { readonly baseMillis: number; readonly maxMillis: number },
  random: number
): number => {
  const full = Math.min(backoff.maxMillis, backoff.baseMillis * 2 ** Math.max(0, failures - 1))
  return Math.round(full / 2 + (full / 2) * random)
}

/** Per-region limits that hold across every process consuming the queue. */
export interface RegionLimit {
  /** Most units of this region in flight at once. */
  readonly concurrency: number
  /** Most unit starts per second for this region. */
  readonly ratePerSecond: number
}

export interface ConsumeOptions<R> {
  /** Most deliveries in flight in this process. */
  readonly concurrency: number
  readonly handler: (delivery: Delivery) => Effect.Effect<DeliveryResult, unknown, R>
  /** Runs once when a unit has used all its attempts, with the last error. */
  readonly onDeadLetter: (message: UnitMessage, lastError: string, attempts: number) => Effect.Effect<void, unknown, R>
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
}>()("@myia/certification/Queue") {}
