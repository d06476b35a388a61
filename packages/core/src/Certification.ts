/**
 * The certification service: what a host calls. Three parts, read apart:
 * - **planning** (`JobPlan`, pure): which (model, region) units a request makes, what it skips and why,
 *   or the typed refusal that creates nothing;
 * - **commands** (this module): create jobs (units committed, then queued), cancel, retry, cleanup;
 * - **queries** (this module): job detail, history, latest results, stats, a progress stream.
 *
 * Explicit requests (one model, several models) fail with `ModelsNotCertifiable` naming every model
 * that cannot be certified and why, and create nothing; a request for all models returns the
 * non-certifiable (model, region) pairs in `skipped`.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import {
  Job,
  JobConfig,
  type JobCounts,
  JobId,
  JobStatus,
  JobType,
  type ModelId,
  Region,
  pendingUnit,
  type Timestamp,
  type Unit,
  UnitId,
  type UnitStatus,
  type Verdict
} from "./Domain.ts"
import * as ClockSkew from "./ClockSkew.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import * as JobPlan from "./JobPlan.ts"
import * as JobStateMachine from "./JobStateMachine.ts"
import * as JobView from "./JobView.ts"
import { LivingRegistry } from "./LivingRegistry.ts"
import { ModelCatalog } from "./ModelCatalog.ts"
import * as Progress from "./Progress.ts"
import { ProgressEvent, Queue, type QueueCounts, type QueueError, UnitMessage } from "./Queue.ts"
import * as Rating from "./Rating.ts"
import * as Recertification from "./Recertification.ts"
import { Registry, type ModelInfo, NotCertifiableReason } from "./Registry.ts"
import type {
  CreateOnce,
  HistoryFilter,
  JobKeys,
  JobSummary,
  LatestFilter,
  Page,
  PageRequest,
  Stats,
  StorageError
} from "./Storage.ts"
import {
  maxUnitsPageSize,
  Storage,
  StorageError as StorageErrorClass,
  StorageUnknown,
  type StoredProgress
} from "./Storage.ts"
import * as Suite from "./Suite.ts"
import * as Tracing from "./Tracing.ts"

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export { FieldIssue, InvalidRequest, ModelsNotCertifiable, Rejection } from "./JobPlan.ts"
type InvalidRequest = JobPlan.InvalidRequest
type ModelsNotCertifiable = JobPlan.ModelsNotCertifiable

export class JobNotFound extends Schema.TaggedError<JobNotFound>("@myia/certification/JobNotFound")(
  "JobNotFound",
  { jobId: Schema.String, message: Schema.String },
  { httpApiStatus: 404 }
) {}

/**
 * An `idempotencyKey` was used before with a different request: nothing is created (409). Use a new
 * key for a new request.
 */
export class IdempotencyConflict extends Schema.TaggedError<IdempotencyConflict>(
  "@myia/certification/IdempotencyConflict"
)("IdempotencyConflict", { jobId: Schema.String, message: Schema.String }, { httpApiStatus: 409 }) {}

/** The job is in a state that does not allow the operation (e.g. cancel a finished job). */
export class JobConflict extends Schema.TaggedError<JobConflict>("@myia/certification/JobConflict")(
  "JobConflict",
  { jobId: Schema.String, status: JobStatus, message: Schema.String },
  { httpApiStatus: 409 }
) {}

// ---------------------------------------------------------------------------------------------
// Requests and answers
// ---------------------------------------------------------------------------------------------

/** Input limits; requests over them are `InvalidRequest`. */
export type Limits = JobPlan.Limits

export interface Settings {
  readonly limits: Limits
  /**
   * Minimum score for CERTIFIED (default `Rating.defaultCertifyThreshold`, 80). Recorded on each job
   * this service creates (`JobConfig.certifyThreshold`); workers judge the job's units by that value.
   */
  readonly certifyThreshold: number
  /** How many days a verdict stays valid (default 30). */
  readonly validityDays: number
}

/** Service settings, with safe defaults; override with `layer({ ... })`. */
export const CertificationConfig = Context.Reference<Settings>("@myia/certification/CertificationConfig", {
  defaultValue: () => ({
    limits: { maxModelsPerJob: 100, maxRegionsPerJob: 20, maxUnitsPerJob: 5_000 },
    certifyThreshold: Rating.defaultCertifyThreshold,
    validityDays: 30
  })
})

export interface RequestMeta {
  /** Who asked (the HTTP plugin fills it from the principal). */
  readonly createdBy?: string | null | undefined
  /**
   * The caller's idempotency key (HTTP `Idempotency-Key`), scoped to `createdBy`: the same key with
   * the same request answers the job it created (`replayed: true`); with another request it fails
   * with `IdempotencyConflict`. Atomic across processes (`Storage.createJobOnce`).
   */
  readonly idempotencyKey?: string | null | undefined
}

