/**
 * The Storage port: where jobs, units and verdicts live.
 *
 * Storage is the source of truth; the queue only delivers work at least once. Every adapter
 * (`@myia/certification-memory`, `@myia/certification-postgres`) implements this contract and
 * passes `StorageTest.suite` from `@myia/certification/testing`.
 *
 * **Contract**
 * - `createJob` writes the job and all its units atomically: after a failure nothing is visible.
 * - Status changes are conditional on the allowed source states (the tables in `JobStateMachine`):
 *   a write whose precondition no longer holds changes nothing and returns `Option.none()`.
 * - `claimUnit` stamps a new fencing `lease` on a non-terminal unit of a live job. `completeUnit`
 *   must present the current lease: the first terminal write wins, a repeated or stale write
 *   (redelivered unit, zombie worker) changes nothing and returns `false`.
 * - Progress counts are derived from unit rows, never from blind increments.
 * - The latest view keeps the newest terminal result per (model, region) and is monotonic: a result
 *   written before the stored one never replaces it (see "time" below).
 * - Nothing is written to a unit after its job is CANCELLED or FAILED.
 * - "Not found" is `Option.none()` (or an empty page), never an error.
 * - `createJobOnce` is `createJob` under keys, atomic across processes: of concurrent callers with
 *   the same key, exactly one creates a job; the others get that job back.
 * - Issue 15 (reconciliation): a job is created *not yet enqueued*; `markEnqueued` records that all
 *   its units reached the queue. `unenqueuedJobs`, `activeUnits` and `finishableJobs` are what the
 *   reconciler reads to resume an enqueue, check units against the queue and finish jobs.
 * - Issue 10 (stamps): when a job was written and when `markEnqueued` ran are stamped by the
 *   backend's own clock (`databaseTime`), never taken from the caller (`job.createdAt` is the
 *   caller's and stays what the API shows); `unenqueuedJobs` and `activeUnits` compare those stamps
 *   with `before`, which callers derive from `databaseTime` — so a process whose clock is months off
 *   still sees a job become "older than the grace" after the grace, and not before.
 * - Issue 15 (time): the latest view is ordered by the order storage wrote the results (a sequence
 *   or the database's clock), never by the writer's clock: of two results for one (model, region),
 *   the one written later is the latest, whatever `completedAt` its worker's clock stamped.
 * - `getSetting` / `putSetting` hold small shared records (last write wins), e.g. the schedule.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type {
  ErrorCategory,
  Job,
  JobCounts,
  JobId,
  JobStatus,
  JobType,
  ModelId,
  Region,
  Timestamp,
  Unit,
  UnitId,
  UnitOutcome,
  Verdict
} from "./Domain.ts"
import type { RegionObservation } from "./Observation.ts"
import type { InvocationTarget, TestResult, UnitStatus } from "./Domain.ts"
import type { ProgressEvent } from "./Queue.ts"

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** The backend could not be reached or dropped the connection; retrying may help. */
export class StorageUnavailable extends Schema.TaggedError<StorageUnavailable>()("StorageUnavailable", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  get isRetryable(): boolean {
    return true
  }
}

/** A write conflicted with a concurrent one (serialization failure, deadlock); retrying may help. */
export class StorageConflict extends Schema.TaggedError<StorageConflict>()("StorageConflict", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  get isRetryable(): boolean {
    return true
  }
}

/** The data or the request was invalid for the backend (constraint, bad value); retrying will not help. */
export class StorageInvalid extends Schema.TaggedError<StorageInvalid>()("StorageInvalid", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  get isRetryable(): boolean {
    return false
  }
}

/** Anything else the backend reported. */
export class StorageUnknown extends Schema.TaggedError<StorageUnknown>()("StorageUnknown", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  get isRetryable(): boolean {
    return false
  }
}

/** The one error of the Storage port; `reason` says what happened and whether a retry can help. */
export class StorageError extends Schema.TaggedError<StorageError>("@myia/certification/StorageError")("StorageError", {
  operation: Schema.String,
  reason: Schema.Union([StorageUnavailable, StorageConflict, StorageInvalid, StorageUnknown])
}) {
  override get message(): string {
    return `${this.operation}: ${this.reason.message}`
  }
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/** Page request: `page` is 1-based; adapters cap `limit` at 100. */
export interface PageRequest {
  readonly page: number
  readonly limit: number
}

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly total: number
  readonly page: number
  readonly limit: number
}

export interface HistoryFilter {
  readonly status?: JobStatus | undefined
  readonly type?: JobType | undefined
  /** Jobs created at or after this instant. */
  readonly from?: Timestamp | undefined
  /** Jobs created before this instant. */
  readonly to?: Timestamp | undefined
}

