/**
 * A job's progress events, stored and streamed (issue 18). Every process that changes a job records
 * the event in storage (which numbers it in the job's sequence: 1, 2, 3…) and then publishes it on
 * the queue. A reader streams the stored events after a cursor — the SSE `Last-Event-ID` — and
 * uses the queue's events only as a wake-up, with a slow poll as the floor, so a stream resumed
 * after `n` sees every later event exactly once, in order, from whichever process wrote it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { JobId, JobStatus } from "./Domain.ts"
import * as JobStateMachine from "./JobStateMachine.ts"
import { ProgressEvent, type Queue } from "./Queue.ts"
import type { Storage, StorageError, StoredProgress } from "./Storage.ts"

/** How a progress stream reads storage. */
export interface StreamOptions {
  /** Read storage at least this often, queue or not (default 1 s). */
  readonly poll?: Duration.Input | undefined
  /** Events read per storage call (default 500). */
  readonly pageSize?: number | undefined
  /**
   * When the job row is terminal but no terminal event was stored this long after the job's last
   * update (its writer died between the two), the reader stores it itself (default 5 s).
   */
  readonly terminalGrace?: Duration.Input | undefined
}

/**
 * Record an event (storage numbers it) and publish it (wakes up readers in every process). Never
 * fails: a storage or queue outage is logged, and the job's state in storage stays the truth.
 */
export const record = (storage: Storage["Service"], queue: Queue["Service"]) => (event: ProgressEvent) =>
  storage.appendProgress(event).pipe(
    Effect.andThen(queue.publish(event)),
    Effect.catch((error) => Effect.logWarning(`progress event of job ${event.jobId} not recorded: ${error.message}`))
  )

/** Whether an event ends a job's stream: its terminal `job-status`. */
export const isEnd = (event: ProgressEvent): boolean =>
  event.type === "job-status" && JobStateMachine.isTerminalJob(event.status as JobStatus)

/**
 * The job's stored events after sequence number `after` (0: from the first), then every new one as
 * it is stored, ending after the terminal `job-status` event.
 */
export const stream = (
  storage: Storage["Service"],
  queue: Queue["Service"],
  jobId: JobId,
  after: number,
  options: StreamOptions = {}
): Stream.Stream<StoredProgress, StorageError> =>
  Stream.unwrap(Effect.sync(() => {
    const pageSize = options.pageSize ?? 500
    const graceMillis = Duration.toMillis(Duration.fromInputUnsafe(options.terminalGrace ?? Duration.seconds(5)))
    let cursor = after

    /** Every stored event after the cursor, page by page; moves the cursor. */
    const readNew = Effect.gen(function*() {
      const out: Array<StoredProgress> = []
      while (true) {
        const page = yield* storage.progressAfter(jobId, cursor, pageSize)
        for (const stored of page) {
          out.push(stored)
          cursor = stored.seq
        }
        if (page.length < pageSize) return out
      }
    })

    /** With nothing new: store the terminal event of a job that ended long enough ago without one. */
    const healMissingEnd = Effect.gen(function*() {
      const job = yield* storage.getJob(jobId)
      if (Option.isNone(job) || !JobStateMachine.isTerminalJob(job.value.status)) return false
      const now = yield* Clock.currentTimeMillis
      if (now - DateTime.toEpochMillis(DateTime.makeUnsafe(job.value.updatedAt)) < graceMillis) return false
      const end = new ProgressEvent({ jobId, type: "job-status", unitId: null, status: job.value.status, at: job.value.updatedAt })
      yield* storage.appendProgress(end)
      return true
    })

    const read = Effect.gen(function*() {
      const fresh = yield* readNew
      if (fresh.length > 0 || !(yield* healMissingEnd)) return fresh
      return yield* readNew
    })

    // A queue outage only slows the stream down to the poll.
    const wakeups = Stream.merge(
      queue.events.pipe(Stream.filter((e) => e.jobId === jobId), Stream.catch(() => Stream.never)),
      Stream.tick(options.poll ?? Duration.seconds(1))
    ).pipe(Stream.buffer({ capacity: 1, strategy: "sliding" }))

    return Stream.concat(Stream.succeed(undefined), wakeups).pipe(
      Stream.mapEffect(() => read),
      Stream.flatMap((batch) => Stream.fromIterable(batch)),
      Stream.takeUntil((stored) => isEnd(stored.event))
    )
  }))