/** A pair left out of a job, and why. */
export type Skipped = JobPlan.Skipped

export interface CreatedJob {
  readonly jobId: JobId
  readonly type: JobType
  readonly status: JobStatus
  readonly modelIds: ReadonlyArray<string>
  readonly regions: ReadonlyArray<Region>
  readonly totalUnits: number
  readonly skipped: ReadonlyArray<Skipped>
  /** True when an earlier call created this job (same idempotency key, or a retry still running). */
  readonly replayed?: boolean | undefined
}

/** A unit with the model facts a UI shows beside it. */
export interface UnitView extends Unit {
  readonly model: { readonly id: string; readonly name: string; readonly vendor: string }
}

export interface JobDetail {
  readonly job: Job
  readonly counts: JobCounts
  readonly units: ReadonlyArray<UnitView>
}

export interface ServiceStats extends Stats {
  readonly queue: QueueCounts
}

export type CertificationError = StorageError | QueueError

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

export class Certification extends Context.Service<Certification, {
  readonly certifyModel: (
    request: { readonly modelId: string; readonly region: string },
    meta?: RequestMeta
  ) => Effect.Effect<CreatedJob, InvalidRequest | ModelsNotCertifiable | IdempotencyConflict | CertificationError>
  readonly certifyMultiple: (
    request: { readonly modelIds: ReadonlyArray<string>; readonly regions: ReadonlyArray<string> },
    meta?: RequestMeta
  ) => Effect.Effect<CreatedJob, InvalidRequest | ModelsNotCertifiable | IdempotencyConflict | CertificationError>
  readonly certifyAll: (
    request: { readonly regions: ReadonlyArray<string>; readonly modalities?: ReadonlyArray<"chat" | "embedding"> },
    meta?: RequestMeta
  ) => Effect.Effect<CreatedJob, InvalidRequest | IdempotencyConflict | CertificationError>
  /**
   * A new RECERTIFY job for the FAILED and INCONCLUSIVE units of a job. Idempotent while that retry
   * job is not terminal: a repeat (from any process) answers the same job with `replayed: true`.
   */
  readonly retry: (
    jobId: string,
    meta?: RequestMeta
  ) => Effect.Effect<CreatedJob, JobNotFound | JobConflict | IdempotencyConflict | CertificationError>
  /** Cancel: pending units are removed, running ones interrupted, nothing is written after. */
  readonly cancel: (jobId: string) => Effect.Effect<Job, JobNotFound | JobConflict | CertificationError>
  readonly getJob: (jobId: string) => Effect.Effect<JobDetail, JobNotFound | StorageError>
  readonly history: (filter: HistoryFilter, page: PageRequest) => Effect.Effect<Page<JobSummary>, StorageError>
  readonly latest: (filter: LatestFilter, page: PageRequest) => Effect.Effect<Page<UnitView>, StorageError>
  readonly stats: Effect.Effect<ServiceStats, CertificationError>
  /**
   * Retention: delete finished jobs (and their units) that ended more than `olderThanDays` ago. The
   * latest-results view keeps its own copies. Returns how many jobs were deleted.
   */
  readonly cleanup: (options: { readonly olderThanDays: number }) => Effect.Effect<number, InvalidRequest | StorageError>
  /**
   * Progress of a job until it is terminal: a first `job-status` event with the current state, then
   * every event from any process. Ends after the terminal `job-status` event.
   */
  readonly events: (jobId: string) => Stream.Stream<ProgressEvent, JobNotFound | CertificationError>
  /**
   * Issue 18: the job's stored progress events with a sequence number above `after` (0: all of
   * them), then each new one from any process, ending after the terminal `job-status` event. A
   * stream resumed with the last number it saw gets every later event exactly once, in order.
   */
  readonly progress: (
    jobId: string,
    after: number,
    options?: Progress.StreamOptions
  ) => Stream.Stream<StoredProgress, JobNotFound | CertificationError>

  // Continuous certification (issue 14) ------------------------------------------------------