/** A job with its derived progress counts (one row of the history). */
export interface JobSummary {
  readonly job: Job
  readonly counts: JobCounts
}

export interface LatestFilter {
  readonly modelId?: ModelId | undefined
  readonly region?: Region | undefined
  readonly status?: Verdict | undefined
  // Continuous certification (issue 14): expiry, suite version and several verdicts, models, regions.
  /** Results whose `expiresAt` is before this instant (results without an expiry are left out). */
  readonly expiringBefore?: Timestamp | undefined
  /** Results with one of these verdicts (an empty list does not narrow). */
  readonly verdicts?: ReadonlyArray<Verdict> | undefined
  /** Results of one of these models (an empty list does not narrow). */
  readonly modelIds?: ReadonlyArray<ModelId> | undefined
  /** Results in one of these regions (an empty list does not narrow). */
  readonly regions?: ReadonlyArray<Region> | undefined
  /** Results produced by exactly this suite version. */
  readonly suiteVersion?: string | undefined
  /** Results produced by any suite version but this one (or by none). */
  readonly suiteVersionOtherThan?: string | undefined
}

export interface Stats {
  readonly jobsByStatus: Readonly<Record<JobStatus, number>>
  readonly unitsByVerdict: Readonly<Record<Verdict, number>>
  /** Terminal units per region, split by verdict. */
  readonly unitsByRegion: ReadonlyArray<{
    readonly region: Region
    readonly total: number
    readonly passed: number
    readonly byVerdict: Readonly<Partial<Record<Verdict, number>>>
  }>
  readonly errorsByCategory: Readonly<Partial<Record<ErrorCategory, number>>>
}

/** How a job ends when its units stop: the patch a terminal job transition writes. */
export interface JobTransition {
  readonly from: ReadonlyArray<JobStatus>
  readonly to: JobStatus
  readonly reason?: string | undefined
}

/**
 * The keys a job is created under (`createJobOnce`), and what a repeat gets back.
 *
 * **Details**
 * - `idempotencyKey` is unique for ever: once a job holds it, no other job is created with it.
 * - `activeKey` is unique among non-terminal jobs: while a job holding it is not COMPLETED, FAILED
 *   or CANCELLED, no other is created with it; after that the key is free again.
 * - `fingerprint` identifies the request and `answer` is what the first caller was told (opaque
 *   text for storage; the service stores its JSON); both are returned to repeats unchanged.
 */
export interface JobKeys {
  readonly idempotencyKey: string | null
  readonly activeKey: string | null
  readonly fingerprint: string
  readonly answer: string
}

/** What `createJobOnce` did: created the job, or found the job that holds one of its keys. */
export type CreateOnce =
  | { readonly _tag: "Created" }
  | {
    readonly _tag: "Existing"
    readonly jobId: JobId
    /** Which key matched (the idempotency key is checked first). */
    readonly matched: "idempotencyKey" | "activeKey"
    readonly fingerprint: string
    readonly answer: string
  }

// ---------------------------------------------------------------------------------------------
// Port
// ---------------------------------------------------------------------------------------------

export class Storage extends Context.Service<Storage, {
  /** Write a job and all its units in one atomic step. Fails (writing nothing) if the job id exists. */
  readonly createJob: (job: Job, units: ReadonlyArray<Unit>) => Effect.Effect<void, StorageError>

  /**
   * `createJob` unless a job already holds one of `keys` (see `JobKeys`), in one atomic step across
   * processes: returns `Created` after writing the job, its units and its keys, or `Existing` with
   * the holder's id, fingerprint and answer after writing nothing. A key that is `null` is not checked.
   */
  readonly createJobOnce: (
    job: Job,
    units: ReadonlyArray<Unit>,
    keys: JobKeys
  ) => Effect.Effect<CreateOnce, StorageError>

  readonly getJob: (id: JobId) => Effect.Effect<Option.Option<Job>, StorageError>

  /** The units of a job, ordered by model id then region. Empty for an unknown job. */
  readonly getUnits: (jobId: JobId) => Effect.Effect<ReadonlyArray<Unit>, StorageError>

  readonly getUnit: (id: UnitId) => Effect.Effect<Option.Option<Unit>, StorageError>

  /** Progress counts derived from the job's unit rows. */
  readonly counts: (jobId: JobId) => Effect.Effect<JobCounts, StorageError>

  /**
   * Move a job to `to` only if its status is one of `from`; stamps `updatedAt`, and `startedAt`,
   * `completedAt` or `cancelledAt` as the target implies. Returns the updated job, or none when the
   * precondition failed (or the job is unknown). A transition to COMPLETED also requires every unit
   * to be terminal. A transition to CANCELLED also ends every non-terminal unit CANCELLED; one to
   * FAILED ends them INCONCLUSIVE with `unitError` — both in the same atomic step.
   */
  readonly transitionJob: (
    id: JobId,
    transition: JobTransition & { readonly unitError?: UnitOutcome["error"] | undefined }
  ) => Effect.Effect<Option.Option<Job>, StorageError>

