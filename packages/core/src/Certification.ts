/**
 * The certification service: what a host calls. It validates requests against the registry (and the
 * host's `ModelCatalog`), creates jobs and their units, puts units on the queue, cancels and retries
 * jobs, and answers the read side (job detail, history, latest results, stats, a progress stream).
 *
 * Explicit requests (one model, several models) fail with `ModelsNotCertifiable` naming every model
 * that cannot be certified and why, and create nothing; a request for all models returns the
 * non-certifiable (model, region) pairs in `skipped`. Region-level gaps of an explicit request (a
 * model not offered in one of several regions) are skipped too, unless nothing is left.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import {
  type CategorizedError,
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
  type Verdict
} from "./Domain.ts"
import * as ErrorCategory from "./ErrorCategory.ts"
import * as JobStateMachine from "./JobStateMachine.ts"
import { ModelCatalog } from "./ModelCatalog.ts"
import { ProgressEvent, Queue, type QueueCounts, type QueueError, UnitMessage } from "./Queue.ts"
import { Registry, type ModelInfo, type NotCertifiableReason } from "./Registry.ts"
import type { HistoryFilter, JobSummary, LatestFilter, Page, PageRequest, Stats, StorageError } from "./Storage.ts"
import { Storage } from "./Storage.ts"
import * as Suite from "./Suite.ts"

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** One field of a request that is wrong, and why. */
export class FieldIssue extends Schema.Class<FieldIssue>("@myia/certification/FieldIssue")({
  field: Schema.String,
  message: Schema.String
}) {}

/** The request is malformed or over a limit; nothing was created. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@myia/certification/InvalidRequest")(
  "InvalidRequest",
  { message: Schema.String, issues: Schema.Array(FieldIssue) },
  { httpApiStatus: 400 }
) {}

/** One model (in one region, when the reason is regional) that cannot be certified. */
export class Rejection extends Schema.Class<Rejection>("@myia/certification/Rejection")({
  modelId: Schema.String,
  region: Schema.NullOr(Schema.String),
  reason: Schema.String,
  message: Schema.String
}) {}

/** An explicit request named models that cannot be certified; nothing was created. */
export class ModelsNotCertifiable extends Schema.TaggedError<ModelsNotCertifiable>(
  "@myia/certification/ModelsNotCertifiable"
)("ModelsNotCertifiable", { message: Schema.String, models: Schema.Array(Rejection) }, { httpApiStatus: 400 }) {}

export class JobNotFound extends Schema.TaggedError<JobNotFound>("@myia/certification/JobNotFound")(
  "JobNotFound",
  { jobId: Schema.String, message: Schema.String },
  { httpApiStatus: 404 }
) {}

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
export interface Limits {
  readonly maxModelsPerJob: number
  readonly maxRegionsPerJob: number
  readonly maxUnitsPerJob: number
}

export interface Settings {
  readonly limits: Limits
  readonly certifyThreshold: number
  readonly validityDays: number
}

/** Service settings, with safe defaults; override with `layer({ ... })`. */
export const CertificationConfig = Context.Reference<Settings>("@myia/certification/CertificationConfig", {
  defaultValue: () => ({
    limits: { maxModelsPerJob: 100, maxRegionsPerJob: 20, maxUnitsPerJob: 5_000 },
    certifyThreshold: 80,
    validityDays: 30
  })
})

export interface RequestMeta {
  /** Who asked (the HTTP plugin fills it from the principal). */
  readonly createdBy?: string | null | undefined
}

/** A pair left out of a job, and why. */
export interface Skipped {
  readonly modelId: string
  readonly region: string
  readonly reason: NotCertifiableReason
  readonly message: string
}

export interface CreatedJob {
  readonly jobId: JobId
  readonly type: JobType
  readonly status: JobStatus
  readonly modelIds: ReadonlyArray<string>
  readonly regions: ReadonlyArray<Region>
  readonly totalUnits: number
  readonly skipped: ReadonlyArray<Skipped>
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
  ) => Effect.Effect<CreatedJob, InvalidRequest | ModelsNotCertifiable | CertificationError>
  readonly certifyMultiple: (
    request: { readonly modelIds: ReadonlyArray<string>; readonly regions: ReadonlyArray<string> },
    meta?: RequestMeta
  ) => Effect.Effect<CreatedJob, InvalidRequest | ModelsNotCertifiable | CertificationError>
  readonly certifyAll: (
    request: { readonly regions: ReadonlyArray<string>; readonly modalities?: ReadonlyArray<"chat" | "embedding"> },
    meta?: RequestMeta
  ) => Effect.Effect<CreatedJob, InvalidRequest | CertificationError>
  /** A new RECERTIFY job for the FAILED and INCONCLUSIVE units of a job. */
  readonly retry: (jobId: string, meta?: RequestMeta) => Effect.Effect<CreatedJob, JobNotFound | JobConflict | CertificationError>
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
}>()("@myia/certification/Certification") {}