  /**
   * Pause a QUEUED or PROCESSING job: no new unit starts (workers postpone its deliveries without
   * spending their attempts), running units finish. `JobConflict` when the job is terminal or
   * already paused.
   */
  readonly pause: (jobId: string) => Effect.Effect<Job, JobNotFound | JobConflict | CertificationError>
  /** Resume a PAUSED job where it stopped. `JobConflict` when the job is not paused. */
  readonly resume: (jobId: string) => Effect.Effect<Job, JobNotFound | JobConflict | CertificationError>
  /**
   * A RECERTIFY job for the latest results a selection picks (see `Recertification.Selection`), or
   * `job: null` with the reason when nothing matches. Honours `meta.idempotencyKey`.
   */
  readonly recertify: (
    selection: Recertification.Selection,
    meta?: RequestMeta
  ) => Effect.Effect<Recertification.RecertifyResult, InvalidRequest | IdempotencyConflict | CertificationError>
  /**
   * One scheduled run (a tick of `RecertificationScheduler`): the policy over every latest result and
   * the observations, then at most one RECERTIFY job, idempotent per tick and selection.
   */
  readonly recertificationTick: (
    tick: Recertification.Tick
  ) => Effect.Effect<Recertification.RecertifyResult, InvalidRequest | CertificationError>
  /** The schedule: settings, where they come from, next run, last run and its job. */
  readonly schedule: Effect.Effect<Recertification.ScheduleView, StorageError>
  /** The effective schedule settings (the stored change, else code/environment). */
  readonly scheduleSettings: Effect.Effect<Recertification.ScheduleSettings, StorageError>
  /** Change the schedule for every process (fields left out keep their value). */
  readonly updateSchedule: (
    update: Recertification.ScheduleUpdate
  ) => Effect.Effect<Recertification.ScheduleView, InvalidRequest | StorageError>
  /** The reasons recorded for each pair of a RECERTIFY job created by `recertify` or a tick. */
  readonly recertificationReasons: (jobId: string) => Effect.Effect<Recertification.RecordedReasons, StorageError>
  /**
   * Issue 15: this process's clock against the database's (`Storage.databaseTime`), one round trip;
   * a skew beyond `thresholdMillis` (default `ClockSkew.defaultThresholdMillis`) is logged as a warning.
   */
  readonly clockSkew: (thresholdMillis?: number) => Effect.Effect<ClockSkew.Reading, StorageError>
} & LargeJobQueries>()("@myia/certification/Certification") {}

const decodeJobId = Schema.decodeUnknownExit(JobId)

/** The answer a job was created with, as stored beside its keys for repeats. */
const StoredAnswer = Schema.fromJsonString(Schema.Struct({
  jobId: JobId,
  type: JobType,
  status: JobStatus,
  modelIds: Schema.Array(Schema.String),
  regions: Schema.Array(Region),
  totalUnits: Schema.Int,
  skipped: Schema.Array(Schema.Struct({
    modelId: Schema.String,
    region: Schema.String,
    reason: NotCertifiableReason,
    message: Schema.String
  }))
}))
const encodeAnswer = Schema.encodeSync(StoredAnswer)
const decodeAnswer = Schema.decodeUnknownEffect(StoredAnswer)

/** A request's fingerprint: SHA-256 of its JSON (operation and input as given). */
const fingerprintOf = (request: unknown): string => createHash("sha256").update(JSON.stringify(request)).digest("hex")

/** What makes a job creation idempotent: the request (fingerprinted) and an optional active key. */
interface Idempotence {
  readonly request: unknown
  /** Unique among non-terminal jobs (`retry:<job id>`: one running retry per job). */
  readonly activeKey: string | null
}

const nowIso = Effect.map(DateTime.now, DateTime.formatIso)

const unitIdFor = (): UnitId => UnitId.make(`u-${crypto.randomUUID()}`)

/** What commands and queries share: the ports, the registry, the catalogue and the settings. */
interface Deps {
  readonly storage: Storage["Service"]
  readonly queue: Queue["Service"]
  readonly registry: Registry["Service"]
  readonly catalog: Option.Option<ModelCatalog["Service"]>
  readonly config: Settings
  /** Issue #13: the living registry, when the host wired one; planning then sees what the control plane lists. */
  readonly living?: Option.Option<LivingRegistry["Service"]> | undefined
}