  /** Mark PENDING units QUEUED (stamps `queuedAt`). Units in any other status are left alone. */
  readonly markQueued: (ids: ReadonlyArray<UnitId>) => Effect.Effect<void, StorageError>

  /**
   * Claim a unit for processing with a new fencing `lease`: only if the unit is not terminal and its
   * job is QUEUED or PROCESSING. Sets status PROCESSING, increments `attempts`, stamps `startedAt`
   * (first claim only). Returns the claimed unit, or none (terminal, job ended or paused, unknown).
   */
  readonly claimUnit: (id: UnitId, lease: string) => Effect.Effect<Option.Option<Unit>, StorageError>

  /**
   * Finish a unit with its verdict. Fenced and idempotent: writes only if the unit is PROCESSING with
   * exactly this `lease` and its job is not CANCELLED or FAILED. Stamps `completedAt`, `durationMs`
   * and `expiresAt`, and updates the latest view when this result is newer. Returns whether it wrote.
   */
  readonly completeUnit: (id: UnitId, lease: string, outcome: UnitOutcome) => Effect.Effect<boolean, StorageError>

  /**
   * Give a claimed unit back (graceful shutdown): PROCESSING with this lease → QUEUED, lease cleared.
   * Returns whether it wrote.
   */
  readonly releaseUnit: (id: UnitId, lease: string) => Effect.Effect<boolean, StorageError>

  /** Jobs newest first, with counts. */
  readonly history: (filter: HistoryFilter, page: PageRequest) => Effect.Effect<Page<JobSummary>, StorageError>

  /** The latest terminal result per (model, region), newest first. */
  readonly latest: (filter: LatestFilter, page: PageRequest) => Effect.Effect<Page<Unit>, StorageError>

  readonly stats: Effect.Effect<Stats, StorageError>

  /**
   * Retention: delete terminal jobs (and their units) completed before `before`. The latest view
   * keeps its own copies. Returns how many jobs were deleted.
   */
  readonly cleanup: (before: Timestamp) => Effect.Effect<number, StorageError>

  // Issue #13 — the living registry: what the control plane said per (account, region), and when.
  /**
   * Keep an (account, region)'s observation: writes unless the stored one was observed later
   * (`observedAt`; an equal time overwrites, so availability added to a listing is kept). Returns
   * whether it wrote. The observation is stored as given and read back equal.
   */
  readonly saveObservation: (observation: RegionObservation) => Effect.Effect<boolean, StorageError>

  /** The stored observation of an (account, region), or none. */
  readonly getObservation: (
    account: string,
    region: Region
  ) => Effect.Effect<Option.Option<RegionObservation>, StorageError>
  // --- issue 18: stored progress events, so an SSE stream resumes from `Last-Event-ID` ---------

  /**
   * Record a progress event of its job and return the event's per-job sequence number: 1 for the
   * job's first event, then consecutive with no gap. Numbers are assigned in commit order, so a
   * reader that has seen `n` never later finds a new event below `n`. None for an unknown job
   * (nothing is written). Retention (`cleanup`) deletes a job's events with the job.
   */
  readonly appendProgress: (event: ProgressEvent) => Effect.Effect<Option.Option<number>, StorageError>