const decodeRegion = Schema.decodeUnknownExit(Region)
const decodeJobId = Schema.decodeUnknownExit(JobId)

const nowIso = Effect.map(DateTime.now, DateTime.formatIso)

const unitIdFor = (): UnitId => UnitId.make(`u-${crypto.randomUUID()}`)

interface Pair {
  readonly modelId: string
  readonly hostModelId: string | null
  readonly region: Region
}

/** Build the service; requires Storage, Queue and Registry (and an optional ModelCatalog). */
export const make = Effect.gen(function*() {
  const storage = yield* Storage
  const queue = yield* Queue
  const registry = yield* Registry
  const catalog = yield* Effect.serviceOption(ModelCatalog)
  // Read once, when the service is built: methods run in their callers' context, not the layer's.
  const config = yield* CertificationConfig

  const validateRegions = (field: string, input: ReadonlyArray<string>, limits: Limits) => {
    const issues: Array<FieldIssue> = []
    if (input.length === 0) issues.push(new FieldIssue({ field, message: "at least one region is required" }))
    if (input.length > limits.maxRegionsPerJob) {
      issues.push(new FieldIssue({ field, message: `at most ${limits.maxRegionsPerJob} regions per job (got ${input.length})` }))
    }
    const regions: Array<Region> = []
    input.forEach((r, i) => {
      const exit = decodeRegion(r)
      if (exit._tag === "Success") {
        if (!regions.includes(exit.value)) regions.push(exit.value)
      } else issues.push(new FieldIssue({ field: `${field}[${i}]`, message: `unknown Bedrock region "${r}"` }))
    })
    return { regions, issues }
  }

  /** Host id → Bedrock id through the catalog, when the host has one. */
  const resolveModel = Effect.fnUntraced(function*(requested: string) {
    if (Option.isSome(catalog)) {
      const entry = yield* catalog.value.resolve(requested)
      if (Option.isSome(entry)) {
        return { modelId: entry.value.modelId, hostModelId: requested, active: entry.value.active }
      }
    }
    return { modelId: requested, hostModelId: null, active: true }
  })

  const createJob = Effect.fnUntraced(function*(
    type: JobType,
    pairs: ReadonlyArray<Pair>,
    skipped: ReadonlyArray<Skipped>,
    meta: RequestMeta,
    parentJobId: JobId | null
  ) {
    const settings = config
    const now = (yield* nowIso) as Timestamp
    const jobId = JobId.make(crypto.randomUUID())
    const modelIds = [...new Set(pairs.map((p) => p.hostModelId ?? p.modelId))]
    const regions = [...new Set(pairs.map((p) => p.region))]
    const job = new Job({
      id: jobId,
      type,
      status: "PENDING",
      modelIds: modelIds as Array<ModelId>,
      regions,
      totalUnits: pairs.length,
      config: new JobConfig({
        certifyThreshold: settings.certifyThreshold,
        validityDays: settings.validityDays,
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
    const units = pairs.map((p) =>
      pendingUnit({
        id: unitIdFor(),
        jobId,
        modelId: p.modelId as ModelId,
        hostModelId: p.hostModelId,
        region: p.region,
        createdAt: now
      })
    )
    yield* storage.createJob(job, units)
    // Once the rows exist, queueing them runs to the end (a caller that goes away must not leave a
    // job without queued units), and any failure ends the job FAILED instead of leaving it open.
    yield* Effect.uninterruptible(
      Effect.gen(function*() {
        // Queue the units in storage first: a worker may claim a unit the moment it is enqueued.
        yield* storage.markQueued(units.map((u) => u.id))
        yield* storage.transitionJob(jobId, { from: ["PENDING"], to: "QUEUED" })
        yield* queue.enqueue(
          units.map((u) => new UnitMessage({ unitId: u.id, jobId, modelId: u.modelId, region: u.region }))
        )
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
    yield* queue.publish(
      new ProgressEvent({ jobId, type: "job-status", unitId: null, status: "QUEUED", at: yield* nowIso })
    ).pipe(Effect.ignore)
    yield* Effect.logInfo("certification job created").pipe(
      Effect.annotateLogs({ jobId, type, units: units.length, skipped: skipped.length })
    )
    const created: CreatedJob = {
      jobId,
      type,
      status: "QUEUED",
      modelIds,
      regions,
      totalUnits: units.length,
      skipped
    }
    return created
  })

  /** Split requested pairs into certifiable ones, skipped pairs, and model-level rejections. */
  const plan = Effect.fnUntraced(function*(models: ReadonlyArray<string>, regions: ReadonlyArray<Region>) {
    const now = yield* DateTime.now
    const pairs: Array<Pair> = []
    const skipped: Array<Skipped> = []
    const rejections: Array<Rejection> = []
    for (const requested of models) {
      const resolved = yield* resolveModel(requested)
      if (!resolved.active) {
        rejections.push(
          new Rejection({
            modelId: requested,
            region: null,
            reason: "INACTIVE",
            message: `model "${requested}" is marked inactive in the host catalog`
          })
        )
        continue
      }
      const perRegion = regions.map((region) => ({ region, c: registry.certifiability(resolved.modelId, region, now) }))
      const modelLevel = perRegion.find((r) => r.c._tag === "NotCertifiable" && r.c.reason !== "NOT_OFFERED_IN_REGION")
      if (modelLevel !== undefined && modelLevel.c._tag === "NotCertifiable") {
        rejections.push(
          new Rejection({ modelId: requested, region: null, reason: modelLevel.c.reason, message: modelLevel.c.message })
        )
        continue
      }
      for (const { c, region } of perRegion) {
        if (c._tag === "Certifiable") pairs.push({ modelId: c.model.id, hostModelId: resolved.hostModelId, region })
        else skipped.push({ modelId: requested, region, reason: c.reason, message: c.message })
      }
    }
    return { pairs, skipped, rejections }
  })

  const explicit = Effect.fnUntraced(function*(
    type: JobType,
    modelsField: string,
    models: ReadonlyArray<string>,
    regionsField: string,
    regionsInput: ReadonlyArray<string>,
    meta: RequestMeta
  ) {
    const { limits } = config
    const issues: Array<FieldIssue> = []
    const uniqueModels = [...new Set(models.map((m) => m.trim()))]
    if (uniqueModels.length === 0) issues.push(new FieldIssue({ field: modelsField, message: "at least one model id is required" }))
    if (uniqueModels.length > limits.maxModelsPerJob) {
      issues.push(
        new FieldIssue({ field: modelsField, message: `at most ${limits.maxModelsPerJob} models per job (got ${uniqueModels.length})` })
      )
    }
    uniqueModels.forEach((m, i) => {
      if (m.length === 0 || m.length > 256 || /\s/.test(m)) {
        issues.push(new FieldIssue({ field: `${modelsField}[${i}]`, message: "model id must be 1–256 characters without whitespace" }))
      }
    })
    const { regions, issues: regionIssues } = validateRegions(regionsField, regionsInput, limits)
    issues.push(...regionIssues)
    if (issues.length > 0) {
      return yield* new InvalidRequest({ message: issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues })
    }
    const { pairs, skipped, rejections } = yield* plan(uniqueModels, regions)
    if (rejections.length > 0) {
      return yield* new ModelsNotCertifiable({
        message: rejections.map((r) => `${r.modelId}: ${r.message}`).join("; "),
        models: rejections
      })
    }
    if (pairs.length === 0) {
      const models = skipped.map((s) => new Rejection({ modelId: s.modelId, region: s.region, reason: s.reason, message: s.message }))
      return yield* new ModelsNotCertifiable({ message: models.map((r) => r.message).join("; "), models })
    }
    if (pairs.length > limits.maxUnitsPerJob) {
      return yield* new InvalidRequest({
        message: `a job may have at most ${limits.maxUnitsPerJob} units (got ${pairs.length})`,
        issues: [new FieldIssue({ field: modelsField, message: `too many model × region pairs (${pairs.length})` })]
      })
    }
    return yield* createJob(type, pairs, skipped, meta, null)
  })

  const certifyModel = Effect.fn("Certification.certifyModel")(
    (request: { readonly modelId: string; readonly region: string }, meta: RequestMeta = {}) =>
      explicit("SINGLE_MODEL", "modelId", [request.modelId], "region", [request.region], meta)
  )

  const certifyMultiple = Effect.fn("Certification.certifyMultiple")(
    (request: { readonly modelIds: ReadonlyArray<string>; readonly regions: ReadonlyArray<string> }, meta: RequestMeta = {}) =>
      explicit("MULTIPLE_MODELS", "modelIds", request.modelIds, "regions", request.regions, meta)
  )

  const certifyAll = Effect.fn("Certification.certifyAll")(function*(
    request: { readonly regions: ReadonlyArray<string>; readonly modalities?: ReadonlyArray<"chat" | "embedding"> },
    meta: RequestMeta = {}
  ) {
    const { limits } = config
    const { regions, issues } = validateRegions("regions", request.regions, limits)
    if (issues.length > 0) {
      return yield* new InvalidRequest({ message: issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues })
    }
    const modalities = request.modalities ?? ["chat", "embedding"]
    const now = yield* DateTime.now
    const pairs: Array<Pair> = []
    const skipped: Array<Skipped> = []
    for (const model of registry.models) {
      if (!(modalities as ReadonlyArray<string>).includes(model.modality)) continue
      for (const region of regions) {
        const c = registry.certifiability(model.id, region, now)
        if (c._tag === "Certifiable") pairs.push({ modelId: model.id, hostModelId: null, region })
        else skipped.push({ modelId: model.id, region, reason: c.reason, message: c.message })
      }
    }
    if (pairs.length === 0) {
      return yield* new InvalidRequest({
        message: "no certifiable model in the requested regions",
        issues: [new FieldIssue({ field: "regions", message: "no certifiable model in these regions" })]
      })
    }
    if (pairs.length > limits.maxUnitsPerJob) {
      return yield* new InvalidRequest({
        message: `a job may have at most ${limits.maxUnitsPerJob} units (got ${pairs.length})`,
        issues: [new FieldIssue({ field: "regions", message: `too many model × region pairs (${pairs.length})` })]
      })
    }
    return yield* createJob("ALL_MODELS", pairs, skipped, meta, null)
  })

  const findJob = Effect.fnUntraced(function*(jobId: string) {
    const id = decodeJobId(jobId)
    if (id._tag === "Failure") return yield* new JobNotFound({ jobId, message: `no job with id "${jobId}"` })
    const job = yield* storage.getJob(id.value)
    if (Option.isNone(job)) return yield* new JobNotFound({ jobId, message: `no job with id "${jobId}"` })
    return job.value
  })

  const retry = Effect.fn("Certification.retry")(function*(jobId: string, meta: RequestMeta = {}) {
    const job = yield* findJob(jobId)
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
    return yield* createJob("RECERTIFY", pairs, [], meta, job.id)
  })

  const cancel = Effect.fn("Certification.cancel")(function*(jobId: string) {
    const job = yield* findJob(jobId)
    if (JobStateMachine.isTerminalJob(job.status)) {
      return yield* new JobConflict({ jobId, status: job.status, message: `job ${jobId} is already ${job.status}` })
    }
    const cancelled = yield* storage.transitionJob(job.id, {
      from: JobStateMachine.jobSourcesOf("CANCELLED"),
      to: "CANCELLED",
      reason: "cancelled on request"
    })
    if (Option.isNone(cancelled)) {
      const now = yield* findJob(jobId)
      return yield* new JobConflict({ jobId, status: now.status, message: `job ${jobId} is already ${now.status}` })
    }
    // Storage is the truth and the job is already CANCELLED there; workers also check it before each
    // test. A queue outage here only delays the interruption of running units, so log it.
    yield* queue.cancelJob(job.id).pipe(
      Effect.catch((error) => Effect.logWarning("cancel: could not reach the queue", error.message))
    )
    yield* queue.publish(
      new ProgressEvent({ jobId: job.id, type: "job-status", unitId: null, status: "CANCELLED", at: yield* nowIso })
    ).pipe(Effect.ignore)
    return cancelled.value
  })

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
    const job = yield* findJob(jobId)
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

  const cleanup = Effect.fn("Certification.cleanup")(function*(options: { readonly olderThanDays: number }) {
    if (!Number.isFinite(options.olderThanDays) || options.olderThanDays < 0) {
      const issue = new FieldIssue({ field: "olderThanDays", message: "must be a non-negative number of days" })
      return yield* new InvalidRequest({ message: `olderThanDays: ${issue.message}`, issues: [issue] })
    }
    const cutoff = DateTime.subtract(yield* DateTime.now, { milliseconds: options.olderThanDays * 86_400_000 })
    const deleted = yield* storage.cleanup(DateTime.formatIso(cutoff) as Timestamp)
    yield* Effect.logInfo("retention cleanup").pipe(Effect.annotateLogs({ deleted, olderThanDays: options.olderThanDays }))
    return deleted
  })

  const events = (jobId: string): Stream.Stream<ProgressEvent, JobNotFound | CertificationError> =>
    Stream.unwrap(
      Effect.gen(function*() {
        const job = yield* findJob(jobId)
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

  return Certification.of({
    certifyModel,
    certifyMultiple,
    certifyAll,
    retry,
    cancel,
    getJob,
    history,
    latest,
    stats,
    cleanup,
    events
  })
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

/** The error that explains a unit, for tables. */
export const errorOf = (unit: { readonly error: CategorizedError | null }): CategorizedError | null => unit.error