/** The job, or `JobNotFound` for an unknown or malformed id. */
const findJob = (storage: Storage["Service"]) =>
  Effect.fnUntraced(function*(jobId: string) {
    const id = decodeJobId(jobId)
    if (id._tag === "Failure") return yield* new JobNotFound({ jobId, message: `no job with id "${jobId}"` })
    const job = yield* storage.getJob(id.value)
    if (Option.isNone(job)) return yield* new JobNotFound({ jobId, message: `no job with id "${jobId}"` })
    return job.value
  })

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/** Job creation: host ids resolved, rows written once per key, units queued. */
const makeCreation = ({ catalog, config, queue, storage }: Deps) => {
  /** Host id → Bedrock id through the catalog, when the host has one. */
  const resolveModel = Effect.fnUntraced(function*(requested: string) {
    if (Option.isSome(catalog)) {
      const entry = yield* catalog.value.resolve(requested)
      if (Option.isSome(entry)) {
        const resolved: JobPlan.ResolvedModel = {
          requested,
          modelId: entry.value.modelId,
          hostModelId: requested,
          active: entry.value.active
        }
        return resolved
      }
    }
    const resolved: JobPlan.ResolvedModel = { requested, modelId: requested, hostModelId: null, active: true }
    return resolved
  })

  /** The keys of a creation, or `null` when it has none (no idempotency key, no active key). */
  const keysOf = (meta: RequestMeta, idempotence: Idempotence, answer: CreatedJob): JobKeys | null => {
    const key = meta.idempotencyKey ?? null
    if (key === null && idempotence.activeKey === null) return null
    return {
      // Scoped to the caller: two principals never share (or see) each other's keys.
      idempotencyKey: key === null ? null : JSON.stringify([meta.createdBy ?? null, key]),
      activeKey: idempotence.activeKey,
      fingerprint: fingerprintOf(idempotence.request),
      answer: encodeAnswer(answer)
    }
  }

  /** The answer to a repeat: the first answer, unless the idempotency key came with another request. */
  const replay = Effect.fnUntraced(function*(existing: Extract<CreateOnce, { _tag: "Existing" }>, keys: JobKeys) {
    if (existing.matched === "idempotencyKey" && existing.fingerprint !== keys.fingerprint) {
      return yield* new IdempotencyConflict({
        jobId: existing.jobId,
        message: `this Idempotency-Key was already used for a different request (job ${existing.jobId}); use a new key`
      })
    }
    const answer = yield* decodeAnswer(existing.answer).pipe(
      Effect.mapError((cause) =>
        new StorageErrorClass({
          operation: "createJobOnce",
          reason: new StorageUnknown({ message: `stored answer of job ${existing.jobId} did not decode`, cause })
        })
      )
    )
    const replayed: CreatedJob = { ...answer, replayed: true }
    return replayed
  })

  const createJob = Effect.fnUntraced(function*(
    type: JobType,
    plan: JobPlan.Plan,
    meta: RequestMeta,
    parentJobId: JobId | null,
    idempotence: Idempotence
  ) {
    const now = (yield* nowIso) as Timestamp
    const jobId = JobId.make(crypto.randomUUID())
    const modelIds = [...new Set(plan.pairs.map((p) => p.hostModelId ?? p.modelId))]
    const regions = [...new Set(plan.pairs.map((p) => p.region))]
    const job = new Job({
      id: jobId,
      type,
      status: "PENDING",
      modelIds: modelIds as Array<ModelId>,
      regions,
      totalUnits: plan.pairs.length,
      config: new JobConfig({
        certifyThreshold: config.certifyThreshold,
        validityDays: config.validityDays,
        suiteVersion: Suite.version
      }),
      createdBy: meta.createdBy ?? null,
      parentJobId,
      reason: null,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      completedAt: null,
      cancelledAt: null
    })
    const units = plan.pairs.map((p) =>
      pendingUnit({
        id: unitIdFor(),
        jobId,
        modelId: p.modelId as ModelId,
        hostModelId: p.hostModelId,
        region: p.region,
        createdAt: now
      })
    )
    const created: CreatedJob = {
      jobId,
      type,
      status: "QUEUED",
      modelIds,
      regions,
      totalUnits: units.length,
      skipped: plan.skipped
    }
    const keys = keysOf(meta, idempotence, created)
    if (keys === null) {
      yield* storage.createJob(job, units)
    } else {
      const once = yield* storage.createJobOnce(job, units, keys)
      if (once._tag === "Existing") return yield* replay(once, keys)
    }
    // Once the rows exist, queueing them runs to the end (a caller that goes away must not leave a
    // job without queued units), and any failure ends the job FAILED instead of leaving it open.
    yield* Effect.uninterruptible(
      Effect.gen(function*() {
        // Queue the units in storage first: a worker may claim a unit the moment it is enqueued.
        yield* storage.markQueued(units.map((u) => u.id))
        yield* storage.transitionJob(jobId, { from: ["PENDING"], to: "QUEUED" })
        // Issue 18: the unit spans continue this request's trace in whichever worker runs them.
        const traceparent = yield* Tracing.currentTraceparent
        yield* queue.enqueue(
          units.map((u) =>
            new UnitMessage({
              unitId: u.id,
              jobId,
              modelId: u.modelId,
              region: u.region,
              ...(traceparent === undefined ? {} : { traceparent })
            })
          )
        )
        // Issue 15: until this, the job counts as not yet enqueued and the reconciler resumes it
        // (this process may die anywhere between the commit above and here).
        yield* storage.markEnqueued(jobId)
      })
    ).pipe(
      Effect.tapError((error) =>
        storage.transitionJob(jobId, {
          from: JobStateMachine.jobSourcesOf("FAILED"),
          to: "FAILED",
          reason: `could not queue the units: ${error.message}`,
          unitError: ErrorCategory.make("SERVICE_UNAVAILABLE", { message: `could not queue the units: ${error.message}` })
        }).pipe(Effect.ignore)
      )
    )
    yield* Progress.record(storage, queue)(
      new ProgressEvent({ jobId, type: "job-status", unitId: null, status: "QUEUED", at: yield* nowIso })
    )
    yield* Effect.logInfo("certification job created").pipe(
      Effect.annotateLogs({ jobId, type, units: units.length, skipped: plan.skipped.length })
    )
    return created
  })

  return { createJob, resolveModel }
}