  /** The job's stored events with a sequence number above `after`, ascending, at most `limit`. Empty for an unknown job. */
  readonly progressAfter: (
    jobId: JobId,
    after: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<StoredProgress>, StorageError>
  // Issue 15: reconciliation.

  /** Record, stamped by the backend's clock, that every unit of the job reached the queue (idempotent; unknown job: no-op). */
  readonly markEnqueued: (jobId: JobId) => Effect.Effect<void, StorageError>

  /**
   * Non-terminal jobs whose enqueue never finished, written (on the backend's clock, not their
   * `createdAt`) before `before`, oldest first. `before` is on `databaseTime`'s clock.
   */
  readonly unenqueuedJobs: (before: Timestamp, limit: number) => Effect.Effect<ReadonlyArray<JobId>, StorageError>

  /**
   * Non-terminal units of QUEUED or PROCESSING jobs enqueued (`markEnqueued`, on the backend's
   * clock) before `before` (on `databaseTime`'s clock), ordered by unit id, after `after` (keyset
   * paging; null: from the start), at most `limit`.
   */
  readonly activeUnits: (
    options: { readonly before: Timestamp; readonly after: UnitId | null; readonly limit: number }
  ) => Effect.Effect<ReadonlyArray<Unit>, StorageError>

  /** QUEUED or PROCESSING jobs whose units are all terminal (they only miss their COMPLETED transition). */
  readonly finishableJobs: (limit: number) => Effect.Effect<ReadonlyArray<JobId>, StorageError>

  /**
   * Issue 15 (time): the backend's own clock, in epoch milliseconds (the database server's clock;
   * `Clock` for an in-process store), so a process can tell how far its clock is from it.
   */
  readonly databaseTime: Effect.Effect<number, StorageError>

  // Continuous certification (issue 14) ------------------------------------------------------

  /**
   * A small named record shared by every process (the recertification schedule, its last run, the
   * reasons of a scheduled job): opaque text under a key. `none` when the key was never written.
   */
  readonly getSetting: (key: string) => Effect.Effect<Option.Option<string>, StorageError>

  /** Write (create or replace) the record under `key`; the last write wins. */
  readonly putSetting: (key: string, value: string) => Effect.Effect<void, StorageError>
} & LargeJobs>()("@myia/certification/Storage") {}

/** A stored progress event with its per-job sequence number (issue 18). */
export interface StoredProgress {
  readonly seq: number
  readonly event: ProgressEvent
}

// ---------------------------------------------------------------------------------------------
// Large jobs (issue 16): paged job detail and per-test progress
// ---------------------------------------------------------------------------------------------

/** Largest page of `unitsPage`; adapters cap `limit` here. */
export const maxUnitsPageSize = 500

/** Which units of a job `unitsPage` returns (every given field must match). */
export interface UnitsFilter {
  readonly status?: UnitStatus | undefined
  readonly region?: Region | undefined
  readonly modelId?: ModelId | undefined
}

/** A page of a job's units; `withTests: false` (the default) leaves each unit's `tests` empty. */
export interface UnitsQuery {
  readonly filter: UnitsFilter
  readonly page: PageRequest
  readonly withTests?: boolean | undefined
  /**
   * Count the filtered units for `total` (default true). With false an adapter may skip the count
   * and answer `total: -1`: for callers that know it already (job detail derives it from `counts`).
   */
  readonly countTotal?: boolean | undefined
}

/** One unit of a job as the model × region matrix shows it: no test records, no error. */
export interface UnitCell {
  readonly modelId: ModelId
  readonly region: Region
  readonly status: UnitStatus
  readonly score: number | null
  readonly grade: string | null
}

/** A job with its counts and one page of its units, read together (`LargeJobs.jobDetail`). */
export interface JobDetailRead {
  readonly job: Job
  readonly counts: JobCounts
  /** `total` counts the filtered units, or is -1 when `countTotal: false` was asked. */
  readonly units: Page<Unit>
}

/** What a worker has learned about a unit so far: the target that answers and the tests already run. */
export interface UnitProgress {
  readonly invocationTarget: InvocationTarget | null
  readonly tests: ReadonlyArray<TestResult>
}

/**
 * The large-job members of the Storage port (issue 16). Every adapter implements them next to
 * `Storage`'s own; `StorageTest.suite` checks them.
 *
 * **Details**
 * - `unitsPage`: the units of a job ordered by model id then region, filtered, paged (`limit` capped
 *   at `maxUnitsPageSize`), `total` counting the filtered units. Unknown job → an empty page.
 * - `unitCells`: every unit of a job as a `UnitCell`, ordered by model id then region. Adapters read
 *   it without loading test records.
 * - `saveProgress`: fenced like `completeUnit` (PROCESSING with exactly this lease, job not CANCELLED
 *   or FAILED): merges `tests` into the unit's stored tests by test id (a given test replaces the
 *   stored one with its id) and sets the invocation target when given. Status, lease and attempts are
 *   unchanged, and `claimUnit`/`releaseUnit` keep the stored tests, so a redelivered unit can resume.
 *   Returns whether it wrote.
 * - `jobDetail`: `getJob`, `counts` and `unitsPage` of one job as one read (none when the job does not
 *   exist) — the page a detail request serves, in one round trip where the adapter can (PostgreSQL:
 *   one statement; its counts come from the per-job counts that every unit write keeps, migration 9).
 *   Same results as the three calls made at one instant.
 */
export interface LargeJobs {
  readonly unitsPage: (jobId: JobId, query: UnitsQuery) => Effect.Effect<Page<Unit>, StorageError>
  readonly unitCells: (jobId: JobId) => Effect.Effect<ReadonlyArray<UnitCell>, StorageError>
  readonly saveProgress: (id: UnitId, lease: string, progress: UnitProgress) => Effect.Effect<boolean, StorageError>
  readonly jobDetail: (jobId: JobId, query: UnitsQuery) => Effect.Effect<Option.Option<JobDetailRead>, StorageError>
}