const makeCommands = (deps: Deps) => {
  const { config, queue, registry, storage } = deps
  const { createJob, resolveModel } = makeCreation(deps)
  /** The registry a plan for these regions uses: the snapshot, or with the control plane merged in (issue #13). */
  const planning = (regions: ReadonlyArray<Region>) =>
    deps.living === undefined || Option.isNone(deps.living)
      ? Effect.succeed(registry)
      : deps.living.value.registryFor(regions)

  const explicit = Effect.fnUntraced(function*(
    type: JobType,
    fields: { readonly models: string; readonly regions: string },
    input: { readonly models: ReadonlyArray<string>; readonly regions: ReadonlyArray<string> },
    meta: RequestMeta
  ) {
    const { limits } = config
    const models = JobPlan.modelIds(fields.models, input.models, limits)
    const regions = JobPlan.regions(fields.regions, input.regions, limits)
    if (Result.isFailure(models) || Result.isFailure(regions)) {
      return yield* JobPlan.invalid([
        ...(Result.isFailure(models) ? models.failure : []),
        ...(Result.isFailure(regions) ? regions.failure : [])
      ])
    }
    const resolved = yield* Effect.forEach(models.success, resolveModel)
    const plan = yield* Effect.fromResult(JobPlan.explicit({
      models: resolved,
      regions: regions.success,
      modelsField: fields.models,
      registry: yield* planning(regions.success),
      at: yield* DateTime.now,
      limits
    }))
    return yield* createJob(type, plan, meta, null, { request: [type, input], activeKey: null })
  })

  const certifyModel = Effect.fn("Certification.certifyModel")(
    (request: { readonly modelId: string; readonly region: string }, meta: RequestMeta = {}) =>
      explicit("SINGLE_MODEL", { models: "modelId", regions: "region" }, {
        models: [request.modelId],
        regions: [request.region]
      }, meta)
  )

  const certifyMultiple = Effect.fn("Certification.certifyMultiple")(
    (request: { readonly modelIds: ReadonlyArray<string>; readonly regions: ReadonlyArray<string> }, meta: RequestMeta = {}) =>
      explicit("MULTIPLE_MODELS", { models: "modelIds", regions: "regions" }, {
        models: request.modelIds,
        regions: request.regions
      }, meta)
  )

  const certifyAll = Effect.fn("Certification.certifyAll")(function*(
    request: { readonly regions: ReadonlyArray<string>; readonly modalities?: ReadonlyArray<"chat" | "embedding"> },
    meta: RequestMeta = {}
  ) {
    const regions = JobPlan.regions("regions", request.regions, config.limits)
    if (Result.isFailure(regions)) return yield* JobPlan.invalid(regions.failure)
    const plan = yield* Effect.fromResult(JobPlan.all({
      regions: regions.success,
      modalities: request.modalities ?? ["chat", "embedding"],
      registry: yield* planning(regions.success),
      at: yield* DateTime.now,
      limits: config.limits
    }))
    return yield* createJob("ALL_MODELS", plan, meta, null, { request: ["ALL_MODELS", request], activeKey: null })
  })

  const retry = Effect.fn("Certification.retry")(function*(jobId: string, meta: RequestMeta = {}) {
    const job = yield* findJob(storage)(jobId)
    const units = yield* storage.getUnits(job.id)
    const again = units.filter((u) => u.status === "FAILED" || u.status === "INCONCLUSIVE")
    if (again.length === 0) {
      return yield* new JobConflict({
        jobId,
        status: job.status,
        message: `job ${jobId} has no FAILED or INCONCLUSIVE units to retry`
      })
    }
    const pairs = again.map((u) => ({ modelId: u.modelId as string, hostModelId: u.hostModelId, region: u.region }))
    // One running retry per job, across processes: repeats answer it until it is terminal.
    return yield* createJob("RECERTIFY", { pairs, skipped: [] }, meta, job.id, {
      request: ["RECERTIFY", job.id],
      activeKey: `retry:${job.id}`
    })
  })

  const cancel = Effect.fn("Certification.cancel")(function*(jobId: string) {
    const job = yield* findJob(storage)(jobId)
    if (JobStateMachine.isTerminalJob(job.status)) {
      return yield* new JobConflict({ jobId, status: job.status, message: `job ${jobId} is already ${job.status}` })
    }
    const cancelled = yield* storage.transitionJob(job.id, {
      from: JobStateMachine.jobSourcesOf("CANCELLED"),
      to: "CANCELLED",
      reason: "cancelled on request"
    })
    if (Option.isNone(cancelled)) {
      const now = yield* findJob(storage)(jobId)
      return yield* new JobConflict({ jobId, status: now.status, message: `job ${jobId} is already ${now.status}` })
    }
    // Storage is the truth and the job is already CANCELLED there; workers also check it before each
    // test. A queue outage here only delays the interruption of running units, so log it.
    yield* queue.cancelJob(job.id).pipe(
      Effect.catch((error) => Effect.logWarning("cancel: could not reach the queue", error.message))
    )
    yield* Progress.record(storage, queue)(
      new ProgressEvent({ jobId: job.id, type: "job-status", unitId: null, status: "CANCELLED", at: yield* nowIso })
    )
    return cancelled.value
  })

  const cleanup = Effect.fn("Certification.cleanup")(function*(options: { readonly olderThanDays: number }) {
    if (!Number.isFinite(options.olderThanDays) || options.olderThanDays < 0) {
      return yield* JobPlan.invalid([
        new JobPlan.FieldIssue({ field: "olderThanDays", message: "must be a non-negative number of days" })
      ])
    }
    const cutoff = DateTime.subtract(yield* DateTime.now, { milliseconds: options.olderThanDays * 86_400_000 })
    const deleted = yield* storage.cleanup(DateTime.formatIso(cutoff) as Timestamp)
    yield* Effect.logInfo("retention cleanup").pipe(Effect.annotateLogs({ deleted, olderThanDays: options.olderThanDays }))
    return deleted
  })

  return { certifyModel, certifyMultiple, certifyAll, retry, cancel, cleanup }
}

// ---------------------------------------------------------------------------------------------
// Pause, resume and the RECERTIFY jobs of continuous certification (issue 14)
// ---------------------------------------------------------------------------------------------

const makeJobControl = (deps: Deps) => {
  const { queue, storage } = deps
  const { createJob } = makeCreation(deps)

  const conflict = (job: Job, message: string) => new JobConflict({ jobId: job.id, status: job.status, message })

  const pause = Effect.fn("Certification.pause")(function*(jobId: string) {
    const job = yield* findJob(storage)(jobId)
    if (!JobStateMachine.canTransitionJob(job.status, "PAUSED")) {
      return yield* conflict(job, `job ${jobId} is ${job.status} and cannot be paused`)
    }
    const paused = yield* storage.transitionJob(job.id, { from: JobStateMachine.jobSourcesOf("PAUSED"), to: "PAUSED" })
    if (Option.isNone(paused)) {
      const now = yield* findJob(storage)(jobId)
      return yield* conflict(now, `job ${jobId} is ${now.status} and cannot be paused`)
    }
    yield* Progress.record(storage, queue)(
      new ProgressEvent({ jobId: job.id, type: "job-status", unitId: null, status: "PAUSED", at: yield* nowIso })
    )
    yield* Effect.logInfo("certification job paused").pipe(Effect.annotateLogs({ jobId: job.id }))
    return paused.value
  })

  const resume = Effect.fn("Certification.resume")(function*(jobId: string) {
    const job = yield* findJob(storage)(jobId)
    if (job.status !== "PAUSED") return yield* conflict(job, `job ${jobId} is ${job.status}, not PAUSED`)
    // Back to where it was: PROCESSING once a unit had started, else QUEUED.
    const to = job.startedAt === null ? "QUEUED" : "PROCESSING"
    const resumed = yield* storage.transitionJob(job.id, { from: ["PAUSED"], to })
    if (Option.isNone(resumed)) {
      const now = yield* findJob(storage)(jobId)
      return yield* conflict(now, `job ${jobId} is ${now.status}, not PAUSED`)
    }
    yield* Progress.record(storage, queue)(
      new ProgressEvent({ jobId: job.id, type: "job-status", unitId: null, status: to, at: yield* nowIso })
    )
    // Every unit may have finished while paused (running units finish): then the job is done now.
    const done = yield* storage.transitionJob(job.id, { from: ["QUEUED", "PROCESSING"], to: "COMPLETED" })
    if (Option.isSome(done)) {
      yield* Progress.record(storage, queue)(
        new ProgressEvent({ jobId: job.id, type: "job-status", unitId: null, status: "COMPLETED", at: yield* nowIso })
      )
      return done.value
    }
    yield* Effect.logInfo("certification job resumed").pipe(Effect.annotateLogs({ jobId: job.id, status: to }))
    return resumed.value
  })

  /** A RECERTIFY job for pairs chosen by the recertification policy. */
  const createRecertifyJob = (
    pairs: ReadonlyArray<JobPlan.Pair>,
    meta: RequestMeta,
    idempotence: Idempotence
  ) => createJob("RECERTIFY", { pairs, skipped: [] }, meta, null, idempotence)

  return { pause, resume, createRecertifyJob }
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

const makeQueries = ({ queue, registry, storage }: Deps) => {
  const viewOf = (unit: Unit): UnitView => {
    const model: Option.Option<ModelInfo> = registry.get(unit.modelId)
    return Object.assign(Object.create(Object.getPrototypeOf(unit)), unit, {
      model: Option.match(model, {
        onNone: () => ({ id: unit.hostModelId ?? unit.modelId, name: unit.modelId, vendor: "unknown" }),
        onSome: (m) => ({ id: unit.hostModelId ?? m.id, name: m.name, vendor: m.vendor })
      })
    }) as UnitView
  }

  const getJob = Effect.fn("Certification.getJob")(function*(jobId: string) {
    const job = yield* findJob(storage)(jobId)
    const [counts, units] = yield* Effect.all([storage.counts(job.id), storage.getUnits(job.id)], { concurrency: 2 })
    const detail: JobDetail = { job, counts, units: units.map(viewOf) }
    return detail
  })

  const history = Effect.fn("Certification.history")((filter: HistoryFilter, page: PageRequest) =>
    storage.history(filter, page)
  )

  const latest = Effect.fn("Certification.latest")(function*(filter: LatestFilter, page: PageRequest) {
    const result = yield* storage.latest(filter, page)
    return { ...result, items: result.items.map(viewOf) }
  })

  const stats = Effect.gen(function*() {
    const [s, q] = yield* Effect.all([storage.stats, queue.counts], { concurrency: 2 })
    const out: ServiceStats = { ...s, queue: q }
    return out
  }).pipe(Effect.withSpan("Certification.stats"))

  const events = (jobId: string): Stream.Stream<ProgressEvent, JobNotFound | CertificationError> =>
    Stream.unwrap(
      Effect.gen(function*() {
        const job = yield* findJob(storage)(jobId)
        const snapshot = new ProgressEvent({
          jobId: job.id,
          type: "job-status",
          unitId: null,
          status: job.status,
          at: yield* nowIso
        })
        // Events published between our read and our subscription could be missed; a slow poll of
        // the job row guarantees the stream still sees the terminal state and ends.
        const poll = Stream.fromEffectSchedule(
          storage.getJob(job.id).pipe(
            Effect.map((j) =>
              Option.match(j, {
                onNone: () => snapshot,
                onSome: (j) =>
                  new ProgressEvent({ jobId: j.id, type: "job-status", unitId: null, status: j.status, at: j.updatedAt })
              })
            )
          ),
          Schedule.spaced(Duration.seconds(1))
        ).pipe(Stream.changesWith((a, b) => a.status === b.status))
        const live = queue.events.pipe(Stream.filter((e) => e.jobId === job.id))
        const isEnd = (e: ProgressEvent) =>
          e.type === "job-status" && JobStateMachine.isTerminalJob(e.status as JobStatus)
        return Stream.concat(Stream.make(snapshot), Stream.merge(live, poll)).pipe(Stream.takeUntil(isEnd))
      })
    )

  const progress = (jobId: string, after: number, options?: Progress.StreamOptions) =>
    Stream.unwrap(Effect.map(findJob(storage)(jobId), (job) => Progress.stream(storage, queue, job.id, after, options)))

  return { getJob, history, latest, stats, events, progress, ...makeLargeJobQueries({ storage, viewOf }) }
}

/** Build the service; requires Storage, Queue and Registry (and an optional ModelCatalog). */
export const make = Effect.gen(function*() {
  const deps: Deps = {
    storage: yield* Storage,
    queue: yield* Queue,
    registry: yield* Registry,
    catalog: yield* Effect.serviceOption(ModelCatalog),
    // Read once, when the service is built: methods run in their callers' context, not the layer's.
    config: yield* CertificationConfig,
    living: yield* Effect.serviceOption(LivingRegistry)
  }
  const { createRecertifyJob, ...control } = makeJobControl(deps)
  const recertification = Recertification.make({
    storage: deps.storage,
    queue: deps.queue,
    limits: deps.config.limits,
    schedule: yield* Recertification.ScheduleConfig,
    observations: yield* Effect.serviceOption(Recertification.Observations),
    createJob: createRecertifyJob
  })
  const clockSkew = (thresholdMillis?: number) =>
    ClockSkew.check(thresholdMillis).pipe(Effect.provideService(Storage, deps.storage))
  return Certification.of({ ...makeCommands(deps), ...makeQueries(deps), ...control, ...recertification, clockSkew })
})

/** The service; requires Storage, Queue and Registry (and an optional ModelCatalog). */
export const layer = (settings?: Partial<Settings>): Layer.Layer<Certification, never, Storage | Queue | Registry> =>
  settings === undefined
    ? Layer.effect(Certification, make)
    : Layer.effect(Certification, make).pipe(
      Layer.provide(Layer.succeed(CertificationConfig, { ...CertificationConfig.defaultValue(), ...settings }))
    )

/** A unit's verdict, counted into a record (reports). */
export const countVerdicts = (units: ReadonlyArray<{ readonly status: string }>): Partial<Record<Verdict, number>> => {
  const out: Partial<Record<Verdict, number>> = {}
  for (const u of units) {
    if (JobStateMachine.isTerminalUnit(u.status as Verdict)) out[u.status as Verdict] = (out[u.status as Verdict] ?? 0) + 1
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Large jobs (issue 16): paged job detail, one unit whole
// ---------------------------------------------------------------------------------------------

/** No unit with this id in this job (404). */
export class UnitNotFound extends Schema.TaggedError<UnitNotFound>("@myia/certification/UnitNotFound")(
  "UnitNotFound",
  { jobId: Schema.String, unitId: Schema.String, message: Schema.String },
  { httpApiStatus: 404 }
) {}

/** Which units of a job a detail read returns; `page` 1-based, `limit` ≤ `Storage.maxUnitsPageSize`. */
export interface JobPageQuery {
  readonly page: number
  readonly limit: number
  readonly status?: UnitStatus | undefined
  readonly region?: Region | undefined
  readonly modelId?: ModelId | undefined
  /** Include each unit's test records (default false: `tests` is empty). */
  readonly withTests?: boolean | undefined
}

/** A job with its counts, its compact summary and one page of its units. */
export interface JobPage {
  readonly job: Job
  readonly counts: JobCounts
  readonly summary: JobView.JobSummaryView
  readonly units: Page<UnitView>
  readonly withTests: boolean
}

/** The large-job queries of the service. */
export interface LargeJobQueries {
  /** Job detail that stays small for any job size; no step reads every unit row whole. */
  readonly jobPage: (jobId: string, query: JobPageQuery) => Effect.Effect<JobPage, JobNotFound | StorageError>
  /** One unit of a job, with its test records. */
  readonly jobUnit: (jobId: string, unitId: string) => Effect.Effect<UnitView, JobNotFound | UnitNotFound | StorageError>
}

const decodeUnitId = Schema.decodeUnknownExit(UnitId)

/** How many units of a job have `status` (all of them without one), from its counts. */
const countOf = (counts: JobCounts, status: UnitStatus | undefined): number =>
  status === undefined
    ? counts.total
    : status === "PENDING"
    ? counts.pending
    : status === "QUEUED"
    ? counts.queued
    : status === "PROCESSING"
    ? counts.processing
    : counts.byVerdict[status]

/** Largest `limit` of `jobPage` (the storage cap). */
export const maxUnitsLimit: number = maxUnitsPageSize

const makeLargeJobQueries = (
  { storage, viewOf }: { readonly storage: Storage["Service"]; readonly viewOf: (unit: Unit) => UnitView }
): LargeJobQueries => {
  const summaries = JobView.makeSummaryCache()

  /** The summary for these counts: cached per (status, counts), a live job's rebuilt at most once a second. */
  const summaryOf = Effect.fnUntraced(function*(job: Job, counts: JobCounts) {
    const cached = summaries.get(job.id, job.status, counts, yield* Clock.currentTimeMillis)
    if (cached !== undefined) return cached
    const summary = JobView.summarize(yield* storage.unitCells(job.id))
    summaries.set(job.id, job.status, counts, summary, yield* Clock.currentTimeMillis)
    return summary
  })

  const jobPage = Effect.fn("Certification.jobPage")(function*(jobId: string, query: JobPageQuery) {
    const id = decodeJobId(jobId)
    if (id._tag === "Failure") return yield* new JobNotFound({ jobId, message: `no job with id "${jobId}"` })
    // Without a region or model filter the total is in the counts: no second count of the units.
    const derived = query.region === undefined && query.modelId === undefined
    // One storage read (PostgreSQL: one statement) for the job, its counts and the page.
    const read = yield* storage.jobDetail(id.value, {
      filter: { status: query.status, region: query.region, modelId: query.modelId as ModelId | undefined },
      page: { page: query.page, limit: query.limit },
      withTests: query.withTests === true,
      countTotal: !derived
    })
    if (Option.isNone(read)) return yield* new JobNotFound({ jobId, message: `no job with id "${jobId}"` })
    const { counts, job, units: page } = read.value
    const summary = yield* summaryOf(job, counts)
    const out: JobPage = {
      job,
      counts,
      summary,
      units: { ...page, total: derived ? countOf(counts, query.status) : page.total, items: page.items.map(viewOf) },
      withTests: query.withTests === true
    }
    return out
  })

  const jobUnit = Effect.fn("Certification.jobUnit")(function*(jobId: string, unitId: string) {
    const job = yield* findJob(storage)(jobId)
    const notFound = new UnitNotFound({ jobId, unitId, message: `job ${jobId} has no unit with id "${unitId}"` })
    const id = decodeUnitId(unitId)
    if (id._tag === "Failure") return yield* notFound
    const unit = yield* storage.getUnit(id.value)
    if (Option.isNone(unit) || unit.value.jobId !== job.id) return yield* notFound
    return viewOf(unit.value)
  })

  return { jobPage, jobUnit }
}
